using System.Net;
using System.Text.Json.Nodes;
using AutoGlm.Edge.Tests.Support;
using static AutoGlm.Edge.Tests.Http.ApiHelpers;

namespace AutoGlm.Edge.Tests.Http;

/// <summary>The holes a hostile probe found in the HTTP API: bad text, range errors, methods, GIF garbage, the audit of a cut stream.</summary>
[Collection(DefaultServerCollection.Name)]
public sealed class HttpHardeningTests(DefaultServerFixture fixture) : IDisposable
{
    private const string User = """{"role":"user","content":"hi"}""";
    private readonly EdgeServer _server = fixture.Server;

    public void Dispose() => _server.Logs.AssertNoErrors();

    private static async Task<JsonNode> ErrorAsync(HttpResponseMessage response, int status)
    {
        await AssertErrorAsync(response, status);
        return JsonNode.Parse(await response.Content.ReadAsStringAsync())!["error"]!;
    }

    [Theory]
    [InlineData("""{"messages":[{"role":"user","content":"a\ud800b"}]}""", "messages[0].content")]
    [InlineData("""{"messages":[{"role":"user","content":[{"type":"text","text":"\udc00"}]}]}""", "messages[0].content[0].text")]
    [InlineData("""{"messages":[{"role":"user","content":"hi"}],"stop":["x\ud83d"]}""", "stop[0]")]
    [InlineData("""{"messages":[{"role":"user","content":"hi","na\ud800me":"x"}]}""", "messages[0] (a property name)")]
    public async Task PostChat_LoneSurrogate_BadRequest400NamingTheField(string body, string param)
    {
        using var client = _server.CreateClient();

        var response = await client.PostAsync("v1/chat/completions", Json(body));

        var error = await ErrorAsync(response, 400);
        Assert.Equal("invalid_request", error["code"]!.GetValue<string>());
        Assert.Equal(param, error["param"]!.GetValue<string>());
        Assert.Contains("surrogate", error["message"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task PostChat_InvalidUtf8Bytes_BadRequest400NamingTheField()
    {
        using var client = _server.CreateClient();
        var body = System.Text.Encoding.UTF8.GetBytes("""{"messages":[{"role":"user","content":"a__b"}]}""");
        var at = Array.IndexOf(body, (byte)'_');
        (body[at], body[at + 1]) = (0xC3, 0x28);
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new("application/json");

        var response = await client.PostAsync("v1/chat/completions", content);

        Assert.True((int)response.StatusCode == 400, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task PostChat_PairedSurrogateEscape_Answers()
    {
        using var client = _server.CreateClient();

        var (response, _) = await PostChatAsync(client, ChatBody(prompt: "smile \\ud83d\\ude00"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Theory]
    [InlineData("\"temperature\":5", "temperature")]
    [InlineData("\"temperature\":-0.5", "temperature")]
    [InlineData("\"top_p\":0", "top_p")]
    [InlineData("\"top_p\":1.5", "top_p")]
    [InlineData("\"top_k\":-1", "top_k")]
    [InlineData("\"frequency_penalty\":3", "frequency_penalty")]
    [InlineData("\"presence_penalty\":-3", "presence_penalty")]
    [InlineData("\"repetition_penalty\":0", "repetition_penalty")]
    [InlineData("\"max_tokens\":0", "max_tokens")]
    [InlineData("\"max_completion_tokens\":-4", "max_completion_tokens")]
    [InlineData("\"stop\":\"\"", "stop")]
    [InlineData("\"n\":3", "n")]
    public async Task PostChat_ValueOutOfRange_ErrorNamesItsParam(string field, string param)
    {
        using var client = _server.CreateClient();

        var response = await client.PostAsync("v1/chat/completions", Json($$"""{"messages":[{{User}}],{{field}}}"""));

        var error = await ErrorAsync(response, 400);
        Assert.Equal(param, error["param"]?.GetValue<string>());
        Assert.Contains(param, error["message"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("health/live", "live\n")]
    [InlineData("health/ready", "ready\n")]
    [InlineData("metrics", null)] // a scrape: its text changes between two requests
    public async Task Head_HealthEndpoint_AnswersLikeGetWithoutBody(string path, string? getBody)
    {
        using var client = _server.CreateClient();

        var get = await client.GetAsync(path);
        var head = await client.SendAsync(new HttpRequestMessage(HttpMethod.Head, path));

        Assert.Equal(HttpStatusCode.OK, get.StatusCode);
        var body = await get.Content.ReadAsStringAsync();
        Assert.Equal(getBody ?? body, body);
        Assert.NotEmpty(body);
        Assert.Equal(get.StatusCode, head.StatusCode);
        Assert.Equal(get.Content.Headers.ContentType, head.Content.Headers.ContentType);
        Assert.Empty(await head.Content.ReadAsByteArrayAsync());
    }

    [Theory]
    [InlineData("PUT", "metrics", "GET, HEAD")]
    [InlineData("POST", "metrics", "GET, HEAD")]
    [InlineData("DELETE", "health/live", "GET, HEAD")]
    [InlineData("PUT", "v1/models", "GET")]
    [InlineData("GET", "v1/chat/completions", "POST")]
    public async Task WrongMethod_KnownRoute_MethodNotAllowed405WithAllow(string method, string path, string allow)
    {
        using var client = _server.CreateClient();

        var response = await client.SendAsync(new HttpRequestMessage(new HttpMethod(method), path) { Content = method == "GET" ? null : Json("{}") });

        var error = await ErrorAsync(response, 405);
        Assert.Equal("method_not_allowed", error["code"]!.GetValue<string>());
        Assert.Equal(allow, string.Join(", ", response.Content.Headers.Allow));
        Assert.Contains(allow, error["message"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task PostChat_GifHeaderThenGarbage_UnsupportedMedia400()
    {
        using var client = _server.CreateClient();
        var gif = new byte[600];
        new Random(7).NextBytes(gif);
        "GIF89a"u8.CopyTo(gif);
        (gif[6], gif[7], gif[8], gif[9]) = (0xFF, 0xFF, 0xFF, 0xFF);
        var body = $$$"""{"messages":[{"role":"user","content":[{"type":"text","text":"what is it?"},{"type":"image_url","image_url":{"url":"data:image/gif;base64,{{{Convert.ToBase64String(gif)}}}"}}]}]}""";

        var response = await client.PostAsync("v1/chat/completions", Json(body));

        Assert.Equal("unsupported_media", await AssertErrorAsync(response, 400));
    }

    [Fact]
    public async Task PostChat_StreamCancelledByClient_AuditCountsItsTokens()
    {
        bool IsCutAudit(CapturedLogs.Entry e) => e.EventId.Id == 4020 && e.Message.Contains("status=499", StringComparison.Ordinal);
        var earlier = _server.Logs.Entries.Count(IsCutAudit);
        using var client = _server.CreateClient();
        using var cts = new CancellationTokenSource();
        using var response = await StartStreamAsync(client, ChatBody("\"stream\":true", prompt: "cancelled-audit-marker", maxTokens: 1800), cts.Token);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using (var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cts.Token)))
        {
            var contentChunks = 0;
            while (contentChunks < 4 && await reader.ReadLineAsync(cts.Token) is { } line)
            {
                contentChunks += line.Contains("\"content\":\"", StringComparison.Ordinal) && !line.Contains("\"content\":\"\"", StringComparison.Ordinal) ? 1 : 0;
            }

            await cts.CancelAsync();
        }

        string? audit = null;
        await Poll.UntilAsync(
            () => (audit = _server.Logs.Entries.Where(IsCutAudit).Skip(earlier).FirstOrDefault()?.Message) is not null,
            "the audit line of the cancelled stream");
        var completion = int.Parse(System.Text.RegularExpressions.Regex.Match(audit!, "completion_tokens=(\\d+)").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        var prompt = int.Parse(System.Text.RegularExpressions.Regex.Match(audit!, "prompt_tokens=(\\d+)").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(completion >= 4, audit);
        Assert.True(prompt > 0, audit);
        await Poll.UntilAsync(() => _server.Engine.ActiveSequences == 0, "the cancelled sequence to end");
    }
}
