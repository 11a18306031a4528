using AutoGlm.Cluster.Routing;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Http.Resilience;
using Polly;

namespace AutoGlm.Cluster.Nodes;

/// <summary>One heavy node: its OpenAI chat client, its health, its circuit breaker, and the requests it has in flight.</summary>
/// <remarks>
/// Thread-safe. Owns its chat client and the <see cref="HttpClient"/> under it. Every request to the node goes through
/// a <c>Microsoft.Extensions.Http.Resilience</c> pipeline on that client: retries (<see cref="ClusterOptions.Retries"/>)
/// of transient failures, each attempt bounded by <see cref="ClusterOptions.AttemptTimeout"/>, and a circuit breaker
/// whose state is this node's: while it is open the node takes no traffic. The pipeline ends when the response
/// headers arrive, and a heavy node sends them with its first token, so nothing is ever retried once an answer has begun.
/// </remarks>
public sealed class RemoteNode : IDisposable
{
    private int _outstanding;
    private int _failedChecks;
    private long _healthGeneration;
    private long _breakerOpenUntil;
    private volatile bool _healthy = true;
    private readonly int _failedChecksToMarkDown;
    private readonly TimeProvider _time;
    private readonly HttpClient? _http;

    /// <summary>Creates a node from its options.</summary>
    /// <param name="options">The node's URL, key, model and weight.</param>
    /// <param name="defaultModel">The model id to ask for when the node names none.</param>
    /// <param name="cluster">Timeouts and the failure count that takes a node out.</param>
    /// <param name="time">The clock of the breaker and its retries; default the system's.</param>
    public RemoteNode(NodeOptions options, string defaultModel, ClusterOptions cluster, TimeProvider? time = null)
    {
        Weight = options.Weight;
        ApiKey = string.IsNullOrEmpty(options.ApiKey) ? null : options.ApiKey;
        _failedChecksToMarkDown = cluster.FailedChecksToMarkDown;
        _time = time ?? TimeProvider.System;
        if (options.IsMqtt)
        {
            var topic = options.Mqtt.Topic.TrimEnd('/');
            Url = new Uri($"mqtt://{options.Mqtt.Host}:{options.Mqtt.Port}/{topic}/");
            Label = topic;
            Name = "remote:mqtt:" + topic;
            Bridge = new MqttNodeChatClient(options.Mqtt, cluster.RequestTimeout);
            ChatClient = Bridge;
            return;
        }

        Url = new Uri(options.Url.TrimEnd('/') + "/");
        Label = Url.Authority;
        Name = "remote:" + Url.Authority;
        _http = new HttpClient(new ResilienceHandler(BuildPipeline(cluster)) { InnerHandler = new SocketsHttpHandler() })
        {
            // The OpenAI client's NetworkTimeout bounds the whole request; the pipeline bounds each attempt.
            Timeout = Timeout.InfiniteTimeSpan,
        };

        // Retries are the resilience pipeline's (which knows the breaker); the OpenAI client's own are off.
        var model = string.IsNullOrEmpty(options.Model) ? defaultModel : options.Model;
        ChatClient = OpenAiEndpoint.CreateChatClient(options.Url, model, ApiKey, cluster.RequestTimeout, maxRetries: 0, _http);
        HealthUrl = OpenAiEndpoint.HealthUrl(options.Url, "/health/ready");
    }

    /// <summary>The node's base URL, ending in <c>/</c>.</summary>
    public Uri Url { get; }

    /// <summary>Its <c>/health/ready</c> URL (the base URL less its <c>/v1</c>); null for a bridge node.</summary>
    public Uri? HealthUrl { get; }

    /// <summary>The MQTT bridge that reaches it, when it is reached through a broker (its health is its retained status).</summary>
    public MqttNodeChatClient? Bridge { get; }

    /// <summary>How messages name it: <c>host:port</c>, or the bridge node's topic prefix.</summary>
    public string Label { get; }

