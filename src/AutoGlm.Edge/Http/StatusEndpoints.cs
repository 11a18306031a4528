using System.Text.Json;
using AutoGlm.Edge.Hosting;
using AutoGlm.Runtime.Generation;
using Microsoft.Extensions.AI;

namespace AutoGlm.Edge.Http;

/// <summary><c>GET /v1/models</c>, <c>GET /health/live</c> and <c>GET /health/ready</c>.</summary>
internal static class StatusEndpoints
{
    /// <summary>The loaded package as OpenAI's model list, with its context length and input modalities.</summary>
    public static async Task ModelsAsync(HttpContext context, IEngineStatus host)
    {
        if (!host.IsReady)
        {
            await ApiError.ModelLoading().WriteAsync(context.Response).ConfigureAwait(false);
            return;
        }

        var engine = context.RequestServices.GetRequiredService<IChatClient>().GetService<LocalEngine>();
        context.Response.ContentType = "application/json";
        await using (var json = new Utf8JsonWriter(context.Response.BodyWriter))
        {
            json.WriteStartObject();
            json.WriteString("object", "list");
            json.WriteStartArray("data");
            json.WriteStartObject();
            json.WriteString("id", host.ModelId);
            json.WriteString("object", "model");
            if (engine is not null)
            {
                json.WriteNumber("created", new DateTimeOffset(File.GetLastWriteTimeUtc(Path.Combine(engine.Package.Directory, "manifest.json"))).ToUnixTimeSeconds());
            }

            json.WriteString("owned_by", "autoglm-edge");
            if (engine is not null)
            {
                json.WriteNumber("context_length", engine.ContextLength);
            }

            json.WriteStartArray("modalities");
            json.WriteStringValue("text");
            json.WriteEndArray();
            json.WriteString("execution_provider", host.Provider);
            json.WriteEndObject();
            json.WriteEndArray();
            json.WriteEndObject();
        }

        await context.Response.BodyWriter.FlushAsync(context.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>200 while the process runs.</summary>
    public static IResult Live() => Results.Text("live\n");

    /// <summary>
    /// 200 once the model is loaded (with <c>Runtime:Backend=openai</c>: while the backend engine is ready) and every
    /// <see cref="IReadinessCheck"/> passes (the job journal can be written, the MQTT intake is not stalled), 503 otherwise.
    /// </summary>
    public static async Task<IResult> ReadyAsync(IEngineStatus host, IEnumerable<IReadinessCheck> checks, CancellationToken cancellationToken)
    {
        if (!await host.IsServingAsync(cancellationToken).ConfigureAwait(false))
        {
            return Results.Text(host.IsReady ? "backend not ready\n" : "loading\n", statusCode: StatusCodes.Status503ServiceUnavailable);
        }

        var reasons = checks.Select(c => c.NotReadyReason()).OfType<string>().ToList();
        return reasons.Count == 0
            ? Results.Text("ready\n")
            : Results.Text(string.Concat(reasons.Select(r => "not ready: " + r + "\n")), statusCode: StatusCodes.Status503ServiceUnavailable);
    }
}
