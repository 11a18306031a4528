namespace AutoGlm.Edge.Hosting;

/// <summary>Something besides the engine that <c>/health/ready</c> must wait for (the job journal, the MQTT intake).</summary>
public interface IReadinessCheck
{
    /// <summary>Null when ready; else one line saying what is not ready and why (the body of the 503).</summary>
    string? NotReadyReason();
}
