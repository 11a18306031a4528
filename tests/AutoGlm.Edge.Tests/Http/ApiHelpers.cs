using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace AutoGlm.Edge.Tests.Http;

/// <summary>Raw-HTTP helpers: post JSON, read SSE, check OpenAI-shaped errors.</summary>
internal static class ApiHelpers
{
    public static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    /// <summary>A good chat body (greedy, 8 tokens by default) with <paramref name="extra"/> fields appended.</summary>
    public static string ChatBody(string extra = "", string prompt = "Hello there", int maxTokens = 8) =>
        $$"""{"model":"{{EdgeServer.ModelId}}","messages":[{"role":"user","content":"{{prompt}}"}],"max_tokens":{{maxTokens}},"temperature":0{{(extra.Length > 0 ? "," + extra : "")}}}""";

    public static async Task<(HttpResponseMessage Response, JsonNode Body)> PostChatAsync(HttpClient client, string body)
    {
        var response = await client.PostAsync("v1/chat/completions", Json(body));
        var text = await response.Content.ReadAsStringAsync();
        return (response, JsonNode.Parse(text)!);
    }

    /// <summary>Asserts an OpenAI-shaped error body with a message; returns its code.</summary>
    public static async Task<string> AssertErrorAsync(HttpResponseMessage response, int status)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True((int)response.StatusCode == status, $"expected {status}, got {(int)response.StatusCode}: {text}");
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var error = JsonNode.Parse(text)!["error"]!;
        Assert.False(string.IsNullOrWhiteSpace(error["message"]!.GetValue<string>()));
        Assert.False(string.IsNullOrWhiteSpace(error["type"]!.GetValue<string>()));
        Assert.True(error.AsObject().ContainsKey("param"));
        return error["code"]!.GetValue<string>();
    }

    /// <summary>Posts a streaming request and returns the response with its headers read (the body still open).</summary>
    public static async Task<HttpResponseMessage> StartStreamAsync(HttpClient client, string body, CancellationToken cancellationToken = default)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions") { Content = Json(body) };
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        return await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
    }

    /// <summary>Reads every SSE <c>data:</c> payload to the end.</summary>
    public static async Task<List<string>> ReadEventsAsync(HttpResponseMessage response)
    {
        var events = new List<string>();
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        while (await reader.ReadLineAsync() is { } line)
        {
            if (line.Length == 0)
            {
                continue;
            }

            Assert.StartsWith("data: ", line, StringComparison.Ordinal);
            events.Add(line["data: ".Length..]);
        }

        return events;
    }

    public static JsonElement Parse(string json) => JsonDocument.Parse(json).RootElement;
}
