namespace AutoGlm.Cluster.Contract;

/// <summary>
/// The topics of one device under its prefix (<c>Mqtt:TopicPrefix</c>, by default <c>autoglm/&lt;device-id&gt;</c>): the
/// MQTT contract's topic builder, used by the device's intake and publisher and by the bridge that reaches it.
/// </summary>
/// <param name="Prefix">The prefix, without a trailing slash.</param>
public sealed record MqttTopics(string Prefix)
{
    /// <summary>JSON jobs.</summary>
    public string Jobs => Prefix + "/jobs";

    /// <summary>Raw JPEG/PNG jobs.</summary>
    public string ImageJobs => Prefix + "/jobs/image";

    /// <summary>Raw WAV jobs.</summary>
    public string AudioJobs => Prefix + "/jobs/audio";

    /// <summary>The topic that cancels job <paramref name="jobId"/>.</summary>
    public string Cancel(string jobId) => $"{Prefix}/jobs/{jobId}/cancel";

    /// <summary>The subscription for cancellations (<c>…/jobs/&lt;id&gt;/cancel</c>).</summary>
    public string CancelFilter => Prefix + "/jobs/+/cancel";

    /// <summary>Retained status and last will.</summary>
    public string Status => Prefix + "/status";

    /// <summary>Retained periodic statistics.</summary>
    public string Stats => Prefix + "/stats";

    /// <summary>Retained <c>online</c> or <c>offline</c> and nothing else (the last will too): for Home Assistant's and Frigate's availability.</summary>
    public string Availability => Prefix + "/availability";

    /// <summary>
    /// The retained latest answer of a source (a sensor or a topic rule, <c>…/sources/&lt;name&gt;/answer</c>): the result
    /// JSON of its last job, so an automation can bind to one fixed topic.
    /// </summary>
    public string SourceAnswer(string source) => $"{Prefix}/sources/{source}/answer";

    /// <summary>Error results of payloads whose id could not be read and that named no response topic.</summary>
    public string Errors => Prefix + "/errors";

    /// <summary>Whether <paramref name="topic"/> is this device's prefix or under it.</summary>
    public bool IsOwn(string topic) =>
        topic == Prefix || (topic.StartsWith(Prefix, StringComparison.Ordinal) && topic.Length > Prefix.Length && topic[Prefix.Length] == '/');

    /// <summary>Whether <paramref name="topic"/> is in this device's <c>…/results/</c> subtree (a result or a stream topic).</summary>
    public bool IsInResults(string topic) =>
        topic.StartsWith(Prefix + "/results/", StringComparison.Ordinal) && topic.Length > Prefix.Length + "/results/".Length;

    /// <summary>
    /// Filters for every device's job topics next to this one (<c>autoglm/+/jobs/#</c> for the default prefix; the
    /// level above a custom prefix stands for <c>autoglm</c>), and always the default family <c>autoglm/+/jobs/#</c>.
    /// </summary>
    public IReadOnlyList<string> AnyDeviceJobsFilters
    {
        get
        {
            var slash = Prefix.LastIndexOf('/');
            var siblings = slash < 0 ? "+/jobs/#" : Prefix[..slash] + "/+/jobs/#";
            return siblings == "autoglm/+/jobs/#" ? [siblings] : [siblings, "autoglm/+/jobs/#"];
        }
    }

    /// <summary>The default result topic of a job.</summary>
    public string Result(string jobId) => $"{Prefix}/results/{jobId}";

    /// <summary>The subscription for every job's default result topic (not the streams).</summary>
    public string ResultFilter => Prefix + "/results/+";

    /// <summary>The job id of a default result topic, or null when <paramref name="topic"/> is not one.</summary>
    public string? ResultJobId(string topic)
    {
        var head = Prefix + "/results/";
        return topic.StartsWith(head, StringComparison.Ordinal) && topic.Length > head.Length && topic.IndexOf('/', head.Length) < 0
            ? topic[head.Length..]
            : null;
    }

    /// <summary>The command topic that makes sensor <paramref name="sensor"/> capture (<c>…/sensors/&lt;name&gt;/capture</c>).</summary>
    public string SensorCapture(string sensor) => $"{Prefix}/sensors/{sensor}/capture";

    /// <summary>The subscription for every sensor's command topic.</summary>
    public string SensorCaptureFilter => Prefix + "/sensors/+/capture";

    /// <summary>Token deltas of a streaming job.</summary>
    public string Stream(string jobId) => $"{Prefix}/results/{jobId}/stream";

    /// <summary>The job id of a cancel topic, or null when <paramref name="topic"/> is not one.</summary>
    public string? CancelledJobId(string topic)
    {
        var head = Prefix + "/jobs/";
        return topic.StartsWith(head, StringComparison.Ordinal) && topic.EndsWith("/cancel", StringComparison.Ordinal) && topic.Length > head.Length + "/cancel".Length
            ? topic[head.Length..^"/cancel".Length]
            : null;
    }
}
