namespace AutoGlm.Edge.Sensors;

/// <summary>A camera that captures one still frame on demand.</summary>
/// <remarks>Captures are not concurrent: the caller awaits one before asking for the next. The owner disposes it.</remarks>
public interface ICamera : IDisposable
{
    /// <summary>Captures one frame: a complete JPEG (or, from a file camera, the PNG it holds).</summary>
    /// <exception cref="SensorException">The device failed; the message names it.</exception>
    Task<byte[]> CaptureAsync(CancellationToken cancellationToken);
}
