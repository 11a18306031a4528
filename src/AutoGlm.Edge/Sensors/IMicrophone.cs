namespace AutoGlm.Edge.Sensors;

/// <summary>A microphone that records a clip on demand.</summary>
/// <remarks>Recordings are not concurrent: the caller awaits one before asking for the next. The owner disposes it.</remarks>
public interface IMicrophone : IDisposable
{
    /// <summary>Records <paramref name="seconds"/> seconds and returns them as a WAV file (RIFF header included).</summary>
    /// <exception cref="SensorException">The device failed; the message names it.</exception>
    Task<byte[]> RecordAsync(int seconds, CancellationToken cancellationToken);
}
