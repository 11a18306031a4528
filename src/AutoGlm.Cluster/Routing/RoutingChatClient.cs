using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text.Json;
using AutoGlm.Cluster.Nodes;
using AutoGlm.Cluster.Routing.Policies;
using AutoGlm.Runtime;
using AutoGlm.Runtime.Generation;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace AutoGlm.Cluster.Routing;

/// <summary>
/// The router: a delegating <see cref="IChatClient"/> in front of the local engine that sends each request to the
/// local engine or to a heavy node, by the configured policy or the request's own <c>route</c>.
/// </summary>
/// <remarks>
/// Thread-safe. A request's <see cref="ChatOptions.AdditionalProperties"/> may carry <c>route</c> = <c>auto</c>,
/// <c>local</c> or <c>remote</c>. Once the router knows where an answer runs (with its first update, after any
/// failover) it yields an update carrying <c>served_by</c> (<c>local:…</c> or <c>remote:host:port</c>) and
/// <c>route_reason</c> in its <see cref="ChatResponseUpdate.AdditionalProperties"/>, and the last update of every
/// answer carries them again.
/// A remote failure before the first update tries the next available node, then acts by
/// <see cref="ClusterOptions.WhenNoNode"/> (local engine, wait for a node, or <see cref="ClusterErrorCode.RemoteUnavailable"/>);
/// a failure after it acts by <see cref="ClusterOptions.MidStreamFailure"/>: <see cref="ClusterErrorCode.RemoteInterrupted"/>,
/// or an update marked <see cref="RestartedProperty"/> followed by the whole answer from the local engine.
/// Owns neither the inner client nor the <see cref="NodePool"/>.
/// </remarks>
public sealed partial class RoutingChatClient : DelegatingChatClient
{
    /// <summary>The request property that overrides the policy.</summary>
    public const string RouteProperty = "route";

    /// <summary>The request property holding the milliseconds left before its deadline; cost-threshold goes remote when the local prediction would miss it.</summary>
    public const string DeadlineProperty = "deadline_ms";

    /// <summary>The answer property naming where it ran.</summary>
    public const string ServedByProperty = "served_by";

    /// <summary>The answer property saying why it ran there.</summary>
    public const string RouteReasonProperty = "route_reason";

    /// <summary>
    /// The property of the update that marks a restart (<see cref="MidStreamPolicies.RestartLocal"/>): every update before it
    /// came from a node that failed mid-answer and is void; the whole answer follows again from the local engine.
    /// </summary>
    public const string RestartedProperty = "route_restarted";

    /// <summary>How <see cref="RouteReasonProperty"/> begins when a failed remote answer was restarted on the local engine.</summary>
    public const string RestartedLocallyReason = "restarted_locally_after_remote_failure";

    private readonly NodePool _pool;
    private readonly ClusterOptions _options;
    private readonly CostEstimator _estimator;
    private readonly IRoutingPolicy _policy;
    private readonly string _localName;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;

    /// <summary>Creates the router.</summary>
    /// <param name="local">The local engine (usually a <see cref="LocalEngine"/>; its tokenizer and speeds feed the estimate).</param>
    /// <param name="pool">The heavy nodes.</param>
    /// <param name="options">The policy and thresholds.</param>
    /// <param name="logger">Where routing decisions are logged (at Debug).</param>
    /// <param name="time">The clock for queueing (<see cref="ClusterOptions.WhenNoNode"/> <c>queue</c>); default the system's.</param>
    public RoutingChatClient(IChatClient local, NodePool pool, ClusterOptions options, ILogger? logger = null, TimeProvider? time = null)
        : base(local)
    {
        _pool = pool;
        _options = options;
        var engine = local.GetService<LocalEngine>();
        _estimator = new CostEstimator(engine, options);
        _policy = RoutingPolicyFactory.Create(options, _estimator);
        _localName = engine is not null ? $"local:{engine.Package.Manifest.Name}@{engine.ExecutionProvider}" : "local";
        _logger = logger ?? NullLogger.Instance;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>The policy <see cref="ClusterOptions.Policy"/> named, which decides for requests whose route is <c>auto</c>.</summary>
    public IRoutingPolicy Policy => _policy;

    /// <summary>The estimator the cost-threshold policy uses.</summary>
    public CostEstimator Estimator => _estimator;

    public override async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        // A restart discards what the failed node said: the response is the restarted answer only.
        var updates = new List<ChatResponseUpdate>();
        await foreach (var update in GetStreamingResponseAsync(messages, options, cancellationToken).ConfigureAwait(false))
        {
            if (IsRestart(update))
            {
                updates.Clear();
            }

            updates.Add(update);
        }

        return updates.ToChatResponse();
    }

