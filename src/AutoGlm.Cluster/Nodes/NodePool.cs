using System.Net.Http.Headers;
using AutoGlm.Cluster.LoadBalancing;
using AutoGlm.Cluster.Routing;
using Microsoft.Extensions.Logging;

namespace AutoGlm.Cluster.Nodes;

/// <summary>The heavy nodes: picks the least loaded available one by weight, and polls their health in the background.</summary>
/// <remarks>Thread-safe. Owns its nodes and its health-check <see cref="HttpClient"/>; <see cref="Start"/> begins polling.</remarks>
public sealed partial class NodePool : IAsyncDisposable
{
    private readonly HttpClient _http;
    private readonly TimeSpan _interval;
    private readonly TimeSpan _checkTimeout;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private Task? _loop;
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Creates the pool of <see cref="ClusterOptions.Nodes"/>; empty on a heavy node, which never forwards.</summary>
    public NodePool(ClusterOptions options, string defaultModel, TimeProvider time, ILogger logger)
    {
        Nodes = options.IsHeavy ? [] : [.. options.Nodes.Select(n => new RemoteNode(n, defaultModel, options, time))];
        foreach (var node in Nodes)
        {
            node.Changed += OnChanged;
            node.BreakerChanged += (open, duration) =>
            {
                if (open)
                {
                    Log.BreakerOpened(logger, node.Url, duration.TotalSeconds);
                }
                else
                {
                    Log.BreakerClosed(logger, node.Url);
                }
            };
        }

        _interval = options.HealthCheckInterval;
        _time = time;
        _logger = logger;
        _http = new HttpClient { Timeout = options.HealthCheckTimeout };
        _checkTimeout = options.HealthCheckTimeout;
    }

    /// <summary>The nodes, in configuration order.</summary>
    public IReadOnlyList<RemoteNode> Nodes { get; }

    /// <summary>Starts polling every node's <c>/health/ready</c> (the first round at once).</summary>
    public void Start() => _loop ??= Task.Run(() => LoopAsync(_stopping.Token));

    /// <summary>The available node with the fewest outstanding requests per unit of weight, skipping <paramref name="exclude"/>; null when none.</summary>
    public RemoteNode? Pick(IReadOnlyCollection<RemoteNode>? exclude = null) =>
        Pick(exclude is null ? null : node => !exclude.Contains(node));

    /// <summary>The available node with the fewest outstanding requests per unit of weight among those <paramref name="eligible"/> accepts; null when none.</summary>
    public RemoteNode? Pick(Func<RemoteNode, bool>? eligible) =>
        LeastLoaded.Pick(Nodes, node => node.IsAvailable && (eligible is null || eligible(node)), static node => node.Load);

    /// <summary>
    /// Waits until <see cref="Pick(Func{RemoteNode, bool}?)"/> finds a node (re-checked after every health check and
    /// breaker change); null when <paramref name="timeout"/> passes first.
    /// </summary>
    public async Task<RemoteNode?> WaitForNodeAsync(Func<RemoteNode, bool>? eligible, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var bound = new CancellationTokenSource(timeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(bound.Token, cancellationToken);
        while (true)
        {
            // Read the signal before looking, so a change between the look and the wait is not missed.
            var changed = Volatile.Read(ref _changed).Task;
            if (Pick(eligible) is { } node)
            {
                return node;
            }

            try
            {
                await changed.WaitAsync(linked.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (bound.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                return null;
            }
        }
    }

    private void OnChanged() => Interlocked.Exchange(ref _changed, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

    /// <summary>Checks every node once, now.</summary>
    public async Task CheckAllAsync(CancellationToken cancellationToken)
    {
        await Task.WhenAll(Nodes.Select(n => CheckOrMarkDownAsync(n, cancellationToken))).ConfigureAwait(false);
    }

    /// <summary>One node's check; a failure nobody foresaw marks that node down instead of ending the health loop for all.</summary>
    private async Task CheckOrMarkDownAsync(RemoteNode node, CancellationToken cancellationToken)
    {
        try
        {
            await CheckAsync(node, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            Log.CheckFailed(_logger, node.Url, ex);
            Record(node, false, ex.Message);
        }
    }

    private async Task CheckAsync(RemoteNode node, CancellationToken cancellationToken)
    {
        bool ready;
        string detail;
        if (node.Bridge is { } bridge)
        {
            using var bound = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            bound.CancelAfter(_checkTimeout);
            try
            {
                ready = await bridge.CheckAsync(bound.Token).ConfigureAwait(false);
                detail = ready ? "online" : "its retained status is not online";
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                (ready, detail) = (false, "the broker did not answer in time");
            }

            Record(node, ready, detail);
            return;
        }

        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, node.HealthUrl);
            if (node.ApiKey is not null)
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", node.ApiKey);
            }

            using var response = await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
            ready = response.IsSuccessStatusCode;
            detail = ((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (HttpRequestException ex)
        {
            ready = false;
            detail = ex.Message;
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            ready = false;
            detail = "timed out";
        }

        Record(node, ready, detail);
    }

    private void Record(RemoteNode node, bool ready, string detail)
    {
        var was = node.IsAvailable;
        node.OnHealth(ready);
        if (was != node.IsAvailable)
        {
            if (ready)
            {
                Log.NodeUp(_logger, node.Url);
            }
            else
            {
                Log.NodeDown(_logger, node.Url, detail);
            }
        }
    }

    private async Task LoopAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(_interval, _time);
        try
        {
            do
            {
                await CheckAllAsync(cancellationToken).ConfigureAwait(false);
            }
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            Log.HealthStopped(_logger);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(false);
        }

        foreach (var node in Nodes)
        {
            node.Dispose();
        }

        _http.Dispose();
        _stopping.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(6101, LogLevel.Warning, "Heavy node {Url} is down ({Detail}); it takes no traffic until its health check passes")]
        public static partial void NodeDown(ILogger logger, Uri url, string detail);

        [LoggerMessage(6102, LogLevel.Information, "Heavy node {Url} is ready")]
        public static partial void NodeUp(ILogger logger, Uri url);

        [LoggerMessage(6106, LogLevel.Warning, "The health check of heavy node {Url} failed unexpectedly; the node counts as down")]
        public static partial void CheckFailed(ILogger logger, Uri url, Exception exception);

        [LoggerMessage(6103, LogLevel.Debug, "Health checks stopped")]
        public static partial void HealthStopped(ILogger logger);

        [LoggerMessage(6104, LogLevel.Warning, "Heavy node {Url}: circuit breaker open after repeated failures; it takes no traffic for {Seconds} s")]
        public static partial void BreakerOpened(ILogger logger, Uri url, double seconds);

        [LoggerMessage(6105, LogLevel.Information, "Heavy node {Url}: circuit breaker closed; it takes traffic again")]
        public static partial void BreakerClosed(ILogger logger, Uri url);
    }
}
