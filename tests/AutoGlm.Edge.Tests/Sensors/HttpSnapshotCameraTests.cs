using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using AutoGlm.Edge.Sensors;
using AutoGlm.Edge.Tests.Http;
using AutoGlm.Edge.Tests.Support;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AutoGlm.Edge.Tests.Sensors;

/// <summary>
/// The <c>http-snapshot</c> camera against a real local HTTP server standing in for an IP camera or Frigate: a JPEG per
/// request, behind basic or digest authentication, and the ways a camera fails.
/// </summary>
public sealed class HttpSnapshotCameraTests : IAsyncLifetime
{
    private const string User = "viewer";
    private const string Secret = "s3cret-pass";
    private readonly byte[] _frame = TestFrames.Jpeg(4);
    private WebApplication _camera = null!;
    private string _root = "";
    private int _snapshots;

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        _camera = builder.Build();
        _camera.MapGet("/api/front/latest.jpg", () => Jpeg());
        _camera.MapGet("/basic/snapshot.jpg", (HttpContext c) => BasicAuthorized(c) ? Jpeg() : Challenge("Basic realm=\"cam\""));
        _camera.MapGet("/digest/snapshot.cgi", (HttpContext c) => DigestAuthorized(c) ? Jpeg() : Challenge("Digest realm=\"cam\", qop=\"auth\", nonce=\"5f1c2d3e\", algorithm=MD5"));
        _camera.MapGet("/login-page", () => Results.Content("<html>please log in</html>", "text/html"));
        _camera.MapGet("/broken", () => Results.StatusCode(500));
        _camera.MapGet("/slow", async () =>
        {
            await Task.Delay(TimeSpan.FromSeconds(10));
            return Jpeg();
        });
        await _camera.StartAsync();
        _root = _camera.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
    }

    public async Task DisposeAsync() => await _camera.DisposeAsync();

    [Theory]
    [InlineData("/api/front/latest.jpg", null, null)]
    [InlineData("/basic/snapshot.jpg", User, Secret)]
    [InlineData("/digest/snapshot.cgi", User, Secret)]
    public async Task Capture_CameraAnswersAJpeg_ReturnsItsBytes(string path, string? user, string? password)
    {
        using var camera = Camera(path, user, password);

        var first = await camera.CaptureAsync(CancellationToken.None);
        var second = await camera.CaptureAsync(CancellationToken.None);

        Assert.Equal(_frame, first);
        Assert.Equal(_frame, second);
    }

    [Theory]
    [InlineData("/basic/snapshot.jpg")]
    [InlineData("/digest/snapshot.cgi")]
    public async Task Capture_WrongPassword_FailsNaming401AndTheKeysButNotThePassword(string path)
    {
        using var camera = Camera(path, User, "wrong-guess");

        var error = await Assert.ThrowsAsync<SensorException>(() => camera.CaptureAsync(CancellationToken.None));

        Assert.Contains("401", error.Message, StringComparison.Ordinal);
        Assert.Contains("check Username and Password", error.Message, StringComparison.Ordinal);
        Assert.Contains("Sensors:Devices:0:Url", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("wrong-guess", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/login-page", "is not a JPEG, PNG")]
    [InlineData("/broken", "answered 500")]
    [InlineData("/slow", "did not answer within 1 s")]
    public async Task Capture_CameraMisbehaves_FailsSayingHow(string path, string expected)
    {
        using var camera = Camera(path, null, null, TimeSpan.FromSeconds(1));

        var error = await Assert.ThrowsAsync<SensorException>(() => camera.CaptureAsync(CancellationToken.None));

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        Assert.Contains(_root, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Daemon_SnapshotCameraTriggeredOverMqtt_FetchesAFrameAndTheImageJobIsAnswered()
    {
        var port = TestPaths.FreePort();
        var device = "snap" + Guid.NewGuid().ToString("N")[..6];
        await using var server = await EdgeServer.StartAsync(
            $"Mqtt:Port={port.ToString(CultureInfo.InvariantCulture)}",
            $"Mqtt:DeviceId={device}",
            "Sensors:Devices:0:Name=front",
            "Sensors:Devices:0:Kind=camera",
            "Sensors:Devices:0:Driver=http-snapshot",
            $"Sensors:Devices:0:Url={_root}/digest/snapshot.cgi",
            $"Sensors:Devices:0:Username={User}",
            $"Sensors:Devices:0:Password={Secret}",
            "Sensors:Devices:0:MaxTokens=3",
            "Sensors:Devices:0:Triggers:0:Kind=mqtt");
        await using var client = await TestMqttClient.ConnectAsync(port, persistent: false, $"autoglm/{device}/results/+", $"autoglm/{device}/sources/+/answer");
        var before = Volatile.Read(ref _snapshots);

        await client.PublishAsync($"autoglm/{device}/sensors/front/capture", "Who is at the door?");

        var result = await client.WaitForAsync(m => m.Topic.StartsWith($"autoglm/{device}/results/", StringComparison.Ordinal), "the capture's result");
        Assert.True(result.ErrorCode is null, result.Text);
        Assert.True(result.Json.GetProperty("usage").GetProperty("prompt_tokens").GetInt32() > 10, result.Text);
        Assert.True(Volatile.Read(ref _snapshots) > before, "the camera was not asked for a snapshot");

        // The sensor's latest answer, retained on its fixed topic.
        var latest = await client.WaitForTopicAsync($"autoglm/{device}/sources/front/answer");
        Assert.Equal(result.Json.GetProperty("id").GetString(), latest.Json.GetProperty("id").GetString());
        server.Logs.AssertNoErrors();
    }

    [Fact]
    public async Task Daemon_SnapshotUrlNotHttp_RefusedAtStartNamingTheKey()
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(() => EdgeServer.StartAsync(
            "Sensors:Devices:0:Name=front",
            "Sensors:Devices:0:Kind=camera",
            "Sensors:Devices:0:Driver=http-snapshot",
            "Sensors:Devices:0:Url=ftp://cam.lan/snap.jpg",
            "Sensors:Devices:0:Triggers:0:Kind=mqtt"));

        Assert.Contains("Sensors:Devices:0:Url must be an absolute http:// or https:// URL", error.ToString(), StringComparison.Ordinal);
    }

    private HttpSnapshotCamera Camera(string path, string? user, string? password, TimeSpan? timeout = null) =>
        new(new Uri(_root + path), user, password, timeout ?? TimeSpan.FromSeconds(10), "Sensors:Devices:0:Url");

    private IResult Jpeg()
    {
        Interlocked.Increment(ref _snapshots);
        return Results.Bytes(_frame, "image/jpeg");
    }

    private static IResult Challenge(string header) => new ChallengeResult(header);

    private static bool BasicAuthorized(HttpContext c) =>
        c.Request.Headers.Authorization.ToString() == "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{User}:{Secret}"));

    // RFC 7616 with qop=auth and MD5, as most IP cameras still do it.
    private static bool DigestAuthorized(HttpContext c)
    {
        var header = c.Request.Headers.Authorization.ToString();
        if (!header.StartsWith("Digest ", StringComparison.Ordinal))
        {
            return false;
        }

        var fields = header[7..].Split(',', StringSplitOptions.TrimEntries)
            .Select(f => f.Split('=', 2))
            .ToDictionary(kv => kv[0], kv => kv[1].Trim('"'));
        static string Md5(string s) => Convert.ToHexStringLower(MD5.HashData(Encoding.UTF8.GetBytes(s)));
        var ha1 = Md5($"{fields["username"]}:cam:{Secret}");
        var ha2 = Md5($"GET:{fields["uri"]}");
        var expected = Md5($"{ha1}:{fields["nonce"]}:{fields["nc"]}:{fields["cnonce"]}:{fields["qop"]}:{ha2}");
        return fields["username"] == User && fields["response"] == expected;
    }

    private sealed class ChallengeResult(string header) : IResult
    {
        public Task ExecuteAsync(HttpContext httpContext)
        {
            httpContext.Response.StatusCode = StatusCodes.Status401Unauthorized;
            httpContext.Response.Headers.WWWAuthenticate = header;
            return Task.CompletedTask;
        }
    }
}
