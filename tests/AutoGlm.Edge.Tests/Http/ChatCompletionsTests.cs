using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using static AutoGlm.Edge.Tests.Http.ApiHelpers;

namespace AutoGlm.Edge.Tests.Http;

/// <summary><c>/v1/chat/completions</c>, <c>/v1/models</c> and health over raw HTTP on a real socket.</summary>
[Collection(DefaultServerCollection.Name)]
public sealed class ChatCompletionsTests(DefaultServerFixture fixture) : IDisposable
{
    private const string TinyPng = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";
    private readonly EdgeServer _server = fixture.Server;
    private readonly HttpClient _client = fixture.Server.CreateClient();

    [Fact]
    public async Task Post_NonStreaming_AnswersCompletionObject()
    {
        var (response, body) = await PostChatAsync(_client, ChatBody());

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("chat.completion", body["object"]!.GetValue<string>());
        Assert.StartsWith("chatcmpl-", body["id"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(EdgeServer.ModelId, body["model"]!.GetValue<string>());
        var choice = body["choices"]![0]!;
        Assert.Equal("assistant", choice["message"]!["role"]!.GetValue<string>());
        Assert.False(string.IsNullOrEmpty(choice["message"]!["content"]!.GetValue<string>()));
        Assert.Contains(choice["finish_reason"]!.GetValue<string>(), new[] { "stop", "length" });
        Assert.False(choice["message"]!.AsObject().ContainsKey("reasoning_content"));
        var usage = body["usage"]!;
        Assert.Equal(usage["prompt_tokens"]!.GetValue<int>() + usage["completion_tokens"]!.GetValue<int>(), usage["total_tokens"]!.GetValue<int>());
    }

    [Fact]
    public async Task Post_SamePromptTwice_UsageAndMetricsCountTheCachedPromptTokens()
    {
        var body = ChatBody(prompt: "Tell me about the cached prompt " + Guid.NewGuid().ToString("N"));
        static double Cached(string metrics) => metrics.Split('\n')
            .Where(l => l.StartsWith("autoglm_edge_cached_prompt_tokens{", StringComparison.Ordinal) && l.Contains("source=\"http\"", StringComparison.Ordinal))
            .Sum(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture));

        var (_, first) = await PostChatAsync(_client, body);
        var before = Cached(await _client.GetStringAsync("metrics"));
        var (response, second) = await PostChatAsync(_client, body);
        var after = Cached(await _client.GetStringAsync("metrics"));

        // The whole prompt is in a slot already; only its last position runs again (it gives the logits to sample from).
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var prompt = second["usage"]!["prompt_tokens"]!.GetValue<int>();
        Assert.Equal(prompt - 1, second["usage"]!["prompt_tokens_details"]!["cached_tokens"]!.GetValue<int>());
        Assert.InRange(first["usage"]!["prompt_tokens_details"]!["cached_tokens"]!.GetValue<int>(), 0, prompt - 1);
        Assert.Equal(prompt - 1, after - before);
    }

    [Fact]
    public async Task Post_SamePromptTwiceWithPrefixCacheOff_NothingCached()
    {
        await using var server = await EdgeServer.StartAsync("Runtime:PrefixCache=false");
        using var client = server.CreateClient();

        await PostChatAsync(client, ChatBody());
        var (response, second) = await PostChatAsync(client, ChatBody());

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(0, second["usage"]!["prompt_tokens_details"]!["cached_tokens"]!.GetValue<int>());
    }

    [Fact]
    public async Task Post_MaxTokensReached_FinishReasonLength()
    {
        var (response, body) = await PostChatAsync(_client, ChatBody(maxTokens: 1));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(1, body["usage"]!["completion_tokens"]!.GetValue<int>());
        Assert.Equal("length", body["choices"]![0]!["finish_reason"]!.GetValue<string>());
    }

    [Fact]
    public async Task Post_Streaming_SendsChunksUsageAndDone()
    {
        using var response = await StartStreamAsync(_client, ChatBody("\"stream\":true,\"stream_options\":{\"include_usage\":true}"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var events = await ReadEventsAsync(response);
        Assert.Equal("[DONE]", events[^1]);
        var chunks = events[..^1].Select(e => JsonNode.Parse(e)!).ToList();
        Assert.All(chunks, c => Assert.Equal("chat.completion.chunk", c["object"]!.GetValue<string>()));
        Assert.Single(chunks.Select(c => c["id"]!.GetValue<string>()).Distinct());
        Assert.Equal("assistant", chunks[0]["choices"]![0]!["delta"]!["role"]!.GetValue<string>());
        var usageChunk = chunks[^1];
        Assert.Empty(usageChunk["choices"]!.AsArray());
        var completionTokens = usageChunk["usage"]!["completion_tokens"]!.GetValue<int>();
        Assert.InRange(completionTokens, 1, 8);
        Assert.Contains(chunks[^2]["choices"]![0]!["finish_reason"]!.GetValue<string>(), new[] { "stop", "length" });
        var text = string.Concat(chunks.SelectMany(c => c["choices"]!.AsArray()).Select(c => c!["delta"]!["content"]?.GetValue<string>()));
        var (_, whole) = await PostChatAsync(_client, ChatBody());
        Assert.Equal(whole["choices"]![0]!["message"]!["content"]!.GetValue<string>(), text);
    }

    [Fact]
    public async Task Post_StreamingWithoutIncludeUsage_HasNoUsageChunk()
    {
        using var response = await StartStreamAsync(_client, ChatBody("\"stream\":true"));

        var events = await ReadEventsAsync(response);
        Assert.Equal("[DONE]", events[^1]);
        Assert.All(events[..^1], e => Assert.NotEmpty(JsonNode.Parse(e)!["choices"]!.AsArray()));
    }

    [Fact]
    public async Task Post_ThinkingWithReturnReasoning_AnswersReasoningContent()
    {
        var (response, body) = await PostChatAsync(_client, ChatBody("\"enable_thinking\":true,\"return_reasoning\":true", maxTokens: 16));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var message = body["choices"]![0]!["message"]!;
        Assert.True(message.AsObject().ContainsKey("reasoning_content"), message.ToJsonString());
        Assert.False(string.IsNullOrEmpty(message["reasoning_content"]?.GetValue<string>()), message.ToJsonString());
    }

    [Fact]
    public async Task Post_ThinkingWithoutReturnReasoning_HidesReasoning()
    {
        var (response, body) = await PostChatAsync(_client, ChatBody("\"enable_thinking\":true", maxTokens: 16));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.False(body["choices"]![0]!["message"]!.AsObject().ContainsKey("reasoning_content"));
    }

    [Fact]
    public async Task Post_StreamingThinkingWithReturnReasoning_StreamsReasoningDeltas()
    {
        using var response = await StartStreamAsync(_client, ChatBody("\"stream\":true,\"enable_thinking\":true,\"return_reasoning\":true"));

        var events = await ReadEventsAsync(response);
        var deltas = events[..^1].Select(e => JsonNode.Parse(e)!["choices"]![0]!["delta"]!).ToList();
        Assert.Contains(deltas, d => !string.IsNullOrEmpty(d["reasoning_content"]?.GetValue<string>()));
    }

    [Fact]
    public async Task Post_StreamingWithoutReasoning_HasNoReasoningDeltas()
    {
        using var response = await StartStreamAsync(_client, ChatBody("\"stream\":true,\"enable_thinking\":true"));

        var events = await ReadEventsAsync(response);
        Assert.DoesNotContain(events, e => e.Contains("reasoning_content", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Post_ImagePart_CountsTheImageRows()
    {
        var body = $$$"""{"messages":[{"role":"user","content":[{"type":"text","text":"What is this?"},{"type":"image_url","image_url":{"url":"data:image/png;base64,{{{TinyPng}}}"}}]}],"max_tokens":2}""";
        var (_, textOnly) = await PostChatAsync(_client, """{"messages":[{"role":"user","content":[{"type":"text","text":"What is this?"}]}],"max_tokens":2}""");

        var (response, answer) = await PostChatAsync(_client, body);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(textOnly["usage"]!["prompt_tokens"]!.GetValue<int>() + 18, answer["usage"]!["prompt_tokens"]!.GetValue<int>());
    }

    [Fact]
    public async Task Post_TopLevelImage_IsRead()
    {
        var (response, body) = await PostChatAsync(_client, ChatBody($"\"image\":\"{TinyPng}\""));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.False(string.IsNullOrEmpty(body["choices"]![0]!["message"]!["content"]!.GetValue<string>()));
    }

    [Fact]
    public async Task Post_InputAudioWithBadBase64_InvalidRequest400()
    {
        var body = """{"messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"not base64!","format":"wav"}}]}]}""";

        var response = await _client.PostAsync("v1/chat/completions", Json(body));

        Assert.Equal("invalid_request", await AssertErrorAsync(response, 400));
    }

    [Fact]
    public async Task Post_PromptLongerThanContext_ContextLengthExceeded400()
    {
        var prompt = string.Join(' ', Enumerable.Repeat("camera", 4000));

        var response = await _client.PostAsync("v1/chat/completions", Json(ChatBody(prompt: prompt)));

        Assert.Equal("context_length_exceeded", await AssertErrorAsync(response, 400));
    }

    [Fact]
    public async Task Post_UnknownModel_NotFound404()
    {
        var response = await _client.PostAsync("v1/chat/completions", Json(ChatBody().Replace(EdgeServer.ModelId, "gpt-4o", StringComparison.Ordinal)));

        Assert.Equal("model_not_found", await AssertErrorAsync(response, 404));
    }

    [Fact]
    public async Task Get_UnknownRoute_NotFound404InOpenAiShape()
    {
        var response = await _client.GetAsync("v1/embeddings");

        Assert.Equal("not_found", await AssertErrorAsync(response, 404));
    }

    [Fact]
    public async Task Get_ChatCompletions_MethodNotAllowed405()
    {
        var response = await _client.GetAsync("v1/chat/completions");

        Assert.Equal("method_not_allowed", await AssertErrorAsync(response, 405));
    }

    [Fact]
    public async Task Post_BodyOverLimit_PayloadTooLarge413()
    {
        var huge = ChatBody(prompt: new string('a', 2 * 1024 * 1024));

        var response = await _client.PostAsync("v1/chat/completions", Json(huge));

        Assert.Equal("request_too_large", await AssertErrorAsync(response, 413));
    }

    [Fact]
    public async Task GetModels_Loaded_ListsPackageWithContextAndModalities()
    {
        var body = JsonNode.Parse(await _client.GetStringAsync("v1/models"))!;

        Assert.Equal("list", body["object"]!.GetValue<string>());
        var model = body["data"]![0]!;
        Assert.Equal(EdgeServer.ModelId, model["id"]!.GetValue<string>());
        Assert.Equal(_server.Engine.ContextLength, model["context_length"]!.GetValue<int>());
        Assert.Equal("text", model["modalities"]![0]!.GetValue<string>());
    }

    [Fact]
    public async Task GetHealth_Loaded_LiveAndReady()
    {
        Assert.Equal(HttpStatusCode.OK, (await _client.GetAsync("health/live")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await _client.GetAsync("health/ready")).StatusCode);
    }

    [Fact]
    public async Task Post_ClientDisconnectsMidStream_CancelsGeneration()
    {
        // A raw socket, so "disconnect" means the connection really closes (HttpClient may drain a response instead).
        var body = Encoding.UTF8.GetBytes(ChatBody("\"stream\":true", maxTokens: 1800));
        using (var socket = new TcpClient())
        {
            await socket.ConnectAsync(_server.BaseAddress.Host, _server.BaseAddress.Port);
            var stream = socket.GetStream();
            var head = $"POST /v1/chat/completions HTTP/1.1\r\nHost: {_server.BaseAddress.Authority}\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\n\r\n";
            await stream.WriteAsync(Encoding.ASCII.GetBytes(head));
            await stream.WriteAsync(body);
            var reader = new StreamReader(stream, Encoding.UTF8);
            Assert.StartsWith("HTTP/1.1 200", await reader.ReadLineAsync(), StringComparison.Ordinal);
            while (await reader.ReadLineAsync() is { } line && !line.StartsWith("data: ", StringComparison.Ordinal))
            {
            }

            Assert.True(_server.Engine.ActiveSequences > 0, "the 1800-token generation should still be running");
            socket.Client.LingerState = new LingerOption(true, 0);
        }

        Assert.True(
            await EdgeServer.EventuallyAsync(() => _server.Logs.Contains(4002)),
            "the server never saw the client go away");
        Assert.True(await EdgeServer.EventuallyAsync(() => _server.Engine.ActiveSequences == 0 && _server.Engine.QueueDepth == 0), "the engine kept the slot");
        Assert.Contains(_server.Logs.Entries, e => e.EventId.Id == 4020 && e.Message.Contains("status=499", StringComparison.Ordinal));
    }

    public void Dispose()
    {
        _client.Dispose();
        _server.Logs.AssertNoErrors();
    }
}
