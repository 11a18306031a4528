namespace AutoGlm.Edge.Hosting;

/// <summary>A work loop the systemd watchdog vouches for: pings go out only while every probe reports progress.</summary>
public interface IProgressProbe
{
    /// <summary>What the probe watches, for the log.</summary>
    string ProbeName { get; }

    /// <summary>Whether the loop went round (or the engine stepped) within <paramref name="limit"/>.</summary>
    bool IsMakingProgress(TimeSpan limit);
}
