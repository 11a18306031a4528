using AutoGlm.Edge.Http;
using Microsoft.Extensions.Options;

namespace AutoGlm.Edge.Tests.Http;

public sealed class HttpOptionsTests
{
    [Fact]
    public async Task StartAsync_NonLoopbackBindWithoutKey_RefusesNamingTheKey()
    {
        await using var app = EdgeServer.Build("Http:Urls=http://0.0.0.0:0");

        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => app.StartAsync());

        Assert.Contains("Http:ApiKeys", ex.Message, StringComparison.Ordinal);
        Assert.Contains("not loopback", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("RequestsPerMinute", "-5")]
    [InlineData("RequestsPerMinute", "1000000000")]
    [InlineData("ConcurrentStreamsPerKey", "-1")]
    [InlineData("MaxRequestBodyBytes", "-1")]
    [InlineData("MaxRequestBodyBytes", "3000000000")]
    [InlineData("MaxJsonDepth", "0")]
    [InlineData("MaxJsonDepth", "1000000")]
    [InlineData("RequestTimeoutSeconds", "-30")]
    [InlineData("RequestTimeoutSeconds", "5000000")]
    public async Task StartAsync_ImpossibleNumber_RefusesNamingTheKey(string key, string value)
    {
        await using var app = EdgeServer.Build($"Http:{key}={value}");

        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => app.StartAsync());

        var failure = Assert.Single(ex.Failures);
        Assert.StartsWith($"Http:{key} must be", failure, StringComparison.Ordinal);
        Assert.Contains($"(got {value})", failure, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_NonLoopbackWithKey_Succeeds()
    {
        var result = new HttpOptionsValidator().Validate(null, new HttpOptions { Urls = "http://0.0.0.0:8000", ApiKeys = ["k"] });

        Assert.True(result.Succeeded, result.FailureMessage);
    }

    [Theory]
    [InlineData("http://127.0.0.1:8000", true)]
    [InlineData("http://localhost:8000", true)]
    [InlineData("http://[::1]:8000", true)]
    [InlineData("http://0.0.0.0:8000", false)]
    [InlineData("http://*:8000", false)]
    [InlineData("http://+:8000", false)]
    [InlineData("http://192.168.1.20:8000", false)]
    public void IsLoopback_Url_Classified(string url, bool loopback) => Assert.Equal(loopback, HttpOptions.IsLoopback(url));

    [Fact]
    public void Validate_SeveralBadValues_ReportsEveryKey()
    {
        var options = new HttpOptions
        {
            Urls = "ftp://somewhere",
            ApiKeys = ["sha256:abc"],
            RequestsPerMinute = -1,
            MaxRequestBodyBytes = 0,
            MaxJsonDepth = 0,
            RequestTimeoutSeconds = 0,
        };

        var result = new HttpOptionsValidator().Validate(null, options);

        Assert.True(result.Failed);
        foreach (var key in new[] { "Http:Urls", "Http:ApiKeys:0", "Http:RequestsPerMinute", "Http:MaxRequestBodyBytes", "Http:MaxJsonDepth", "Http:RequestTimeoutSeconds" })
        {
            Assert.Contains(key, result.FailureMessage, StringComparison.Ordinal);
        }
    }
}

public sealed class ApiKeyStoreTests
{
    [Fact]
    public void TryAuthenticate_PlainAndHashedKeys_MatchWithStableIds()
    {
        var store = new ApiKeyStore(["plain-key", "sha256:" + KeyedServerFixture.Sha256("hashed-key")]);

        Assert.True(store.TryAuthenticate("plain-key", out var plainId));
        Assert.True(store.TryAuthenticate("hashed-key", out var hashedId));
        Assert.Equal("key-" + KeyedServerFixture.Sha256("plain-key")[..8], plainId);
        Assert.Equal("key-" + KeyedServerFixture.Sha256("hashed-key")[..8], hashedId);
        Assert.DoesNotContain("plain-key", plainId, StringComparison.Ordinal);
    }

    [Fact]
    public void TryAuthenticate_WrongKey_Fails()
    {
        var store = new ApiKeyStore(["plain-key"]);

        Assert.False(store.TryAuthenticate("plain-kez", out var id));
        Assert.Equal("", id);
    }
}

public sealed class ApiErrorTests
{
    [Theory]
    [InlineData(AutoGlm.Runtime.RuntimeErrorCode.InvalidRequest, 400, "invalid_request")]
    [InlineData(AutoGlm.Runtime.RuntimeErrorCode.ContextLengthExceeded, 400, "context_length_exceeded")]
    [InlineData(AutoGlm.Runtime.RuntimeErrorCode.UnsupportedModality, 400, "unsupported_modality")]
    [InlineData(AutoGlm.Runtime.RuntimeErrorCode.UnsupportedMedia, 400, "unsupported_media")]
    [InlineData(AutoGlm.Runtime.RuntimeErrorCode.PayloadTooLarge, 413, "payload_too_large")]
    [InlineData(AutoGlm.Runtime.RuntimeErrorCode.Overloaded, 503, "overloaded")]
    [InlineData(AutoGlm.Runtime.RuntimeErrorCode.ModelUnavailable, 503, "model_unavailable")]
    [InlineData(AutoGlm.Runtime.RuntimeErrorCode.Internal, 500, "internal")]
    public void FromRuntime_Code_MapsToStatusAndWireCode(AutoGlm.Runtime.RuntimeErrorCode code, int status, string wire)
    {
        var error = ApiError.FromRuntime(new AutoGlm.Runtime.RuntimeException(code, "x"));

        Assert.Equal(status, error.Status);
        Assert.Equal(wire, error.Code);
    }
}
