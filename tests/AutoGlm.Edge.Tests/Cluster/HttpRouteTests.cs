using System.Net;
using System.Text;
using AutoGlm.Edge.Http;
using AutoGlm.Edge.Tests.Http;

namespace AutoGlm.Edge.Tests.Cluster;

/// <summary>An edge and a heavy node, both the real daemon in process on loopback; requests go to the edge's HTTP API.</summary>
[Collection(ClusterCollection.Name)]
public sealed class HttpRouteTests : IAsyncLifetime
{
    private const string Key = "http-route-test-key";

    private EdgeServer _heavy = null!;
    private EdgeServer _edge = null!;

    public async Task InitializeAsync()
    {
        _heavy = await EdgeServer.StartAsync("Cluster:Role=heavy", $"Http:ApiKeys:0={Key}");
        _edge = await EdgeServer.StartAsync("Cluster:Policy=local-only", $"Cluster:Nodes:0:Url={_heavy.BaseAddress}v1", $"Cluster:Nodes:0:ApiKey={Key}");
    }

    [Fact]
    public async Task ChatCompletions_RouteRemote_ServedByHeavyNode()
    {
        using var response = await PostAsync(_edge, "\"route\":\"remote\",");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal($"remote:{_heavy.BaseAddress.Authority}", Header(response, ChatCompletionsEndpoint.ServedByHeader));
        Assert.Equal("route remote requested", Header(response, ChatCompletionsEndpoint.RouteReasonHeader));
    }

    [Fact]
    public async Task ChatCompletions_NoRoute_ServedLocallyByPolicy()
    {
        using var response = await PostAsync(_edge, "");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.StartsWith("local:", Header(response, ChatCompletionsEndpoint.ServedByHeader), StringComparison.Ordinal);
        Assert.Equal("policy local-only", Header(response, ChatCompletionsEndpoint.RouteReasonHeader));
    }

    [Fact]
    public async Task ChatCompletions_StreamedRouteRemote_HeadersAndChunksNameHeavyNode()
    {
        using var response = await PostAsync(_edge, "\"route\":\"remote\",\"stream\":true,");
        var body = await response.Content.ReadAsStringAsync();
        var chunks = body.Split("\n\n", StringSplitOptions.RemoveEmptyEntries)
            .Where(e => e.StartsWith("data: {", StringComparison.Ordinal))
            .Select(e => System.Text.Json.JsonDocument.Parse(e[6..]).RootElement)
            .ToList();

        var remote = $"remote:{_heavy.BaseAddress.Authority}";
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(remote, Header(response, ChatCompletionsEndpoint.ServedByHeader));
        Assert.Equal("route remote requested", Header(response, ChatCompletionsEndpoint.RouteReasonHeader));
        Assert.Equal(remote, chunks[0].GetProperty("served_by").GetString());
        var finish = chunks.Single(c => c.GetProperty("choices")[0].GetProperty("finish_reason").ValueKind == System.Text.Json.JsonValueKind.String);
        Assert.Equal(remote, finish.GetProperty("served_by").GetString());
        Assert.Equal("route remote requested", finish.GetProperty("route_reason").GetString());
        Assert.EndsWith("data: [DONE]\n\n", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CompleteChatStreaming_OfficialClientThroughRouter_ReadsAnswerDespiteRouteFields()
    {
        var client = new OpenAI.Chat.ChatClient(EdgeServer.ModelId, new System.ClientModel.ApiKeyCredential("loopback"), new OpenAI.OpenAIClientOptions { Endpoint = new Uri(_edge.BaseAddress, "v1") });
        var text = new StringBuilder();
        OpenAI.Chat.ChatFinishReason? finish = null;

        await foreach (var update in client.CompleteChatStreamingAsync([new OpenAI.Chat.UserChatMessage("Hello")], new OpenAI.Chat.ChatCompletionOptions { MaxOutputTokenCount = 3 }))
        {
            text.Append(string.Concat(update.ContentUpdate.Select(p => p.Text)));
            finish = update.FinishReason ?? finish;
        }

        Assert.NotEqual(0, text.Length);
        Assert.Equal(OpenAI.Chat.ChatFinishReason.Length, finish);
    }

    [Fact]
    public async Task ChatCompletions_BadRoute_Returns400NamingRoute()
    {
        using var response = await PostAsync(_edge, "\"route\":\"sideways\",");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("\"param\":\"route\"", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ChatCompletions_RouteRemoteWithoutNodes_Returns503RemoteUnavailable()
    {
        using var response = await PostAsync(_heavy, "\"route\":\"remote\",", Key);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Contains("remote_unavailable", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    private static async Task<HttpResponseMessage> PostAsync(EdgeServer server, string extra, string? key = null)
    {
        using var client = server.CreateClient(key);
        var body = $$"""{{{extra}}"messages":[{"role":"user","content":"Hello"}],"max_tokens":3,"seed":1}""";
        return await client.PostAsync(new Uri("v1/chat/completions", UriKind.Relative), new StringContent(body, Encoding.UTF8, "application/json"));
    }

    private static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? values.Single() : null;

    public async Task DisposeAsync()
    {
        await _edge.DisposeAsync();
        await _heavy.DisposeAsync();
    }
}