    /// <summary>Whether <paramref name="update"/> is the marker that a failed remote answer is being restarted locally: whatever came before it is void.</summary>
    public static bool IsRestart(ChatResponseUpdate update) => update.IsRestart();

    public override async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<ChatMessage> messages,
        ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var list = messages as IReadOnlyList<ChatMessage> ?? [.. messages];
        var decision = Decide(list, options);
        var (node, reason) = decision;
        var forwarded = WithoutRoute(options);

        // Nodes that failed this request, with their health generation then: each is tried again only after a passing health check.
        var tried = new Dictionary<RemoteNode, long>();
        if (node is null && decision.WantsRemote)
        {
            (node, reason) = await WhenNoNodeAsync($"{reason}, but no heavy node is available", tried, cancellationToken).ConfigureAwait(false);
        }

        while (node is not null)
        {
            using var lease = node.Enter();
            var updates = node.ChatClient.GetStreamingResponseAsync(list, forwarded, cancellationToken).GetAsyncEnumerator(cancellationToken);
            await using (updates.ConfigureAwait(false))
            {
                // Before the first update nothing has been said: another node, or the local engine, can still answer.
                Exception? failure = null;
                var any = false;
                try
                {
                    any = await updates.MoveNextAsync().ConfigureAwait(false);
                }
                catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
                {
                    failure = ex;
                }

                if (failure is null && !any && !cancellationToken.IsCancellationRequested)
                {
                    // The OpenAI client ends a dropped stream quietly: an empty one said nothing, so it can still fail over.
                    failure = new IOException("the stream ended before its first update (connection lost?)");
                }

                if (failure is null)
                {
                    Log.Routed(_logger, node.Name, reason);

                    // Where it runs is known now (no failover after the first update): front doors can say so before the first token.
                    yield return Stamp(node.Name, reason);
                    var count = 0;
                    var finished = false;
                    Exception? interrupted = null;
                    for (var more = any; more;)
                    {
                        finished |= updates.Current.FinishReason is not null;
                        yield return updates.Current;
                        count++;
                        try
                        {
                            more = await updates.MoveNextAsync().ConfigureAwait(false);
                        }
                        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
                        {
                            interrupted = ex;
                            break;
                        }
                    }

                    if (interrupted is null && finished)
                    {
                        yield return Stamp(node.Name, reason);
                        yield break;
                    }

                    // The OpenAI client ends a stream quietly when the connection drops; every complete answer names its finish reason.
                    // (The breaker never sees a failure after the headers; the health check takes a dead node out.)
                    string what;
                    if (interrupted is not null)
                    {
                        Log.RemoteInterrupted(_logger, node.Url, count, interrupted);
                        what = $"heavy node {node.Label} failed after {count} updates ({Describe(interrupted)})";
                    }
                    else
                    {
                        Log.RemoteTruncated(_logger, node.Url, count);
                        what = $"heavy node {node.Label} ended its stream after {count} updates without a finish reason (connection lost?)";
                    }

                    if (_options.MidStreamFailure != MidStreamPolicies.RestartLocal)
                    {
                        throw new ClusterException(ClusterErrorCode.RemoteInterrupted, $"{what}; the answer is incomplete", interrupted);
                    }

                    reason = $"{RestartedLocallyReason}: {what}; first routed by {reason}";
                    Log.RestartingLocally(_logger, node.Url, count);
                    yield return Restart(reason);
                    node = null;
                    break;
                }

                tried[node] = node.HealthGeneration;
                Log.RemoteFailed(_logger, node.Url, failure);
                var failed = $"heavy node {node.Label} failed before the first token ({Describe(failure)})";
                var next = PickUntried(tried);
                if (next is not null)
                {
                    (node, reason) = (next, $"{failed}; failed over to {next.Name}");
                }
                else
                {
                    (node, reason) = await WhenNoNodeAsync(failed, tried, cancellationToken).ConfigureAwait(false);
                }
            }
        }

