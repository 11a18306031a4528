using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text.Json;
using AutoGlm.Cluster.Nodes;
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
/// <c>local</c> or <c>remote</c>. The last update of every answer carries <c>served_by</c> (<c>local:…</c> or
/// <c>remote:host:port</c>) and <c>route_reason</c> in its <see cref="ChatResponseUpdate.AdditionalProperties"/>.
/// A remote failure before the first update tries the next available node, then the local engine (or ends with
/// <see cref="ClusterErrorCode.RemoteUnavailable"/> when <see cref="ClusterOptions.OnRemoteFailure"/> is <c>fail</c>);
/// a failure after it ends the answer with <see cref="ClusterErrorCode.RemoteInterrupted"/>.
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

    private readonly NodePool _pool;
    private readonly ClusterOptions _options;
    private readonly CostEstimator _estimator;
    private readonly string _localName;
    private readonly ILogger _logger;

    /// <summary>Creates the router.</summary>
    /// <param name="local">The local engine (usually a <see cref="LocalEngine"/>; its tokenizer and speeds feed the estimate).</param>
    /// <param name="pool">The heavy nodes.</param>
    /// <param name="options">The policy and thresholds.</param>
    /// <param name="logger">Where routing decisions are logged (at Debug).</param>
    public RoutingChatClient(IChatClient local, NodePool pool, ClusterOptions options, ILogger? logger = null)
        : base(local)
    {
        _pool = pool;
        _options = options;
        var engine = local.GetService<LocalEngine>();
        _estimator = new CostEstimator(engine, options);
        _localName = engine is not null ? $"local:{engine.Package.Manifest.Name}@{engine.ExecutionProvider}" : "local";
        _logger = logger ?? NullLogger.Instance;
    }

    /// <summary>The estimator the cost-threshold policy uses.</summary>
    public CostEstimator Estimator => _estimator;

    public override async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
        await GetStreamingResponseAsync(messages, options, cancellationToken).ToChatResponseAsync(cancellationToken).ConfigureAwait(false);

    public override async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<ChatMessage> messages,
        ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var list = messages as IReadOnlyList<ChatMessage> ?? [.. messages];
        var (node, reason) = Decide(list, options);
        var forwarded = WithoutRoute(options);
        var tried = new List<RemoteNode>();
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

                if (failure is null)
                {
                    Log.Routed(_logger, node.Name, reason);
                    var count = 0;
                    var finished = false;
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
                            node.OnFailure();
                            Log.RemoteInterrupted(_logger, node.Url, count, ex);
                            throw new ClusterException(
                                ClusterErrorCode.RemoteInterrupted,
                                $"heavy node {node.Url.Authority} failed after {count} updates ({Describe(ex)}); the answer is incomplete",
                                ex);
                        }
                    }

                    // The OpenAI client ends a stream quietly when the connection drops; every complete answer names its finish reason.
                    if (!finished)
                    {
                        node.OnFailure();
                        Log.RemoteTruncated(_logger, node.Url, count);
                        throw new ClusterException(
                            ClusterErrorCode.RemoteInterrupted,
                            $"heavy node {node.Url.Authority} ended its stream after {count} updates without a finish reason (connection lost?); the answer is incomplete");
                    }

                    node.OnSuccess();
                    yield return Stamp(node.Name, reason);
                    yield break;
                }

                node.OnFailure();
                tried.Add(node);
                Log.RemoteFailed(_logger, node.Url, failure);
                var failed = $"heavy node {node.Url.Authority} failed before the first token ({Describe(failure)})";
                node = _pool.Pick(tried);
                reason = node is not null
                    ? $"{failed}; failed over to {node.Name}"
                    : _options.OnRemoteFailure == "local"
                        ? $"{failed}; fell back to local"
                        : throw new ClusterException(ClusterErrorCode.RemoteUnavailable, $"{failed}, and Cluster:OnRemoteFailure is fail");
            }
        }

        Log.Routed(_logger, _localName, reason);
        await foreach (var update in base.GetStreamingResponseAsync(list, forwarded, cancellationToken).ConfigureAwait(false))
        {
            yield return update;
        }

        yield return Stamp(_localName, reason);
    }

    /// <summary>Picks where a request runs: a node (null for local) and why.</summary>
    /// <exception cref="ClusterException">A remote engine is required and none is available, by <see cref="ClusterOptions.OnRemoteFailure"/>.</exception>
    public (RemoteNode? Node, string Reason) Decide(IReadOnlyList<ChatMessage> messages, ChatOptions? options)
    {
        var route = RouteOf(options);
        if (route == "local")
        {
            return (null, "route local requested");
        }

        string why;
        if (route == "remote")
        {
            why = "route remote requested";
        }
        else if (_options.Policy == RoutingPolicies.LocalOnly)
        {
            return (null, "policy local-only");
        }
        else if (_options.Policy == RoutingPolicies.RemoteFirst)
        {
            why = "policy remote-first";
        }
        else
        {
            var cost = _estimator.Estimate(messages, options);
            if (DeadlineOf(options) is { } deadline && cost.PredictedLocalMs > deadline)
            {
                why = Format($"cost-threshold: predicted local latency {cost.PredictedLocalMs:F0} ms > deadline {deadline:F0} ms");
            }
            else if (cost.PredictedLocalMs > _options.MaxLocalLatencyMs)
            {
                why = Format($"cost-threshold: predicted local latency {cost.PredictedLocalMs:F0} ms > {_options.MaxLocalLatencyMs:F0} ms");
            }
            else if (cost.PromptTokens > _options.MaxLocalPromptTokens)
            {
                why = Format($"cost-threshold: {cost.PromptTokens} prompt tokens > {_options.MaxLocalPromptTokens}");
            }
            else
            {
                return (null, Format($"cost-threshold: predicted local latency {cost.PredictedLocalMs:F0} ms within {_options.MaxLocalLatencyMs:F0} ms"));
            }
        }

        var node = _pool.Pick();
        if (node is not null)
        {
            return (node, why);
        }

        return _options.OnRemoteFailure == "local"
            ? (null, $"{why}, but no heavy node is available; ran locally")
            : throw new ClusterException(ClusterErrorCode.RemoteUnavailable, $"{why}, but no heavy node is available and Cluster:OnRemoteFailure is fail");
    }

    public override object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is null && serviceType == typeof(NodePool) ? _pool : base.GetService(serviceType, serviceKey);

    private static string Format(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    private static string Describe(Exception ex) => ex is TaskCanceledException ? "timed out" : ex.Message;

    private static ChatResponseUpdate Stamp(string servedBy, string reason) => new()
    {
        Role = ChatRole.Assistant,
        AdditionalProperties = new AdditionalPropertiesDictionary
        {
            [ServedByProperty] = servedBy,
            [RouteReasonProperty] = reason,
        },
    };

    private static string RouteOf(ChatOptions? options)
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

    private static double? DeadlineOf(ChatOptions? options) =>
        options?.AdditionalProperties?.TryGetValue(DeadlineProperty, out var value) != true || value is null ? null
        : value switch
        {
            int i => i,
            long l => l,
            double d => d,
            JsonElement { ValueKind: JsonValueKind.Number } e => e.GetDouble(),
            _ => throw new RuntimeException(RuntimeErrorCode.InvalidRequest, $"{DeadlineProperty} must be a number"),
        };

    // The routing properties are for this router only; engines (local or remote) never see them.
    private static ChatOptions? WithoutRoute(ChatOptions? options)
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

        [LoggerMessage(6003, LogLevel.Error, "Heavy node {Url} failed mid-answer after {Updates} updates; the request ends with remote_interrupted")]
        public static partial void RemoteInterrupted(ILogger logger, Uri url, int updates, Exception exception);

        [LoggerMessage(6004, LogLevel.Error, "Heavy node {Url} ended its stream after {Updates} updates without a finish reason; the request ends with remote_interrupted")]
        public static partial void RemoteTruncated(ILogger logger, Uri url, int updates);
    }
}
