using AutoGlm.Cluster.Nodes;
using AutoGlm.Cluster.Routing;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Options;
using RoutingChatClient = AutoGlm.Cluster.Routing.RoutingChatClient;

namespace AutoGlm.Edge.Hosting;

/// <summary>
/// Puts the router in front of the engine when this daemon is an edge with heavy nodes (<c>Cluster:Nodes</c>), and
/// polls the nodes' health while the host runs. Register after <see cref="EngineHost"/>: the router needs the engine.
/// </summary>
/// <remarks>Other services reach the chat client through <see cref="ChatClient"/> or the registered <see cref="IChatClient"/>. Owns the node pool.</remarks>
public sealed partial class ClusterHost : IHostedService, IAsyncDisposable
{
    private readonly ClusterOptions _options;
    private readonly EngineHost _engine;
    private readonly TimeProvider _time;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private NodePool? _pool;
    private RoutingChatClient? _router;

    public ClusterHost(IOptions<ClusterOptions> options, EngineHost engine, TimeProvider time, ILoggerFactory loggerFactory)
    {
        _options = options.Value;
        _engine = engine;
        _time = time;
        _loggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger<ClusterHost>();
    }

    /// <summary>The router when this edge has heavy nodes, else the local engine.</summary>
    public IChatClient ChatClient => (IChatClient?)_router ?? _engine.ChatClient;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (_options.IsHeavy)
        {
            Log.Heavy(_logger);
            return Task.CompletedTask;
        }

        if (_options.Nodes.Count == 0)
        {
            return Task.CompletedTask;
        }

        _pool = new NodePool(_options, _engine.ModelId, _time, _loggerFactory.CreateLogger<NodePool>());
        _router = new RoutingChatClient(_engine.ChatClient, _pool, _options, _loggerFactory.CreateLogger<RoutingChatClient>(), _time);
        _pool.Start();
        Log.Routing(_logger, _options.Policy, string.Join(", ", _pool.Nodes.Select(n => n.Url)));
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        var pool = Interlocked.Exchange(ref _pool, null);
        if (pool is not null)
        {
            await pool.DisposeAsync().ConfigureAwait(false);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1401, LogLevel.Information, "Cluster role heavy: this node serves requests itself and forwards none")]
        public static partial void Heavy(ILogger logger);

        [LoggerMessage(1402, LogLevel.Information, "Routing by policy {Policy} to heavy nodes {Nodes}")]
        public static partial void Routing(ILogger logger, string policy, string nodes);
    }
}
