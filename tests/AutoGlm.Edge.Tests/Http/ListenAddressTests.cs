using System.Net;
using System.Net.Sockets;
using AutoGlm.Edge.Tests.Support;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Options;

namespace AutoGlm.Edge.Tests.Http;

/// <summary>The key rule holds for every address Kestrel listens on, not only those in <c>Http:Urls</c>.</summary>
public sealed class ListenAddressTests
{
    private static async Task AssertNothingAnswersAsync(int port)
    {
        using var client = new TcpClient();
        var ex = await Assert.ThrowsAnyAsync<SocketException>(() => client.ConnectAsync(IPAddress.Loopback, port));
        Assert.Equal(SocketError.ConnectionRefused, ex.SocketErrorCode);
    }

    [Fact]
    public async Task StartAsync_KestrelEndpointOnAnyAddressWithoutKey_RefusesNamingAddressAndKey()
    {
        var port = TestPaths.FreePort();
        await using var app = EdgeServer.Build($"Kestrel:Endpoints:Open:Url=http://0.0.0.0:{port}");

        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => app.StartAsync());

        var failure = Assert.Single(ex.Failures);
        Assert.Contains($"Kestrel:Endpoints:Open:Url binds http://0.0.0.0:{port}", failure, StringComparison.Ordinal);
        Assert.Contains("Http:ApiKeys", failure, StringComparison.Ordinal);
        await AssertNothingAnswersAsync(port);
    }

    [Fact]
    public async Task Run_KestrelEndpointEnvironmentVariableWithoutKey_ExitsNamingAddressAndKey()
    {
        // The probe's command: AUTOGLM__Kestrel__Endpoints__Open__Url=http://0.0.0.0:PORT autoglm-edge run.
        var port = TestPaths.FreePort();
        var result = ProcessRunner.Run("dotnet", [DaemonProcess.DaemonPath(), "run"], new Dictionary<string, string>
        {
            ["AUTOGLM_STATE_DIR"] = TestPaths.NewFolder("kestrel-bypass"),
            ["AUTOGLM__Runtime__ModelPath"] = TinyModel.Directory,
            ["AUTOGLM__Mqtt__Port"] = TestPaths.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["AUTOGLM__Kestrel__Endpoints__Open__Url"] = $"http://0.0.0.0:{port}",
        });

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains($"binds http://0.0.0.0:{port}", result.Error, StringComparison.Ordinal);
        Assert.Contains("Http:ApiKeys", result.Error, StringComparison.Ordinal);
        await AssertNothingAnswersAsync(port);
    }

    [Fact]
    public async Task StartAsync_KestrelListenInCodeWithoutKey_StopsBeforeServingNamingAddressAndKey()
    {
        // No configuration names this address, so only the check of the addresses really bound can catch it.
        var port = TestPaths.FreePort();
        await using var app = EdgeServer.Build(builder => builder.WebHost.ConfigureKestrel(kestrel => kestrel.ListenAnyIP(port)));

        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => app.StartAsync());

        var failure = Assert.Single(ex.Failures);
        Assert.Contains($":{port}", failure, StringComparison.Ordinal);
        Assert.Contains("not loopback", failure, StringComparison.Ordinal);
        Assert.Contains("Http:ApiKeys", failure, StringComparison.Ordinal);
        await AssertNothingAnswersAsync(port);
    }

    [Fact]
    public async Task StartAsync_KestrelEndpointOnAnyAddressWithKey_ServesWithTheKey()
    {
        var port = TestPaths.FreePort();
        await using var server = await EdgeServer.StartAsync($"Kestrel:Endpoints:Open:Url=http://0.0.0.0:{port}", "Http:ApiKeys:0=sk-any-address");
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };

        var anonymous = await client.GetAsync("v1/models");
        client.DefaultRequestHeaders.Authorization = new("Bearer", "sk-any-address");
        var keyed = await client.GetAsync("v1/models");

        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Equal(HttpStatusCode.OK, keyed.StatusCode);
        server.Logs.AssertNoErrors();
    }
}
