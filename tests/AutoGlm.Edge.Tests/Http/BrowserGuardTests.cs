using System.Net;
using System.Text;
using AutoGlm.Edge.Http;
using AutoGlm.Edge.Tests.Support;
using static AutoGlm.Edge.Tests.Http.ApiHelpers;

namespace AutoGlm.Edge.Tests.Http;

/// <summary>The key-less loopback API answers only loopback <c>Host</c> values and JSON bodies, so web pages cannot drive it.</summary>
[Collection(DefaultServerCollection.Name)]
public sealed class BrowserGuardTests(DefaultServerFixture fixture) : IDisposable
{
    private readonly EdgeServer _server = fixture.Server;

    public void Dispose() => _server.Logs.AssertNoErrors();

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, string? host = null, HttpContent? content = null)
    {
        using var client = _server.CreateClient();
        using var request = new HttpRequestMessage(method, path) { Content = content };
        if (host is not null)
        {
            request.Headers.Host = host;
        }

        return await client.SendAsync(request);
    }

    [Theory]
    [InlineData("GET", "v1/models")]
    [InlineData("POST", "v1/chat/completions")]
    [InlineData("GET", "health/ready")]
    [InlineData("GET", "metrics")]
    public async Task Request_RebindingHost_Forbidden403(string method, string path)
    {
        var response = await SendAsync(new HttpMethod(method), path, "attacker.example:8000", Json(ChatBody()));

        Assert.Equal("host_not_allowed", await AssertErrorAsync(response, 403));
    }

    [Theory]
    [InlineData("localhost")]
    [InlineData("localhost:8000")]
    [InlineData("127.0.0.1:1234")]
    [InlineData("[::1]:8000")]
    [InlineData("device.localhost:8000")]
    public async Task GetModels_LoopbackHost_Answers(string host)
    {
        var response = await SendAsync(HttpMethod.Get, "v1/models", host);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Theory]
    [InlineData("text/plain")]
    [InlineData("application/x-www-form-urlencoded")]
    [InlineData("multipart/form-data; boundary=x")]
    [InlineData(null)]
    public async Task PostChat_NotJsonContentType_UnsupportedMediaType415(string? contentType)
    {
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes(ChatBody()));
        if (contentType is not null)
        {
            content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        }

        var response = await SendAsync(HttpMethod.Post, "v1/chat/completions", content: content);

        Assert.Equal("unsupported_media_type", await AssertErrorAsync(response, 415));
    }

    [Theory]
    [InlineData("v1/completions", "{\"prompt\":\"hi\",\"max_tokens\":1}")]
    [InlineData("tokenize", "{\"prompt\":\"hi\"}")]
    [InlineData("detokenize", "{\"tokens\":[5]}")]
    public async Task PostRawRoutes_FormContentType_UnsupportedMediaType415(string path, string body)
    {
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes(body));
        content.Headers.TryAddWithoutValidation("Content-Type", "application/x-www-form-urlencoded");

        var response = await SendAsync(HttpMethod.Post, path, content: content);

        Assert.Equal("unsupported_media_type", await AssertErrorAsync(response, 415));
    }

    [Theory]
    [InlineData("application/json")]
    [InlineData("application/json; charset=utf-8")]
    [InlineData("Application/JSON")]
    [InlineData("application/vnd.autoglm+json")]
    public async Task PostChat_JsonContentType_Answers(string contentType)
    {
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes(ChatBody()));
        content.Headers.TryAddWithoutValidation("Content-Type", contentType);

        var response = await SendAsync(HttpMethod.Post, "v1/chat/completions", content: content);

        Assert.True(response.StatusCode == HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
    }

    [FactNeeding("curl")]
    public void Curl_JsonHeader_Answers()
    {
        var result = ProcessRunner.Run("curl", ["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Content-Type: application/json", "-d", ChatBody(), new Uri(_server.BaseAddress, "v1/chat/completions").ToString()]);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal("200", result.Output.Trim());
    }

    [Theory]
    [InlineData("localhost", true)]
    [InlineData("LOCALHOST.", true)]
    [InlineData("a.b.localhost", true)]
    [InlineData("127.8.9.10", true)]
    [InlineData("[::1]", true)]
    [InlineData("", true)]
    [InlineData("localhost.attacker.example", false)]
    [InlineData("notlocalhost", false)]
    [InlineData("192.168.1.20", false)]
    [InlineData("[::]", false)]
    [InlineData("0.0.0.0", false)]
    public void IsLoopbackHost_Name_Classified(string host, bool loopback) => Assert.Equal(loopback, BrowserGuard.IsLoopbackHost(host));
}

/// <summary>With keys a foreign <c>Host</c> is fine: a web page cannot send the key.</summary>
public sealed class KeyedBrowserGuardTests(KeyedServerFixture fixture) : IClassFixture<KeyedServerFixture>, IDisposable
{
    private readonly EdgeServer _server = fixture.Server;

    public void Dispose() => _server.Logs.AssertNoErrors();

    [Fact]
    public async Task GetModels_ForeignHostWithKey_Answers()
    {
        using var client = _server.CreateClient(KeyedServerFixture.HashedKey);
        using var request = new HttpRequestMessage(HttpMethod.Get, "v1/models");
        request.Headers.Host = "edge-7.lan:8000";

        var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }
}
