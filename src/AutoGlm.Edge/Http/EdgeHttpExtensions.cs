using System.Globalization;
using AutoGlm.Edge.Hosting;
using AutoGlm.Edge.Metrics;
using AutoGlm.Runtime.Generation;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Prometheus;

namespace AutoGlm.Edge.Http;

/// <summary>Registers and maps the OpenAI-compatible HTTP API, health and metrics.</summary>
public static class EdgeHttpExtensions
{
    private static readonly string[] ReadMethods = [HttpMethods.Get, HttpMethods.Head];

    /// <summary>
    /// Adds the <c>Http</c> options (validated at start), the key store and limits, the metrics and their Prometheus
    /// export, and makes Kestrel listen on <see cref="HttpOptions.Urls"/> with its body-size limit.
    /// </summary>
    public static WebApplicationBuilder AddEdgeHttp(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<HttpOptions>().BindConfiguration(HttpOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<HttpOptions>, HttpOptionsValidator>();
        services.AddSingleton<IValidateOptions<HttpOptions>, ListenAddresses.Validator>();
        services.AddHostedService<ListenAddresses.Guard>();
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<ApiKeyStore>();
        services.AddSingleton<RequestGate>();
        services.AddSingleton<ChatCompletionsEndpoint>();
        services.AddSingleton<CompletionsEndpoint>();

        // Read single keys from configuration, not IOptions<HttpOptions> or a bound copy: Kestrel is built with the app,
        // and binding and validation (a bad number in any Http key, named) belong to start.
        var section = builder.Configuration.GetSection(HttpOptions.Section);
        var urls = new HttpOptions { Urls = section[nameof(HttpOptions.Urls)] ?? "" }.UrlList is { Count: > 0 } configured
            ? configured
            : new HttpOptions().UrlList;
        builder.WebHost.UseUrls([.. urls]);
        services.AddOptions<KestrelServerOptions>().Configure(kestrel =>
        {
            kestrel.Limits.MaxRequestBodySize = long.TryParse(section[nameof(HttpOptions.MaxRequestBodyBytes)], NumberStyles.None, CultureInfo.InvariantCulture, out var limit) && limit > 0
                ? limit
                : new HttpOptions().MaxRequestBodyBytes;
            kestrel.AddServerHeader = false;
        });

        services.TryAddSingleton<PrometheusExport>();
        return builder;
    }

    /// <summary>Maps <c>/v1/chat/completions</c>, <c>/v1/completions</c>, <c>/tokenize</c>, <c>/detokenize</c>, <c>/v1/models</c>, <c>/health/live</c>, <c>/health/ready</c> and <c>/metrics</c>.</summary>
    public static WebApplication MapEdgeHttp(this WebApplication app)
    {
        app.UseMiddleware<ApiMiddleware>();
        app.MapPost(ChatCompletionsEndpoint.Route, (HttpContext context, ChatCompletionsEndpoint endpoint) => endpoint.HandleAsync(context))
            .WithMetadata(BrowserGuard.JsonBody.Instance);
        app.MapPost(CompletionsEndpoint.Route, (HttpContext context, CompletionsEndpoint endpoint) => endpoint.HandleAsync(context))
            .WithMetadata(BrowserGuard.JsonBody.Instance);

        // At the root, where vLLM serves them; ApiMiddleware treats them as API (keys, rate limits) all the same.
        app.MapPost(TokenizeEndpoints.TokenizeRoute, TokenizeEndpoints.TokenizeAsync).WithMetadata(BrowserGuard.JsonBody.Instance);
        app.MapPost(TokenizeEndpoints.DetokenizeRoute, TokenizeEndpoints.DetokenizeAsync).WithMetadata(BrowserGuard.JsonBody.Instance);
        app.MapGet("/v1/models", (HttpContext context, IEngineStatus host) => StatusEndpoints.ModelsAsync(context, host));

        // HEAD answers as GET does (Kestrel sends the status and headers, not the body), for probes that only look.
        app.MapMethods("/health/live", ReadMethods, StatusEndpoints.Live);
        app.MapMethods("/health/ready", ReadMethods, (IEngineStatus host, IEnumerable<IReadinessCheck> checks, HttpContext context) => StatusEndpoints.ReadyAsync(host, checks, context.RequestAborted));

        // MapMetrics maps every method; the method metadata makes anything but GET and HEAD a 405 naming them in Allow.
        app.MapMetrics("/metrics", app.Services.GetRequiredService<PrometheusExport>().Registry).WithMetadata(new HttpMethodMetadata(ReadMethods));
        return app;
    }
}
