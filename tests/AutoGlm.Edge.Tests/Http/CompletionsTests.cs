using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using AutoGlm.Runtime.Generation;
using AutoGlm.Runtime.Text;
using static AutoGlm.Edge.Tests.Http.ApiHelpers;

namespace AutoGlm.Edge.Tests.Http;

/// <summary><c>/v1/completions</c>, <c>/tokenize</c> and <c>/detokenize</c> over raw HTTP on the tiny model.</summary>
[Collection(DefaultServerCollection.Name)]
public sealed partial class CompletionsTests(DefaultServerFixture fixture) : IDisposable
{
    private const string MixedText = "你好，世界！ Emoji 🙂👍🏽 and\ttabs   spaces\n\n  newlines 日本語テキスト";
    private readonly EdgeServer _server = fixture.Server;
    private readonly HttpClient _client = fixture.Server.CreateClient();

    [Fact]
    public async Task Tokenize_CjkEmojiWhitespace_DetokenizeRoundTrips()
    {
        var plain = await PostAsync("tokenize", new JsonObject { ["prompt"] = MixedText, ["add_special_tokens"] = false });
        var tokens = plain["tokens"]!.AsArray();

        var back = await PostAsync("detokenize", new JsonObject { ["tokens"] = tokens.DeepClone() });

        Assert.Equal(MixedText, back["prompt"]!.GetValue<string>());
        Assert.Equal(tokens.Count, plain["count"]!.GetValue<int>());
        Assert.Equal(_server.Engine.ContextLength, plain["max_model_len"]!.GetValue<int>());
    }

    [Fact]
    public async Task Tokenize_AddSpecialTokensDefault_PrefixesGMaskSop()
    {
        var plain = await PostAsync("tokenize", new JsonObject { ["prompt"] = "hello", ["add_special_tokens"] = false });
        var special = await PostAsync("tokenize", new JsonObject { ["prompt"] = "hello" });

        var tokenizer = _server.Engine.Tokenizer;
        int[] expected = [tokenizer.IdOf(GlmSpecialTokens.GMask), tokenizer.IdOf(GlmSpecialTokens.Sop), .. Ids(plain["tokens"]!)];
        Assert.Equal(expected, Ids(special["tokens"]!));
    }

    [Fact]
    public async Task Tokenize_SpecialTokenStringInText_StaysPlainText()
    {
        var body = await PostAsync("tokenize", new JsonObject { ["prompt"] = "a<|user|>b", ["add_special_tokens"] = false });

        Assert.DoesNotContain(_server.Engine.Tokenizer.IdOf(GlmSpecialTokens.User), Ids(body["tokens"]!));
    }

