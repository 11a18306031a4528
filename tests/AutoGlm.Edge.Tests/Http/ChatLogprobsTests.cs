using System.ClientModel;
using System.Net;
using System.Text.Json.Nodes;
using OpenAI;
using OpenAI.Chat;
using static AutoGlm.Edge.Tests.Http.ApiHelpers;

namespace AutoGlm.Edge.Tests.Http;

/// <summary>
/// <c>logprobs</c> and <c>top_logprobs</c> on chat completions, in OpenAI's shape, streamed and not: the values are the
/// engine's log-softmax, the same the raw <c>/v1/completions</c> gives for the same prompt tokens.
/// </summary>
[Collection(DefaultServerCollection.Name)]
public sealed class ChatLogprobsTests(DefaultServerFixture fixture) : IDisposable
{
    private readonly EdgeServer _server = fixture.Server;
    private readonly HttpClient _client = fixture.Server.CreateClient();

    [Fact]
    public async Task ChatLogprobs_Greedy_SameValuesAsRawCompletionOfTheRenderedPrompt()
    {
        var chat = await PostAsync("v1/chat/completions", Chat("Score these tokens", 6, top: 4));
        var rendered = _server.Engine.RenderPrompt([new Microsoft.Extensions.AI.ChatMessage(Microsoft.Extensions.AI.ChatRole.User, "Score these tokens")]);
        var raw = await PostAsync("v1/completions", new JsonObject
        {
            ["model"] = EdgeServer.ModelId,
            ["prompt"] = new JsonArray([.. rendered.Select(id => (JsonNode)id)]),
            ["max_tokens"] = 6,
            ["temperature"] = 0,
            ["logprobs"] = 4,
        });

        var content = chat["choices"]![0]!["logprobs"]!["content"]!.AsArray();
        var expected = raw["choices"]![0]!["logprobs"]!["token_logprobs"]!.AsArray().Select(v => v!.GetValue<double>()).ToList();
        Assert.Equal(chat["usage"]!["completion_tokens"]!.GetValue<int>(), content.Count);
        Assert.Equal(expected.Count, content.Count);
        for (var i = 0; i < content.Count; i++)
        {
            var entry = content[i]!;
            var top = entry["top_logprobs"]!.AsArray().Select(t => t!["logprob"]!.GetValue<double>()).ToList();
            Assert.Equal(expected[i], entry["logprob"]!.GetValue<double>(), 4);
            Assert.Equal(4, top.Count);
            Assert.Equal(top.OrderDescending(), top);
            Assert.Equal(top[0], entry["logprob"]!.GetValue<double>(), 5); // greedy: the chosen token is the most likely
            Assert.Equal(System.Text.Encoding.UTF8.GetBytes(entry["token"]!.GetValue<string>()), entry["bytes"]!.AsArray().Select(b => (byte)b!.GetValue<int>()));
        }
    }

    [Fact]
    public async Task ChatLogprobs_Stream_SameTokensAsNonStreamAndTokenIdsWhenAsked()
    {
        var body = Chat("Stream the scores", 6, top: 2);
        var whole = await PostAsync("v1/chat/completions", body);
        body["stream"] = true;
        body["return_tokens_as_token_ids"] = true;

        using var response = await StartStreamAsync(_client, body.ToJsonString());
        var chunks = (await ReadEventsAsync(response)).Where(e => e != "[DONE]").Select(e => JsonNode.Parse(e)!).ToList();

        var streamed = chunks.Select(c => c["choices"]![0]!["logprobs"]).Where(l => l is not null).SelectMany(l => l!["content"]!.AsArray()).ToList();
        var expected = whole["choices"]![0]!["logprobs"]!["content"]!.AsArray();
        Assert.Equal(expected.Count, streamed.Count);
        for (var i = 0; i < streamed.Count; i++)
        {
            Assert.Matches("^token_id:[0-9]+$", streamed[i]!["token"]!.GetValue<string>());
            // The second run reads the first one's prompt from the prefix cache: the same values up to float rounding.
            Assert.Equal(expected[i]!["logprob"]!.GetValue<double>(), streamed[i]!["logprob"]!.GetValue<double>(), 4);
        }
    }

