using System.ClientModel;
using System.ClientModel.Primitives;
using AutoGlm.Cluster.Routing;
using Microsoft.Extensions.AI;
using OpenAI;

namespace AutoGlm.Cluster.Nodes;

/// <summary>One heavy node: its OpenAI chat client, its health, and the requests it has in flight.</summary>
/// <remarks>Thread-safe. Owns its chat client.</remarks>
public sealed class RemoteNode : IDisposable
{
    private int _outstanding;
    private int _failures;
    private int _failedChecks;
    private long _healthGeneration;
    private volatile bool _healthy = true;
    private readonly int _failuresToOpen;
    private readonly int _failedChecksToMarkDown;

    /// <summary>Creates a node from its options.</summary>
    /// <param name="options">The node's URL, key, model and weight.</param>
    /// <param name="defaultModel">The model id to ask for when the node names none.</param>
    /// <param name="cluster">Timeouts and the failure count that takes a node out.</param>
    public RemoteNode(NodeOptions options, string defaultModel, ClusterOptions cluster)
    {
        Url = new Uri(options.Url.TrimEnd('/') + "/");
        Weight = options.Weight;
        ApiKey = string.IsNullOrEmpty(options.ApiKey) ? null : options.ApiKey;
        _failuresToOpen = cluster.FailuresToOpen;
        _failedChecksToMarkDown = cluster.FailedChecksToMarkDown;
        var clientOptions = new OpenAIClientOptions
        {
            Endpoint = new Uri(options.Url.TrimEnd('/')),
            NetworkTimeout = cluster.RequestTimeout,

            // Retries before the first token are the router's (another node, or local): one attempt per node here.
            RetryPolicy = new ClientRetryPolicy(maxRetries: 0),
        };

        // The OpenAI client insists on a credential; a node that requires no key ignores this one.
        var credential = new ApiKeyCredential(ApiKey ?? "no-key");
        var model = string.IsNullOrEmpty(options.Model) ? defaultModel : options.Model;
        ChatClient = new OpenAIClient(credential, clientOptions).GetChatClient(model).AsIChatClient();
        var root = Url.AbsolutePath.EndsWith("/v1/", StringComparison.Ordinal) ? new Uri(Url, "../") : Url;
        HealthUrl = new Uri(root, "health/ready");
    }

    /// <summary>The node's base URL, ending in <c>/</c>.</summary>
    public Uri Url { get; }

    /// <summary>Its <c>/health/ready</c> URL (the base URL less its <c>/v1</c>).</summary>
    public Uri HealthUrl { get; }

    /// <summary>The bearer key sent to it, if any.</summary>
    public string? ApiKey { get; }

    /// <summary>Its share of traffic.</summary>
    public double Weight { get; }

    /// <summary>The OpenAI-compatible chat client that reaches it.</summary>
    public IChatClient ChatClient { get; }

    /// <summary>What results report in <c>served_by</c> when this node answers.</summary>
    public string Name => "remote:" + Url.Authority;

    /// <summary>Requests sent to it and not finished.</summary>
    public int Outstanding => Volatile.Read(ref _outstanding);

    /// <summary>Whether it takes traffic: it has not failed its last health checks and it has not failed <see cref="ClusterOptions.FailuresToOpen"/> times in a row since.</summary>
    public bool IsAvailable => _healthy && Volatile.Read(ref _failures) < _failuresToOpen;

    /// <summary>Load score: outstanding requests (this one included) per unit of weight; lower is picked first.</summary>
    public double Load => (Outstanding + 1) / Weight;

    /// <summary>How many health checks have passed: a node that failed a request is tried for it again only once this has moved.</summary>
    public long HealthGeneration => Interlocked.Read(ref _healthGeneration);

    /// <summary>Raised after every health check and every change of availability (the pool wakes requests waiting for a node).</summary>
    public event Action? Changed;

    /// <summary>Counts a request in; dispose the result when it ends.</summary>
    public IDisposable Enter()
    {
        Interlocked.Increment(ref _outstanding);
        return new Lease(this);
    }

    /// <summary>Records a request that succeeded.</summary>
    public void OnSuccess() => Volatile.Write(ref _failures, 0);

    /// <summary>Records a request that failed.</summary>
    public void OnFailure() => Interlocked.Increment(ref _failures);

    /// <summary>
    /// Records a health check's result: <see cref="ClusterOptions.FailedChecksToMarkDown"/> failures in a row mark the
    /// node down; a passing check marks it up and closes the breaker.
    /// </summary>
    public void OnHealth(bool ready)
    {
        if (ready)
        {
            Volatile.Write(ref _failedChecks, 0);
            Volatile.Write(ref _failures, 0);
            _healthy = true;
            Interlocked.Increment(ref _healthGeneration);
        }
        else if (Interlocked.Increment(ref _failedChecks) >= _failedChecksToMarkDown)
        {
            _healthy = false;
        }

        Changed?.Invoke();
    }

    public void Dispose() => (ChatClient as IDisposable)?.Dispose();

    private sealed class Lease(RemoteNode node) : IDisposable
    {
        private int _done;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) == 0)
            {
                Interlocked.Decrement(ref node._outstanding);
            }
        }
    }
}