    /// <summary>The bearer key sent to it, if any.</summary>
    public string? ApiKey { get; }

    /// <summary>Its share of traffic.</summary>
    public double Weight { get; }

    /// <summary>The OpenAI-compatible chat client that reaches it.</summary>
    public IChatClient ChatClient { get; }

    /// <summary>What results report in <c>served_by</c> when this node answers: <c>remote:host:port</c> or <c>remote:mqtt:&lt;topic&gt;</c>.</summary>
    public string Name { get; }

    /// <summary>Requests sent to it and not finished.</summary>
    public int Outstanding => Volatile.Read(ref _outstanding);

    /// <summary>Whether it takes traffic: it has not failed its last health checks and its circuit breaker is not open.</summary>
    /// <remarks>Once the break duration has passed the node is available again: the next request is the breaker's trial.</remarks>
    public bool IsAvailable => _healthy && !IsBreakerOpen;

    /// <summary>Whether its circuit breaker is open (too many failed attempts lately): it takes no traffic until the break ends.</summary>
    public bool IsBreakerOpen => _time.GetUtcNow().UtcTicks < Interlocked.Read(ref _breakerOpenUntil);

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

    /// <summary>
    /// Records a health check's result: <see cref="ClusterOptions.FailedChecksToMarkDown"/> failures in a row mark the
    /// node down; a passing check marks it up (an open breaker still keeps it out until its break ends).
    /// </summary>
    public void OnHealth(bool ready)
    {
        if (ready)
        {
            Volatile.Write(ref _failedChecks, 0);
            _healthy = true;
            Interlocked.Increment(ref _healthGeneration);
        }
        else if (Interlocked.Increment(ref _failedChecks) >= _failedChecksToMarkDown)
        {
            _healthy = false;
        }

        Changed?.Invoke();
    }

    /// <summary>Raised when the breaker opens (the node is out for the given break) and when it closes again.</summary>
    public event Action<bool, TimeSpan>? BreakerChanged;

    public void Dispose()
    {
        (ChatClient as IDisposable)?.Dispose();
        _http?.Dispose();
    }

    // Outermost first: retry, then the breaker (each attempt counts), then the attempt's timeout.
    private ResiliencePipeline<HttpResponseMessage> BuildPipeline(ClusterOptions cluster)
    {
        var builder = new ResiliencePipelineBuilder<HttpResponseMessage> { TimeProvider = _time };
        if (cluster.Retries > 0)
        {
            builder.AddRetry(new HttpRetryStrategyOptions
            {
                MaxRetryAttempts = cluster.Retries,
                Delay = cluster.RetryDelay,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,

                // An overloaded node's Retry-After (5 s) is better spent on another node or the local engine.
                ShouldRetryAfterHeader = false,
            });
        }

        return builder
            .AddCircuitBreaker(new HttpCircuitBreakerStrategyOptions
            {
                FailureRatio = cluster.BreakerFailureRatio,
                MinimumThroughput = cluster.FailuresToOpen,
                SamplingDuration = cluster.BreakerSamplingDuration,
                BreakDuration = cluster.BreakDuration,
                OnOpened = args =>
                {
                    Interlocked.Exchange(ref _breakerOpenUntil, (_time.GetUtcNow() + args.BreakDuration).UtcTicks);
                    BreakerChanged?.Invoke(true, args.BreakDuration);
                    Changed?.Invoke();
                    return ValueTask.CompletedTask;
                },
                OnClosed = _ =>
                {
                    Interlocked.Exchange(ref _breakerOpenUntil, 0);
                    BreakerChanged?.Invoke(false, TimeSpan.Zero);
                    Changed?.Invoke();
                    return ValueTask.CompletedTask;
                },
            })
            .AddTimeout(new HttpTimeoutStrategyOptions { Timeout = cluster.AttemptTimeout })
            .Build();
    }

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
