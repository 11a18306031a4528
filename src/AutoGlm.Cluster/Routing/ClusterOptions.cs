using AutoGlm.Cluster.Nodes;
using Microsoft.Extensions.Options;

namespace AutoGlm.Cluster.Routing;

/// <summary>The <c>Cluster</c> section: this daemon's role, the routing policy and the heavy nodes.</summary>
public sealed class ClusterOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Cluster";

    /// <summary><c>edge</c> (default) routes requests; <c>heavy</c> serves them itself and never forwards.</summary>
    public string Role { get; set; } = "edge";

    /// <summary>
    /// <c>cost-threshold</c> (default): remote when the predicted local latency or prompt size passes a threshold;
    /// <c>remote-first</c>: remote whenever a node is healthy; <c>local-only</c>: never remote unless a request asks.
    /// </summary>
    public string Policy { get; set; } = RoutingPolicies.CostThreshold;

    /// <summary>Predicted local latency above which <c>cost-threshold</c> goes remote. Default 10 000 ms.</summary>
    public double MaxLocalLatencyMs { get; set; } = 10_000;

    /// <summary>Prompt tokens (after templating, media included) above which <c>cost-threshold</c> goes remote. Default 2048.</summary>
    public int MaxLocalPromptTokens { get; set; } = 2048;

    /// <summary>Tokens one image or audio clip is counted as in the estimate. Default 256.</summary>
    public int MediaTokens { get; set; } = 256;

    /// <summary>Prefill speed assumed before the engine has measured its own. Default 100 tokens/s.</summary>
    public double DefaultPrefillTokensPerSecond { get; set; } = 100;

    /// <summary>Decode speed assumed before the engine has measured its own. Default 10 tokens/s.</summary>
    public double DefaultDecodeTokensPerSecond { get; set; } = 10;

    /// <summary>Answer tokens assumed when a request sets no <c>max_tokens</c>. Default 256.</summary>
    public int DefaultMaxTokens { get; set; } = 256;

    /// <summary>
    /// What a request that should go remote does when no heavy node can take it (none available when it is routed, or
    /// every one failed before the first token): <c>local</c> (default) runs it on the local engine; <c>queue</c> waits up
    /// to <see cref="QueueTimeoutMs"/> for a node to pass its health check, then ends it with <c>remote_unavailable</c>;
    /// <c>fail</c> ends it with <c>remote_unavailable</c> at once.
    /// </summary>
    public string WhenNoNode { get; set; } = NoNodePolicies.Local;

    /// <summary>How long <c>WhenNoNode=queue</c> waits for a node. Default 30 000 ms.</summary>
    public int QueueTimeoutMs { get; set; } = 30_000;

    /// <summary>
    /// What a remote failure after the first token does: <c>fail</c> (default) ends the request with
    /// <c>remote_interrupted</c>, naming how much was received; <c>restart-local</c> runs the whole request again on the
    /// local engine, after an update that tells streaming callers to discard what they had (see docs/cluster.md).
    /// Never a silent truncation.
    /// </summary>
    public string MidStreamFailure { get; set; } = MidStreamPolicies.Fail;

    /// <summary>How often each node's <c>/health/ready</c> is polled. Default 5 s.</summary>
    public TimeSpan HealthCheckInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long one health check may take before the node counts as down. Default 2 s.</summary>
    public TimeSpan HealthCheckTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Consecutive failed health checks after which a node takes no traffic (one passing check brings it back). Default 2.</summary>
    public int FailedChecksToMarkDown { get; set; } = 2;

    /// <summary>How long one remote request may take before it counts as failed. Default 120 s.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(120);

    /// <summary>
    /// Retries of one node after a transient failure (connection refused, 5xx, 408, 429, attempt timeout), only ever
    /// before its answer begins; then the router fails over. Default 2.
    /// </summary>
    public int Retries { get; set; } = 2;

    /// <summary>Delay before the first retry, doubled for each next one, with jitter. Default 200 ms.</summary>
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>How long one attempt may wait for the node's response headers (sent with its first token, after prefill). Default 60 s.</summary>
    public TimeSpan AttemptTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Failed attempts within <see cref="BreakerSamplingDuration"/> (at <see cref="BreakerFailureRatio"/> or worse) that open a node's circuit breaker. Default 3.</summary>
    public int FailuresToOpen { get; set; } = 3;

    /// <summary>Share of failed attempts within <see cref="BreakerSamplingDuration"/> at which the breaker opens. Default 0.5.</summary>
    public double BreakerFailureRatio { get; set; } = 0.5;

    /// <summary>The window the breaker counts attempts in. Default 30 s.</summary>
    public TimeSpan BreakerSamplingDuration { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long an open breaker keeps a node out; then one request tries it. Default 15 s.</summary>
    public TimeSpan BreakDuration { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>The heavy nodes this edge may send requests to.</summary>
    public List<NodeOptions> Nodes { get; set; } = [];

    /// <summary>Whether this daemon is a heavy node.</summary>
    public bool IsHeavy => string.Equals(Role, "heavy", StringComparison.OrdinalIgnoreCase);
}

/// <summary>The names of the routing policies.</summary>
public static class RoutingPolicies
{
    public const string LocalOnly = "local-only";
    public const string RemoteFirst = "remote-first";
    public const string CostThreshold = "cost-threshold";

    /// <summary>Every policy name.</summary>
    public static IReadOnlyList<string> All { get; } = [LocalOnly, RemoteFirst, CostThreshold];
}

/// <summary>The names of the <see cref="ClusterOptions.WhenNoNode"/> policies.</summary>
public static class NoNodePolicies
{
    public const string Local = "local";
    public const string Queue = "queue";
    public const string Fail = "fail";

    /// <summary>Every policy name.</summary>
    public static IReadOnlyList<string> All { get; } = [Local, Queue, Fail];
}

/// <summary>The names of the <see cref="ClusterOptions.MidStreamFailure"/> policies.</summary>
public static class MidStreamPolicies
{
    public const string Fail = "fail";
    public const string RestartLocal = "restart-local";

    /// <summary>Every policy name.</summary>
    public static IReadOnlyList<string> All { get; } = [Fail, RestartLocal];
}

/// <summary>Validates <see cref="ClusterOptions"/>, reporting every problem at once by its configuration key.</summary>
public sealed class ClusterOptionsValidator : IValidateOptions<ClusterOptions>
{
    public ValidateOptionsResult Validate(string? name, ClusterOptions options)
    {
        var errors = Problems(options).ToList();
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    /// <summary>Every problem with <paramref name="options"/>, each naming its key.</summary>
    public static IEnumerable<string> Problems(ClusterOptions options)
    {
        const string S = ClusterOptions.Section;
        if (options.Role is not ("edge" or "heavy"))
        {
            yield return $"{S}:Role must be edge or heavy (got '{options.Role}')";
        }

        if (!RoutingPolicies.All.Contains(options.Policy))
        {
            yield return $"{S}:Policy must be one of {string.Join(", ", RoutingPolicies.All)} (got '{options.Policy}')";
        }

        if (!NoNodePolicies.All.Contains(options.WhenNoNode))
        {
            yield return $"{S}:WhenNoNode must be one of {string.Join(", ", NoNodePolicies.All)} (got '{options.WhenNoNode}')";
        }

        if (options.QueueTimeoutMs < 1)
        {
            yield return $"{S}:QueueTimeoutMs must be at least 1 (got {options.QueueTimeoutMs})";
        }

        if (!MidStreamPolicies.All.Contains(options.MidStreamFailure))
        {
            yield return $"{S}:MidStreamFailure must be one of {string.Join(", ", MidStreamPolicies.All)} (got '{options.MidStreamFailure}')";
        }

        if (options.MaxLocalLatencyMs <= 0)
        {
            yield return $"{S}:MaxLocalLatencyMs must be positive (got {options.MaxLocalLatencyMs})";
        }

        if (options.MaxLocalPromptTokens < 1)
        {
            yield return $"{S}:MaxLocalPromptTokens must be at least 1 (got {options.MaxLocalPromptTokens})";
        }

        if (options.MediaTokens < 0)
        {
            yield return $"{S}:MediaTokens must not be negative (got {options.MediaTokens})";
        }

        if (options.DefaultPrefillTokensPerSecond <= 0 || options.DefaultDecodeTokensPerSecond <= 0)
        {
            yield return $"{S}:DefaultPrefillTokensPerSecond and {S}:DefaultDecodeTokensPerSecond must be positive";
        }

        if (options.DefaultMaxTokens < 1)
        {
            yield return $"{S}:DefaultMaxTokens must be at least 1 (got {options.DefaultMaxTokens})";
        }

        if (options.HealthCheckInterval <= TimeSpan.Zero)
        {
            yield return $"{S}:HealthCheckInterval must be positive (got {options.HealthCheckInterval})";
        }

        if (options.HealthCheckTimeout <= TimeSpan.Zero)
        {
            yield return $"{S}:HealthCheckTimeout must be positive (got {options.HealthCheckTimeout})";
        }

        if (options.RequestTimeout <= TimeSpan.Zero)
        {
            yield return $"{S}:RequestTimeout must be positive (got {options.RequestTimeout})";
        }

        if (options.FailedChecksToMarkDown < 1)
        {
            yield return $"{S}:FailedChecksToMarkDown must be at least 1 (got {options.FailedChecksToMarkDown})";
        }

        if (options.FailuresToOpen < 2)
        {
            yield return $"{S}:FailuresToOpen must be at least 2 (got {options.FailuresToOpen})";
        }

        if (options.Retries is < 0 or > 10)
        {
            yield return $"{S}:Retries must be 0 to 10 (got {options.Retries})";
        }

        if (options.RetryDelay <= TimeSpan.Zero)
        {
            yield return $"{S}:RetryDelay must be positive (got {options.RetryDelay})";
        }

        if (options.AttemptTimeout < TimeSpan.FromMilliseconds(10) || options.AttemptTimeout > TimeSpan.FromDays(1))
        {
            yield return $"{S}:AttemptTimeout must be between 10 ms and 1 day (got {options.AttemptTimeout})";
        }

        if (options.BreakerFailureRatio is <= 0 or > 1)
        {
            yield return $"{S}:BreakerFailureRatio must be above 0 and at most 1 (got {options.BreakerFailureRatio})";
        }

        if (options.BreakerSamplingDuration < TimeSpan.FromMilliseconds(500))
        {
            yield return $"{S}:BreakerSamplingDuration must be at least 500 ms (got {options.BreakerSamplingDuration})";
        }

        if (options.BreakDuration < TimeSpan.FromMilliseconds(500))
        {
            yield return $"{S}:BreakDuration must be at least 500 ms (got {options.BreakDuration})";
        }

        if (options.Policy == RoutingPolicies.RemoteFirst && options.Nodes.Count == 0 && !options.IsHeavy)
        {
            yield return $"{S}:Policy is remote-first but {S}:Nodes is empty; add {S}:Nodes:0:Url";
        }

        for (var i = 0; i < options.Nodes.Count; i++)
        {
            var node = options.Nodes[i];
            if (node.IsMqtt)
            {
                if (!string.IsNullOrEmpty(node.Url))
                {
                    yield return $"{S}:Nodes:{i}:Url and {S}:Nodes:{i}:Mqtt:Topic exclude each other: a node is reached over HTTP or through the broker";
                }

                if (node.Mqtt.Topic.IndexOfAny(['+', '#']) >= 0)
                {
                    yield return $"{S}:Nodes:{i}:Mqtt:Topic must be the heavy device's topic prefix, without wildcards (got '{node.Mqtt.Topic}')";
                }

                if (string.IsNullOrWhiteSpace(node.Mqtt.Host) || node.Mqtt.Port is < 1 or > 65535)
                {
                    yield return $"{S}:Nodes:{i}:Mqtt:Host and {S}:Nodes:{i}:Mqtt:Port must name the broker (got '{node.Mqtt.Host}:{node.Mqtt.Port}')";
                }
            }
            else if (!Uri.TryCreate(node.Url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            {
                yield return $"{S}:Nodes:{i}:Url must be an absolute http or https URL such as http://gpu-node:8000/v1 (got '{node.Url}')";
            }

            if (node.Weight <= 0)
            {
                yield return $"{S}:Nodes:{i}:Weight must be positive (got {node.Weight})";
            }
        }
    }
}
