using AutoGlm.Edge.Hosting;
using AutoGlm.Edge.Metrics;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Prometheus;

namespace AutoGlm.Edge.Http;

/// <summary>Registers and maps the OpenAI-compatible HTTP API, health and metrics.</summary>
public static class EdgeHttpExtensions
{
    /// <summary>
    /// Adds the <c>Http</c> options (validated at start), the key store and limits, the metrics and their Prometheus
    /// export, and makes Kestrel listen on <see cref="HttpOptions.Urls"/> with its body-size limit.
    /// </summary>
    public static WebApplicationBuilder AddEdgeHttp(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<HttpOptions>().BindConfiguration(HttpOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<HttpOptions>, HttpOptionsValidator>();
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<ApiKeyStore>();
        services.AddSingleton<RequestGate>();
        services.AddSingleton<ChatCompletionsEndpoint>();
        services.TryAddSingleton<EdgeMetrics>();

        var urls = builder.Configuration.GetSection(HttpOptions.Section).Get<HttpOptions>()?.UrlList is { Count: > 0 } configured
            ? configured
            : new HttpOptions().UrlList;
        builder.WebHost.UseUrls([.. urls]);
        // Read from configuration, not IOptions<HttpOptions>: Kestrel is built with the app, and validation belongs to start.
        var section = builder.Configuration.GetSection(HttpOptions.Section);
        services.AddOptions<KestrelServerOptions>().Configure(kestrel =>
        {
            kestrel.Limits.MaxRequestBodySize = section.Get<HttpOptions>()?.MaxRequestBodyBytes ?? new HttpOptions().MaxRequestBodyBytes;
            kestrel.AddServerHeader = false;
        });

        services.TryAddSingleton<PrometheusExport>();
        return builder;
    }

    /// <summary>Maps <c>/v1/chat/completions</c>, <c>/v1/models</c>, <c>/health/live</c>, <c>/health/ready</c> and <c>/metrics</c>.</summary>
    public static WebApplication MapEdgeHttp(this WebApplication app)
    {
        app.UseMiddleware<ApiMiddleware>();
        app.MapPost(ChatCompletionsEndpoint.Route, (HttpContext context, ChatCompletionsEndpoint endpoint) => endpoint.HandleAsync(context));
        app.MapGet("/v1/models", (HttpContext context, EngineHost host) => StatusEndpoints.ModelsAsync(context, host));
        app.MapGet("/health/live", StatusEndpoints.Live);
        app.MapGet("/health/ready", (EngineHost host, IEnumerable<IReadinessCheck> checks, HttpContext context) => StatusEndpoints.ReadyAsync(host, checks, context.RequestAborted));
        app.MapMetrics("/metrics", app.Services.GetRequiredService<PrometheusExport>().Registry);
        return app;
    }
}
