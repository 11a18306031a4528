using System.Net;
using System.Security.Cryptography;
using System.Text;
using static AutoGlm.Edge.Tests.Http.ApiHelpers;

namespace AutoGlm.Edge.Tests.Http;

/// <summary>A server with API keys (one plain, others stored as SHA-256), a per-minute limit and one stream per key.</summary>
public sealed class KeyedServerFixture : IAsyncLifetime
{
    public const string PlainKey = "sk-plain-key-for-tests";
    public const string HashedKey = "sk-hashed-key-for-tests";
    public const string RateKey = "sk-rate-limited-key";
    public const string StreamKey = "sk-stream-key";
    public const int RequestsPerMinute = 6;

    public EdgeServer Server { get; private set; } = null!;

    public static string Sha256(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    public async Task InitializeAsync() => Server = await EdgeServer.StartAsync(
        $"Http:ApiKeys:0={PlainKey}",
        $"Http:ApiKeys:1=sha256:{Sha256(HashedKey)}",
        $"Http:ApiKeys:2=sha256:{Sha256(RateKey)}",
        $"Http:ApiKeys:3={StreamKey}",
        $"Http:RequestsPerMinute={RequestsPerMinute}",
        "Http:ConcurrentStreamsPerKey=1");

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

/// <summary>Bearer keys, rate limits and the audit line, over real sockets.</summary>
public sealed class SecurityTests(KeyedServerFixture fixture) : IClassFixture<KeyedServerFixture>, IDisposable
{
    private readonly EdgeServer _server = fixture.Server;

    [Fact]
    public async Task GetModels_NoKey_Unauthorized401()
    {
        using var client = _server.CreateClient();

        var response = await client.GetAsync("v1/models");

        Assert.Equal("missing_api_key", await AssertErrorAsync(response, 401));
        Assert.Equal("Bearer", response.Headers.WwwAuthenticate.Single().Scheme);
    }

    [Fact]
    public async Task PostChat_WrongKey_Unauthorized401()
    {
        using var client = _server.CreateClient("sk-not-a-key");

        var response = await client.PostAsync("v1/chat/completions", Json(ChatBody()));

        Assert.Equal("invalid_api_key", await AssertErrorAsync(response, 401));
    }

    [Fact]
    public async Task PostChat_PlainKey_AnswersAndAuditsKeyIdWithoutKeyOrPrompt()
    {
        using var client = _server.CreateClient(KeyedServerFixture.PlainKey);

        var (response, _) = await PostChatAsync(client, ChatBody(prompt: "zebra-marker-31337"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var keyId = "key-" + KeyedServerFixture.Sha256(KeyedServerFixture.PlainKey)[..8];
        var audit = _server.Logs.Entries.Where(e => e.EventId.Id == 4020).Select(e => e.Message).ToList();
        Assert.Contains(audit, m => m.Contains(keyId, StringComparison.Ordinal) && m.Contains("/v1/chat/completions", StringComparison.Ordinal) && m.Contains("status=200", StringComparison.Ordinal));
        Assert.DoesNotContain(_server.Logs.Entries, e => e.Message.Contains(KeyedServerFixture.PlainKey, StringComparison.Ordinal));
        Assert.DoesNotContain(_server.Logs.Entries, e => e.Message.Contains("zebra-marker", StringComparison.Ordinal));
    }

    [Fact]
    public async Task GetModels_HashedKey_Answers()
    {
        using var client = _server.CreateClient(KeyedServerFixture.HashedKey);

        var response = await client.GetAsync("v1/models");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Theory]
    [InlineData("tokenize", "{\"prompt\":\"hi\"}")]
    [InlineData("detokenize", "{\"tokens\":[5]}")]
    [InlineData("v1/completions", "{\"prompt\":\"hi\",\"max_tokens\":1}")]
    public async Task PostRawRoutes_NoKeyThenKey_Unauthorized401ThenAnswers(string route, string body)
    {
        using var anonymous = _server.CreateClient();
        using var keyed = _server.CreateClient(KeyedServerFixture.HashedKey);

        var refused = await anonymous.PostAsync(route, Json(body));
        var answered = await keyed.PostAsync(route, Json(body));

        Assert.Equal("missing_api_key", await AssertErrorAsync(refused, 401));
        Assert.Equal(HttpStatusCode.OK, answered.StatusCode);
    }

    [Fact]
    public async Task GetHealthAndMetrics_NoKey_Answer()
    {
        using var client = _server.CreateClient();

        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("health/ready")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("health/live")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("metrics")).StatusCode);
    }

    [Fact]
    public async Task GetModels_OverRequestsPerMinute_TooManyRequests429WithRetryAfter()
    {
        using var client = _server.CreateClient(KeyedServerFixture.RateKey);
        HttpResponseMessage? limited = null;
        for (var i = 0; i <= KeyedServerFixture.RequestsPerMinute * 2 && limited is null; i++)
        {
            var response = await client.GetAsync("v1/models");
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                limited = response;
            }
        }

        Assert.NotNull(limited);
        Assert.Equal("rate_limit_exceeded", await AssertErrorAsync(limited!, 429));
        Assert.True(limited!.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1), $"Retry-After: {limited.Headers.RetryAfter}");
    }

    [Fact]
    public async Task PostChat_SecondStreamOfKey_TooManyRequests429()
    {
        using var client = _server.CreateClient(KeyedServerFixture.StreamKey);
        using var cts = new CancellationTokenSource();
        using var first = await StartStreamAsync(client, ChatBody("\"stream\":true", maxTokens: 1800), cts.Token);
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);

        var second = await client.PostAsync("v1/chat/completions", Json(ChatBody()));

        Assert.Equal("rate_limit_exceeded", await AssertErrorAsync(second, 429));
        Assert.NotNull(second.Headers.RetryAfter);
        await cts.CancelAsync();
        first.Dispose();
        Assert.True(await EdgeServer.EventuallyAsync(() => _server.Engine.ActiveSequences == 0 && _server.Engine.QueueDepth == 0));
    }

    public void Dispose() => _server.Logs.AssertNoErrors();
}