    [Fact]
    public async Task ChatLogprobs_OfficialClient_ReadsContentTokenLogProbabilities()
    {
        var client = new ChatClient(EdgeServer.ModelId, new ApiKeyCredential("no-key-needed-on-loopback"), new OpenAIClientOptions { Endpoint = new Uri(_server.BaseAddress, "v1") });

        ChatCompletion completion = await client.CompleteChatAsync(
            [new UserChatMessage("Hello with scores")],
            new ChatCompletionOptions { MaxOutputTokenCount = 5, Temperature = 0, IncludeLogProbabilities = true, TopLogProbabilityCount = 3 });

        Assert.Equal(completion.Usage.OutputTokenCount, completion.ContentTokenLogProbabilities.Count);
        Assert.All(completion.ContentTokenLogProbabilities, t =>
        {
            Assert.True(t.LogProbability <= 0);
            Assert.Equal(3, t.TopLogProbabilities.Count);
        });
    }

    [Fact]
    public async Task SkipSpecialTokensFalse_ThinkingTurn_ReplyComesAsTheModelWroteIt()
    {
        JsonObject Body() => new()
        {
            ["model"] = EdgeServer.ModelId,
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "Think, then answer" }),
            ["max_tokens"] = 12,
            ["temperature"] = 0,
            ["enable_thinking"] = true,
            ["return_reasoning"] = true,
        };
        var split = (await PostAsync("v1/chat/completions", Body()))["choices"]![0]!["message"]!;
        var rawBody = Body();
        rawBody["skip_special_tokens"] = false;

        var raw = (await PostAsync("v1/chat/completions", rawBody))["choices"]![0]!["message"]!;

        // The thinking is not split off: it leads the content, and the answer follows its </think> as written.
        var thought = split["reasoning_content"]?.GetValue<string>() ?? "";
        var answer = split["content"]!.GetValue<string>();
        var content = raw["content"]!.GetValue<string>();
        Assert.True(raw["reasoning_content"] is null || string.IsNullOrEmpty(raw["reasoning_content"]!.GetValue<string>()), raw.ToJsonString());
        Assert.NotEmpty(content);
        Assert.StartsWith(thought, content, StringComparison.Ordinal);
        Assert.Equal(answer.Length == 0 ? thought : $"{thought}</think>{answer}", content.Replace("<answer>", "", StringComparison.Ordinal).Replace("</answer>", "", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("""{"messages":[{"role":"user","content":"hi"}],"top_logprobs":3}""", "top_logprobs")]
    [InlineData("""{"messages":[{"role":"user","content":"hi"}],"logprobs":true,"top_logprobs":21}""", "top_logprobs")]
    [InlineData("""{"messages":[{"role":"user","content":"hi"}],"logprobs":true,"route":"remote"}""", "logprobs")]
    public async Task ChatLogprobs_BadRequest_RefusedNamingTheField(string body, string param)
    {
        var response = await _client.PostAsync("v1/chat/completions", Json(body));

        var text = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(param, JsonNode.Parse(text)!["error"]!["param"]!.GetValue<string>());
    }

    public void Dispose() => _client.Dispose();

    private static JsonObject Chat(string prompt, int maxTokens, int top) => new()
    {
        ["model"] = EdgeServer.ModelId,
        ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = prompt }),
        ["max_tokens"] = maxTokens,
        ["temperature"] = 0,
        ["logprobs"] = true,
        ["top_logprobs"] = top,
    };

    private async Task<JsonNode> PostAsync(string route, JsonObject body)
    {
        var response = await _client.PostAsync(route, Json(body.ToJsonString()));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{route}: {(int)response.StatusCode} {text}");
        return JsonNode.Parse(text)!;
    }
}
