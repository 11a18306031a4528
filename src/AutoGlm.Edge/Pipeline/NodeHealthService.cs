using AutoGlm.Cluster.Nodes;
using AutoGlm.Cluster.Routing;
using Microsoft.Extensions.Options;

namespace AutoGlm.Edge.Pipeline;

/// <summary>
/// Starts polling the heavy nodes' health when the host starts (after the engine: the pool asks nodes for the local
/// model's id), and says in the log how this daemon routes.
/// </summary>
/// <remarks>The <see cref="NodePool"/> is the container's; this service only starts it.</remarks>
public sealed partial class NodeHealthService(IOptions<ClusterOptions> options, IServiceProvider services, ILogger<NodeHealthService> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        var cluster = options.Value;
        if (cluster.IsHeavy)
        {
            Log.Heavy(logger);
            return Task.CompletedTask;
        }

        if (cluster.Nodes.Count == 0)
        {
            return Task.CompletedTask;
        }

        var pool = services.GetRequiredService<NodePool>();
        pool.Start();
        Log.Routing(logger, cluster.Policy, string.Join(", ", pool.Nodes.Select(n => n.Url)));
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private static partial class Log
    {
        [LoggerMessage(1401, LogLevel.Information, "Cluster role heavy: this node serves requests itself and forwards none")]
        public static partial void Heavy(ILogger logger);

        [LoggerMessage(1402, LogLevel.Information, "Routing by policy {Policy} to heavy nodes {Nodes}")]
        public static partial void Routing(ILogger logger, string policy, string nodes);
    }
}