    [Fact]
    public async Task Completions_StringPrompt_PromptTokensEqualTokenizeCount()
    {
        var tokenized = await PostAsync("tokenize", new JsonObject { ["prompt"] = MixedText });

        var completion = await PostAsync("v1/completions", Body(MixedText, 4));

        Assert.Equal("text_completion", completion["object"]!.GetValue<string>());
        Assert.StartsWith("cmpl-", completion["id"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(tokenized["count"]!.GetValue<int>(), completion["usage"]!["prompt_tokens"]!.GetValue<int>());
    }

    [Fact]
    public async Task Completions_Answered_AuditLineCountsItsTokensWithoutThePrompt()
    {
        var completion = await PostAsync("v1/completions", Body("okapi-marker-4711", 5));

        var usage = completion["usage"]!;
        var expected = $"POST /v1/completions status=200 prompt_tokens={usage["prompt_tokens"]} completion_tokens={usage["completion_tokens"]} ";
        Assert.True(
            await EdgeServer.EventuallyAsync(() => _server.Logs.Entries.Any(e => e.EventId.Id == 4020 && e.Message.Contains(expected, StringComparison.Ordinal))),
            $"no audit line with '{expected}'");
        Assert.DoesNotContain(_server.Logs.Entries, e => e.Message.Contains("okapi-marker", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Completions_TokenIdsPrompt_SameGreedyTextAsStringAndAsEngineWithoutTemplate()
    {
        var ids = Ids((await PostAsync("tokenize", new JsonObject { ["prompt"] = "The quick brown fox" }))["tokens"]!);

        var fromText = await PostAsync("v1/completions", Body("The quick brown fox", 12));
        var fromIds = await PostAsync("v1/completions", Body(new JsonArray([.. ids.Select(i => (JsonNode)i)]), 12));

        var engineText = new StringBuilder();
        await foreach (var item in _server.Engine.GenerateAsync(ids, 12, new SamplingParameters { Temperature = 0 }))
        {
            engineText.Append((item as TextGenerated)?.Text);
        }

        Assert.Equal(Text(fromText), Text(fromIds));
        Assert.Equal(engineText.ToString(), Text(fromIds));
        Assert.Equal(ids.Length, fromIds["usage"]!["prompt_tokens"]!.GetValue<int>());
    }

    [Fact]
    public async Task Completions_Echo_PrependsPromptText()
    {
        var plain = await PostAsync("v1/completions", Body("Echo me", 6));
        var body = Body("Echo me", 6);
        body["echo"] = true;

        var echoed = await PostAsync("v1/completions", body);

        Assert.Equal("Echo me" + Text(plain), Text(echoed));
    }

    [Fact]
    public async Task Completions_Stop_EndsBeforeStopString()
    {
        var full = Text(await PostAsync("v1/completions", Body("Stop here", 24)));
        Assert.True(full.Length >= 6, $"the tiny model wrote too little to cut: '{full}'");
        // Two characters from the middle, not halves of a surrogate pair (a lone surrogate is not valid text).
        var at = Enumerable.Range(full.Length / 2, full.Length - (full.Length / 2) - 1).First(i => !char.IsSurrogate(full[i]) && !char.IsSurrogate(full[i + 1]));
        var stop = full.Substring(at, 2);
        var body = Body("Stop here", 24);
        body["stop"] = stop;

        var cut = await PostAsync("v1/completions", body);

        Assert.Equal(full[..full.IndexOf(stop, StringComparison.Ordinal)], Text(cut));
        Assert.Equal("stop", cut["choices"]![0]!["finish_reason"]!.GetValue<string>());
    }

    [Fact]
    public async Task Completions_Stream_EqualsNonStreamTextAndLogprobs()
    {
        var body = Body("Streaming test", 10);
        body["logprobs"] = 3;
        var whole = await PostAsync("v1/completions", body);
        body["stream"] = true;
        body["stream_options"] = new JsonObject { ["include_usage"] = true };

        using var response = await _client.PostAsync("v1/completions", Json(body.ToJsonString()));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var events = await ReadEventsAsync(response);

        Assert.Equal("[DONE]", events[^1]);
        var chunks = events[..^1].Select(e => JsonNode.Parse(e)!).ToList();
        Assert.All(chunks, c => Assert.Equal("text_completion", c["object"]!.GetValue<string>()));
        var choices = chunks[..^1].Select(c => c["choices"]![0]!).ToList();
        Assert.Equal(Text(whole), string.Concat(choices.Select(c => c["text"]!.GetValue<string>())));
        var streamedTokens = choices.Where(c => c["logprobs"] is not null).SelectMany(c => c["logprobs"]!["tokens"]!.AsArray().Select(t => t!.GetValue<string>()));
        Assert.Equal(whole["choices"]![0]!["logprobs"]!["tokens"]!.AsArray().Select(t => t!.GetValue<string>()), streamedTokens);
        var streamedOffsets = choices.Where(c => c["logprobs"] is not null).SelectMany(c => c["logprobs"]!["text_offset"]!.AsArray().Select(t => t!.GetValue<int>()));
        Assert.Equal(whole["choices"]![0]!["logprobs"]!["text_offset"]!.AsArray().Select(t => t!.GetValue<int>()), streamedOffsets);
        Assert.Equal(whole["choices"]![0]!["finish_reason"]!.GetValue<string>(), choices[^1]["finish_reason"]!.GetValue<string>());
        Assert.Empty(chunks[^1]["choices"]!.AsArray());
        // The counts, not prompt_tokens_details: the streamed request finds the first one's prompt in the prefix cache.
        foreach (var count in new[] { "prompt_tokens", "completion_tokens", "total_tokens" })
        {
            Assert.Equal(whole["usage"]![count]!.GetValue<int>(), chunks[^1]["usage"]![count]!.GetValue<int>());
        }
    }

    [Fact]
    public async Task Completions_Logprobs_TopListsSortedAndGreedyTokenIsTheFirst()
    {
        var body = Body("Log probabilities", 8);
        body["logprobs"] = 5;

        var completion = await PostAsync("v1/completions", body);

        var logprobs = completion["choices"]![0]!["logprobs"]!;
        var tokens = logprobs["tokens"]!.AsArray().Select(t => t!.GetValue<string>()).ToList();
        var chosen = logprobs["token_logprobs"]!.AsArray().Select(t => t!.GetValue<double>()).ToList();
        var tops = logprobs["top_logprobs"]!.AsArray().Select(t => t!.AsObject().Select(p => (p.Key, Value: p.Value!.GetValue<double>())).ToList()).ToList();
        var offsets = logprobs["text_offset"]!.AsArray().Select(t => t!.GetValue<int>()).ToList();
        Assert.Equal(completion["usage"]!["completion_tokens"]!.GetValue<int>(), tokens.Count);
        Assert.Equal(tokens.Count, chosen.Count);
        Assert.Equal(tokens.Count, tops.Count);
        Assert.Equal(0, offsets[0]);
        Assert.Equal(offsets.Order(), offsets);
        for (var i = 0; i < tokens.Count; i++)
        {
            Assert.Equal(5, tops[i].Count);
            Assert.Equal(tops[i].Select(t => t.Value).OrderDescending(), tops[i].Select(t => t.Value));
            Assert.InRange(tops[i].Sum(t => Math.Exp(t.Value)), 0, 1 + 1e-5);
            Assert.All(tops[i], t => Assert.True(t.Value <= 0));

            // Greedy: the chosen token is the most likely one and its logprob is its own entry.
            Assert.Equal(tops[i][0].Value, chosen[i], 5);
        }
    }

    [Fact]
    public async Task Completions_LogprobsWhileSampling_EachTokenListedWithItsOwnLogprob()
    {
        var body = Body("Sampled tokens", 16);
        body["temperature"] = 1.5;
        body["seed"] = 9;
        body["logprobs"] = 1;
        body["return_tokens_as_token_ids"] = true;

        var completion = await PostAsync("v1/completions", body);

        var logprobs = completion["choices"]![0]!["logprobs"]!;
        var tokens = logprobs["tokens"]!.AsArray().Select(t => t!.GetValue<string>()).ToList();
        var chosen = logprobs["token_logprobs"]!.AsArray().Select(t => t!.GetValue<double>()).ToList();
        var tops = logprobs["top_logprobs"]!.AsArray().Select(t => t!.AsObject()).ToList();
        for (var i = 0; i < tokens.Count; i++)
        {
            Assert.True(tops[i].ContainsKey(tokens[i]), $"token {i} ({tokens[i]}) is missing from its top_logprobs {tops[i].ToJsonString()}");
            Assert.Equal(chosen[i], tops[i][tokens[i]]!.GetValue<double>(), 6);
            Assert.InRange(tops[i].Count, 1, 2);
            Assert.True(tops[i].First().Value!.GetValue<double>() >= chosen[i]);
        }

        // At this temperature some sampled token was not the most likely one: it came after the top entry.
        Assert.Contains(tops, t => t.Count == 2);
    }

    [Fact]
    public async Task Completions_ReturnTokensAsTokenIds_NamesTokensByIdThatDetokenizeToTheText()
    {
        var body = Body("Token ids please", 8);
        body["logprobs"] = 2;
        body["return_tokens_as_token_ids"] = true;

        var completion = await PostAsync("v1/completions", body);

        var logprobs = completion["choices"]![0]!["logprobs"]!;
        var names = logprobs["tokens"]!.AsArray().Select(t => t!.GetValue<string>()).ToList();
        Assert.All(names, n => Assert.Matches(TokenIdName(), n));
        Assert.All(logprobs["top_logprobs"]!.AsArray(), top => Assert.All(top!.AsObject(), p => Assert.Matches(TokenIdName(), p.Key)));
        Assert.Contains(names[0], logprobs["top_logprobs"]![0]!.AsObject().Select(p => p.Key));
        if (completion["choices"]![0]!["finish_reason"]!.GetValue<string>() == "length")
        {
            var ids = new JsonArray([.. names.Select(n => (JsonNode)int.Parse(n["token_id:".Length..], System.Globalization.CultureInfo.InvariantCulture))]);
            var decoded = await PostAsync("detokenize", new JsonObject { ["tokens"] = ids });
            Assert.Equal(Text(completion), decoded["prompt"]!.GetValue<string>());
        }
    }

    [Theory]
    [InlineData("v1/completions", """{"max_tokens":2}""", "prompt")]
    [InlineData("v1/completions", """{"prompt":[1,"a"]}""", "prompt[1]")]
    [InlineData("v1/completions", """{"prompt":[1,-2]}""", "prompt[1]")]
    [InlineData("v1/completions", """{"prompt":[5,99999999]}""", "prompt[1]")]
    [InlineData("v1/completions", """{"prompt":["one","two"]}""", "prompt")]
    [InlineData("v1/completions", """{"prompt":{"text":"x"}}""", "prompt")]
    [InlineData("v1/completions", """{"prompt":"x","suffix":"tail"}""", "suffix")]
    [InlineData("v1/completions", """{"prompt":"x","best_of":2}""", "best_of")]
    [InlineData("v1/completions", """{"prompt":"x","n":2}""", "n")]
    [InlineData("v1/completions", """{"prompt":"x","logprobs":21}""", "logprobs")]
    [InlineData("v1/completions", """{"prompt":"x","logprobs":2,"echo":true}""", "echo")]
    [InlineData("v1/completions", """{"prompt":"x","temperature":-1}""", "temperature")]
    [InlineData("v1/completions", """{"prompt":"x","max_tokens":0}""", "max_tokens")]
    [InlineData("v1/completions", """{"prompt":"x","grammar":"g"}""", "grammar")]
    [InlineData("tokenize", """{"prompt":5}""", "prompt")]
    [InlineData("tokenize", """{}""", "prompt")]
    [InlineData("tokenize", """{"prompt":"x","add_special_tokens":"yes"}""", "add_special_tokens")]
    [InlineData("detokenize", """{"tokens":[1,"a"]}""", "tokens[1]")]
    [InlineData("detokenize", """{"tokens":[3,1.5]}""", "tokens[1]")]
    [InlineData("detokenize", """{"tokens":[-1]}""", "tokens[0]")]
    [InlineData("detokenize", """{"tokens":"1 2"}""", "tokens")]
    [InlineData("detokenize", """{"tokens":[1],"tokens":[2]}""", "tokens")]
    [InlineData("v1/completions", """{"prompt":"a","prompt":[2]}""", "prompt")]
    public async Task Post_BadInput_BadRequestNamingTheField(string route, string body, string param)
    {
        var response = await _client.PostAsync(route, Json(body));

        await AssertErrorAsync(response, 400);
        Assert.Equal(param, JsonNode.Parse(await response.Content.ReadAsStringAsync())!["error"]!["param"]?.GetValue<string>());
    }

    [Fact]
    public async Task Completions_PromptTooLongForContext_BadRequest()
    {
        var ids = new JsonArray([.. Enumerable.Range(0, _server.Engine.ContextLength).Select(_ => (JsonNode)5)]);

        var response = await _client.PostAsync("v1/completions", Json(Body(ids, 4).ToJsonString()));

        Assert.Equal("context_length_exceeded", await AssertErrorAsync(response, 400));
    }

    public void Dispose() => _client.Dispose();

    [GeneratedRegex(@"^token_id:\d+$")]
    private static partial Regex TokenIdName();

    private static JsonObject Body(JsonNode prompt, int maxTokens) => new()
    {
        ["model"] = EdgeServer.ModelId,
        ["prompt"] = prompt,
        ["max_tokens"] = maxTokens,
        ["temperature"] = 0,
    };

    private static string Text(JsonNode completion) => completion["choices"]![0]!["text"]!.GetValue<string>();

    private static int[] Ids(JsonNode tokens) => [.. tokens.AsArray().Select(t => t!.GetValue<int>())];

    private async Task<JsonNode> PostAsync(string route, JsonObject body)
    {
        var response = await _client.PostAsync(route, Json(body.ToJsonString()));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{route}: {(int)response.StatusCode} {text}");
        return JsonNode.Parse(text)!;
    }
}
