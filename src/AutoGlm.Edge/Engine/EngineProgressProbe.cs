using AutoGlm.Edge.Hosting;

namespace AutoGlm.Edge.Engine;

/// <summary>The engine's inference loop: stalled when it has work and its last step ended longer ago than the limit.</summary>
/// <remarks>An idle loop waits without advancing its progress clock, so idleness is not a stall.</remarks>
internal sealed class EngineProgressProbe(EngineHost engine) : IProgressProbe
{
    public string ProbeName => "inference loop";

    public bool IsMakingProgress(TimeSpan limit)
    {
        if (!engine.IsReady)
        {
            return false;
        }

        // Every replica's loop must move (Runtime:Backend=openai has none here: the backend engine has its own supervision).
        return engine.LocalEngines.All(local => !(local.ActiveSequences > 0 || local.QueueDepth > 0) || local.SinceLastProgress < limit);
    }
}
