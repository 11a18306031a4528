using System.ClientModel;
using System.ClientModel.Primitives;
using Microsoft.Extensions.AI;
using OpenAI;

namespace AutoGlm.Cluster.Nodes;

/// <summary>
/// How this daemon reaches an OpenAI-compatible engine (a heavy node, or the backend of <c>Runtime:Backend=openai</c>):
/// the chat client over the OpenAI SDK with the GLM request fields, and the URL of its readiness check.
/// </summary>
public static class OpenAiEndpoint
{
    /// <summary>Creates the chat client for the engine at <paramref name="baseUrl"/>.</summary>
    /// <param name="baseUrl">Its OpenAI base URL, usually ending in <c>/v1</c>.</param>
    /// <param name="model">The model id to ask for.</param>
    /// <param name="apiKey">The bearer key, or null when the engine requires none.</param>
    /// <param name="timeout">The network timeout of one whole request.</param>
    /// <param name="maxRetries">The OpenAI client's own retries (0 where a resilience pipeline retries instead).</param>
    /// <param name="transport">The HTTP client under it (a resilience pipeline), or null for the SDK's own.</param>
    /// <returns>An <see cref="OpenAiExtraFieldsChatClient"/> over the SDK's client; the caller owns it, not <paramref name="transport"/>.</returns>
    public static IChatClient CreateChatClient(string baseUrl, string model, string? apiKey, TimeSpan timeout, int maxRetries, HttpClient? transport = null)
    {
        var options = new OpenAIClientOptions
        {
            Endpoint = new Uri(baseUrl.TrimEnd('/')),
            NetworkTimeout = timeout,
            RetryPolicy = new ClientRetryPolicy(maxRetries),
        };
        if (transport is not null)
        {
            options.Transport = new HttpClientPipelineTransport(transport);
        }

        // The OpenAI client insists on a credential; an engine that requires no key ignores this one.
        var credential = new ApiKeyCredential(string.IsNullOrEmpty(apiKey) ? "no-key" : apiKey);
        return new OpenAiExtraFieldsChatClient(new OpenAIClient(credential, options).GetChatClient(model).AsIChatClient());
    }

    /// <summary>The readiness URL of the engine at <paramref name="baseUrl"/>: <paramref name="healthPath"/> under the base URL less its <c>/v1</c>.</summary>
    /// <param name="baseUrl">Its OpenAI base URL (<c>http://gpu:8000/v1</c>).</param>
    /// <param name="healthPath">The path of its readiness check (<c>/health/ready</c>).</param>
    public static Uri HealthUrl(string baseUrl, string healthPath)
    {
        var root = baseUrl.TrimEnd('/');
        root = root.EndsWith("/v1", StringComparison.Ordinal) ? root[..^3] : root;
        return new Uri(root + "/" + healthPath.TrimStart('/'));
    }
}
