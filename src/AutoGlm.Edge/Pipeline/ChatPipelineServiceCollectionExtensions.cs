using AutoGlm.Cluster.Nodes;
using AutoGlm.Cluster.Routing;
using AutoGlm.Edge.Engine;
using AutoGlm.Edge.Hosting;
using AutoGlm.Edge.Metrics;
using AutoGlm.Runtime.Generation;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using RoutingChatClient = AutoGlm.Cluster.Routing.RoutingChatClient;

namespace AutoGlm.Edge.Pipeline;

/// <summary>Registers the one chat pipeline every front door calls: engine → routing → metrics → logging.</summary>
public static class ChatPipelineServiceCollectionExtensions
{
    /// <summary>
    /// Adds the engine (sections <c>Runtime</c>, loaded when the host starts), the router and its heavy nodes (section
    /// <c>Cluster</c>), and registers the pipeline as the <see cref="IChatClient"/>: the logging stage, in front of the
    /// metrics stage, in front of the router (always there; without heavy nodes every answer is local), in front of the
    /// engine. Register before the
    /// front doors: hosted services start in registration order, and the model loads first.
    /// </summary>
    /// <remarks>
    /// The pipeline is built once, at its first resolution after the model has loaded (resolving it earlier throws
    /// <see cref="AutoGlm.Runtime.RuntimeException"/> <see cref="AutoGlm.Runtime.RuntimeErrorCode.ModelUnavailable"/>
    /// and builds nothing). Front doors read the engine's state through <see cref="IEngineStatus"/>, registered here
    /// too and answered by the pipeline's <c>GetService</c>.
    /// </remarks>
    public static IServiceCollection AddChatPipeline(this IServiceCollection services)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.AddOptions<RuntimeOptions>().BindConfiguration(RuntimeOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<RuntimeOptions>, RuntimeOptionsValidator>();
        services.AddOptions<EngineOptions>().BindConfiguration(RuntimeOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<EngineOptions>, EngineOptionsValidator>();
        services.AddSingleton<EngineHost>();
        services.AddSingleton<IEngineStatus>(sp => sp.GetRequiredService<EngineHost>());
        services.AddHostedService(sp => sp.GetRequiredService<EngineHost>());

        services.AddOptions<ClusterOptions>().BindConfiguration(ClusterOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<ClusterOptions>, ClusterOptionsValidator>();
        services.AddSingleton(sp => new NodePool(
            sp.GetRequiredService<IOptions<ClusterOptions>>().Value,
            sp.GetRequiredService<IEngineStatus>().ModelId,
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILoggerFactory>().CreateLogger<NodePool>()));
        services.AddHostedService<NodeHealthService>();

        services.TryAddSingleton<EdgeMetrics>();
        services.AddChatClient(sp => new EngineStatusChatClient(sp.GetRequiredService<EngineHost>().ChatClient, sp.GetRequiredService<IEngineStatus>()))
            .Use((inner, sp) => new ChatLoggingClient(inner, sp.GetRequiredService<ILogger<ChatLoggingClient>>()))
            .Use((inner, sp) => new MeteredChatClient(inner, sp.GetRequiredService<EdgeMetrics>(), sp.GetRequiredService<TimeProvider>()))
            .Use((inner, sp) => Routing(inner, sp));
        return services;
    }

    // Always a routing stage, so no front door asks whether there is one: the router over the heavy nodes, or local only.
    private static IChatClient Routing(IChatClient engine, IServiceProvider services)
    {
        var pool = services.GetRequiredService<NodePool>();
        return pool.Nodes.Count == 0
            ? new LocalRouteChatClient(engine)
            : new RoutingChatClient(
                engine,
                pool,
                services.GetRequiredService<IOptions<ClusterOptions>>().Value,
                services.GetRequiredService<ILoggerFactory>().CreateLogger<RoutingChatClient>(),
                services.GetRequiredService<TimeProvider>());
    }
}