        Log.Routed(_logger, _localName, reason);
        var local = base.GetStreamingResponseAsync(list, forwarded, cancellationToken).GetAsyncEnumerator(cancellationToken);
        await using (local.ConfigureAwait(false))
        {
            // A refusal (overloaded, too long) surfaces before anything is said, so front doors can still answer with its status.
            var more = await local.MoveNextAsync().ConfigureAwait(false);
            yield return Stamp(_localName, reason);
            while (more)
            {
                yield return local.Current;
                more = await local.MoveNextAsync().ConfigureAwait(false);
            }
        }

        yield return Stamp(_localName, reason);
    }

    /// <summary>Picks where a request runs by route and policy: a node (null for local), why, and whether it should have gone remote.</summary>
    /// <remarks>
    /// Does not wait or throw for a missing node: when <see cref="RouteDecision.WantsRemote"/> and no node is available,
    /// <see cref="ClusterOptions.WhenNoNode"/> decides while the request runs.
    /// </remarks>
    public RouteDecision Decide(IReadOnlyList<ChatMessage> messages, ChatOptions? options)
    {
        var route = RouteOf(options);
        if (route == "local")
        {
            return new(null, "route local requested", false);
        }

        if (route == "remote")
        {
            return new(_pool.Pick(), "route remote requested", true);
        }

        var (remote, why) = _policy.Choose(messages, options);
        if (!remote)
        {
            return new(null, why, false);
        }

        return new(_pool.Pick(), why, true);
    }

    // No node can take the request now: run locally, wait for one, or fail, by Cluster:WhenNoNode.
    private async Task<(RemoteNode? Node, string Reason)> WhenNoNodeAsync(string why, Dictionary<RemoteNode, long> tried, CancellationToken cancellationToken)
    {
        switch (_options.WhenNoNode)
        {
            case NoNodePolicies.Local:
                return (null, tried.Count > 0 ? $"{why}; fell back to local" : $"{why}; ran locally");
            case NoNodePolicies.Queue:
                var timeout = TimeSpan.FromMilliseconds(_options.QueueTimeoutMs);
                var started = _time.GetTimestamp();
                Log.Queued(_logger, _options.QueueTimeoutMs);
                var node = await _pool.WaitForNodeAsync(n => !tried.TryGetValue(n, out var generation) || n.HealthGeneration != generation, timeout, cancellationToken).ConfigureAwait(false);
                var waited = _time.GetElapsedTime(started).TotalMilliseconds;
                return node is not null
                    ? (node, Format($"{why}; queued {waited:F0} ms until {node.Name} was ready"))
                    : throw new ClusterException(ClusterErrorCode.RemoteUnavailable, $"{why}, and none became ready within Cluster:QueueTimeoutMs ({_options.QueueTimeoutMs} ms)");
            default:
                throw new ClusterException(ClusterErrorCode.RemoteUnavailable, $"{why}, and Cluster:WhenNoNode is fail");
        }
    }

    private RemoteNode? PickUntried(Dictionary<RemoteNode, long> tried) => _pool.Pick([.. tried.Keys]);

    public override object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is null && serviceType == typeof(NodePool) ? _pool : base.GetService(serviceType, serviceKey);

    private static string Format(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    private static string Describe(Exception ex) => ex is TaskCanceledException ? "timed out" : ex.Message;

    private ChatResponseUpdate Restart(string reason) => new()
    {
        Role = ChatRole.Assistant,
        AdditionalProperties = new AdditionalPropertiesDictionary
        {
            [RestartedProperty] = true,
            [ServedByProperty] = _localName,
            [RouteReasonProperty] = reason,
        },
    };

    private static ChatResponseUpdate Stamp(string servedBy, string reason) => new()
    {
        Role = ChatRole.Assistant,
        AdditionalProperties = new AdditionalPropertiesDictionary
        {
            [ServedByProperty] = servedBy,
            [RouteReasonProperty] = reason,
        },
    };

    internal static string RouteOf(ChatOptions? options)
    {
        if (options?.AdditionalProperties?.TryGetValue(RouteProperty, out var value) != true || value is null)
        {
            return "auto";
        }

        var text = value switch
        {
            string s => s,
            JsonElement { ValueKind: JsonValueKind.String } e => e.GetString(),
            _ => null,
        };
        return text is "auto" or "local" or "remote"
            ? text
            : throw new RuntimeException(RuntimeErrorCode.InvalidRequest, $"{RouteProperty} must be auto, local or remote");
    }

    // The routing properties are for this router only; engines (local or remote) never see them.
    internal static ChatOptions? WithoutRoute(ChatOptions? options)
    {
        if (options?.AdditionalProperties is not { } properties || !(properties.ContainsKey(RouteProperty) || properties.ContainsKey(DeadlineProperty)))
        {
            return options;
        }

        var copy = options.Clone();
        copy.AdditionalProperties = new AdditionalPropertiesDictionary(properties);
        copy.AdditionalProperties.Remove(RouteProperty);
        copy.AdditionalProperties.Remove(DeadlineProperty);
        return copy;
    }

    private static partial class Log
    {
        [LoggerMessage(6001, LogLevel.Debug, "Routed to {ServedBy}: {Reason}")]
        public static partial void Routed(ILogger logger, string servedBy, string reason);

        [LoggerMessage(6002, LogLevel.Warning, "Heavy node {Url} failed before the first token")]
        public static partial void RemoteFailed(ILogger logger, Uri url, Exception exception);

        [LoggerMessage(6003, LogLevel.Error, "Heavy node {Url} failed mid-answer after {Updates} updates; the answer is incomplete")]
        public static partial void RemoteInterrupted(ILogger logger, Uri url, int updates, Exception exception);

        [LoggerMessage(6004, LogLevel.Error, "Heavy node {Url} ended its stream after {Updates} updates without a finish reason; the answer is incomplete")]
        public static partial void RemoteTruncated(ILogger logger, Uri url, int updates);

        [LoggerMessage(6005, LogLevel.Warning, "Restarting the request on the local engine after heavy node {Url} failed mid-answer ({Updates} updates received)")]
        public static partial void RestartingLocally(ILogger logger, Uri url, int updates);

        [LoggerMessage(6006, LogLevel.Information, "No heavy node is ready; the request waits up to {TimeoutMs} ms for one")]
        public static partial void Queued(ILogger logger, int timeoutMs);
    }
}

/// <summary>Where the router sends a request, before it runs.</summary>
/// <param name="Node">The node to try first; null for the local engine (or, with <paramref name="WantsRemote"/>, none available).</param>
/// <param name="Reason">Why, as results report it in <c>route_reason</c>.</param>
/// <param name="WantsRemote">Whether route or policy asked for a heavy node.</param>
public sealed record RouteDecision(RemoteNode? Node, string Reason, bool WantsRemote)
{
    /// <summary>The node and the reason.</summary>
    public void Deconstruct(out RemoteNode? node, out string reason) => (node, reason) = (Node, Reason);
}
