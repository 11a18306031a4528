using System.Net;
using System.Text.Json.Nodes;
using static AutoGlm.Edge.Tests.Http.ApiHelpers;

namespace AutoGlm.Edge.Tests.Http;

/// <summary>Bad chat completion bodies each get a 4xx with a message, and the server goes on answering.</summary>
[Collection(DefaultServerCollection.Name)]
public sealed class BadRequestCorpusTests(DefaultServerFixture fixture) : IDisposable
{
    private const string Png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";
    private const string User = """{"role":"user","content":"hi"}""";
    private readonly EdgeServer _server = fixture.Server;

    public static TheoryData<string, string> Corpus() => new()
    {
        { "empty body", "" },
        { "not JSON", "hello, model" },
        { "truncated JSON", """{"messages":[""" },
        { "array root", "[]" },
        { "string root", "\"hi\"" },
        { "no messages", "{}" },
        { "empty messages", """{"messages":[]}""" },
        { "messages a string", """{"messages":"hi"}""" },
        { "message a number", """{"messages":[1]}""" },
        { "message without role", """{"messages":[{"content":"hi"}]}""" },
        { "unknown role", """{"messages":[{"role":"robot","content":"hi"}]}""" },
        { "tool role", """{"messages":[{"role":"tool","content":"42","tool_call_id":"c1"}]}""" },
        { "user without content", """{"messages":[{"role":"user"}]}""" },
        { "content a number", """{"messages":[{"role":"user","content":42}]}""" },
        { "unknown part type", """{"messages":[{"role":"user","content":[{"type":"video","video":{}}]}]}""" },
        { "part without type", """{"messages":[{"role":"user","content":[{"text":"hi"}]}]}""" },
        { "text part not a string", """{"messages":[{"role":"user","content":[{"type":"text","text":7}]}]}""" },
        { "image over https", """{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://example.com/cat.png"}}]}]}""" },
        { "image bad base64", """{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,!!!"}}]}]}""" },
        { "image not an image type", """{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:text/plain;base64,aGk="}}]}]}""" },
        { "image whose PNG data ends early", $$$"""{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,{{{Png[..24]}}}"}}]}]}""" },
        { "audio WAV with no samples", """{"messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"UklGRiQAAABXQVZFZm10IBAAAAABAAEAgD4AAAB9AAACABAAZGF0YQAAAAA=","format":"wav"}}]}]}""" },
        { "audio format flac", """{"messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"aGk=","format":"flac"}}]}]}""" },
        { "audio bad base64", """{"messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"@@@","format":"wav"}}]}]}""" },
        { "top-level image bad base64", $$$"""{"messages":[{{{User}}}],"image":"%%%"}""" },
        { "top-level image not an image", $$$"""{"messages":[{{{User}}}],"image":"aGVsbG8gd29ybGQ="}""" },
        { "audio output requested", $$$"""{"messages":[{{{User}}}],"audio":{"voice":"alloy","format":"wav"}}""" },
        { "n above 1", $$$"""{"messages":[{{{User}}}],"n":2}""" },
        { "tools", $$$"""{"messages":[{{{User}}}],"tools":[{"type":"function","function":{"name":"f"}}]}""" },
        { "tool_choice required", $$$"""{"messages":[{{{User}}}],"tool_choice":"required"}""" },
        { "assistant tool calls", """{"messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"c1"}]},{"role":"user","content":"hi"}]}""" },
        { "logprobs", $$$"""{"messages":[{{{User}}}],"logprobs":true}""" },
        { "json response format", $$$"""{"messages":[{{{User}}}],"response_format":{"type":"json_object"}}""" },
        { "temperature a string", $$$"""{"messages":[{{{User}}}],"temperature":"hot"}""" },
        { "temperature out of range", $$$"""{"messages":[{{{User}}}],"temperature":5}""" },
        { "top_p zero", $$$"""{"messages":[{{{User}}}],"top_p":0}""" },
        { "frequency_penalty out of range", $$$"""{"messages":[{{{User}}}],"frequency_penalty":3}""" },
        { "max_tokens zero", $$$"""{"messages":[{{{User}}}],"max_tokens":0}""" },
        { "max_tokens fractional", $$$"""{"messages":[{{{User}}}],"max_tokens":1.5}""" },
        { "max_tokens past the context", $$$"""{"messages":[{{{User}}}],"max_tokens":100000}""" },
        { "max_tokens disagree", $$$"""{"messages":[{{{User}}}],"max_tokens":5,"max_completion_tokens":6}""" },
        { "stop numbers", $$$"""{"messages":[{{{User}}}],"stop":[1,2]}""" },
        { "stop empty string", $$$"""{"messages":[{{{User}}}],"stop":""}""" },
        { "stream a string", $$$"""{"messages":[{{{User}}}],"stream":"yes"}""" },
        { "stream_options without stream", $$$"""{"messages":[{{{User}}}],"stream_options":{"include_usage":true}}""" },
        { "seed a string", $$$"""{"messages":[{{{User}}}],"seed":"abc"}""" },
        { "enable_thinking a string", $$$"""{"messages":[{{{User}}}],"enable_thinking":"maybe"}""" },
        { "unknown field", $$$"""{"messages":[{{{User}}}],"frobnicate":1}""" },
        { "duplicate field", $$$"""{"messages":[{{{User}}}],"messages":[{{{User}}}]}""" },
        { "unknown model", $$$"""{"model":"gpt-4o","messages":[{{{User}}}]}""" },
        { "nesting too deep", "{\"messages\":[" + User + "],\"metadata\":" + new string('[', 100) + new string(']', 100) + "}" },
    };

    [Theory]
    [MemberData(nameof(Corpus))]
    public async Task Post_BadBody_Answers4xxWithMessage(string name, string body)
    {
        using var client = _server.CreateClient();

        var response = await client.PostAsync("v1/chat/completions", Json(body));

        var text = await response.Content.ReadAsStringAsync();
        Assert.True((int)response.StatusCode is >= 400 and < 500, $"{name}: got {(int)response.StatusCode}: {text}");
        var error = JsonNode.Parse(text)!["error"]!;
        Assert.False(string.IsNullOrWhiteSpace(error["message"]?.GetValue<string>()), $"{name}: no message in {text}");
        Assert.False(string.IsNullOrWhiteSpace(error["code"]?.GetValue<string>()), $"{name}: no code in {text}");
    }

    [Fact]
    public async Task Post_AfterWholeCorpus_StillAnswersGoodRequest()
    {
        using var client = _server.CreateClient();
        foreach (var row in Corpus())
        {
            var response = await client.PostAsync("v1/chat/completions", Json((string)row[1]));
            Assert.InRange((int)response.StatusCode, 400, 499);
        }

        var (good, body) = await PostChatAsync(client, ChatBody());

        Assert.Equal(HttpStatusCode.OK, good.StatusCode);
        Assert.False(string.IsNullOrEmpty(body["choices"]![0]!["message"]!["content"]!.GetValue<string>()));
    }

    public void Dispose() => _server.Logs.AssertNoErrors();
}
