using System.Globalization;
using System.Net;
using System.Net.Sockets;
using AutoGlm.Edge.Tests.Support;
using MQTTnet;

namespace AutoGlm.Edge.Tests.Mqtt;

/// <summary>
/// Where the embedded broker really listens: the daemon is started as a child process and the kernel's table of
/// listening sockets is read, so nothing the daemon says about itself is taken on trust.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class BrokerListenerTests
{
    private static DaemonProcess Daemon(int port, params (string Key, string Value)[] settings)
    {
        var all = new Dictionary<string, string>
        {
            ["Mqtt__Port"] = port.ToString(CultureInfo.InvariantCulture),
            ["Mqtt__DeviceId"] = "ls" + Guid.NewGuid().ToString("N")[..8],
        };
        foreach (var (key, value) in settings)
        {
            all[key] = value;
        }

        return new DaemonProcess(TestPaths.NewFolder("state"), all);
    }

    private static string[] Listening(int port) => [.. ListeningSockets.OnPort(port).Select(a => a.ToString()).Order(StringComparer.Ordinal)];

    private static string[] LoggedEndpoints(DaemonProcess daemon) =>
        [.. daemon.Lines.Where(l => l.Contains("Embedded MQTT broker listening on ", StringComparison.Ordinal))
            .Select(l => l[(l.IndexOf("listening on ", StringComparison.Ordinal) + "listening on ".Length)..].Trim())
            .Order(StringComparer.Ordinal)];

    [Fact]
    public async Task Start_Default_ListensOnIPv4LoopbackOnly()
    {
        var port = TestPaths.FreePort();
        await using var daemon = Daemon(port);

        await daemon.StartAsync();

        Assert.Equal(["127.0.0.1"], Listening(port));
        Assert.Equal([$"127.0.0.1:{port}"], LoggedEndpoints(daemon));
        daemon.AssertNoUnexpectedErrors();
    }

    [Fact]
    public async Task Start_HostLocalhost_ListensOnBothLoopbacksAndNothingElse()
    {
        var port = TestPaths.FreePort();
        await using var daemon = Daemon(port, ("Mqtt__Host", "localhost"));

        await daemon.StartAsync();

        Assert.Equal(["127.0.0.1", "::1"], Listening(port));
        Assert.Equal([$"127.0.0.1:{port}", $"[::1]:{port}"], LoggedEndpoints(daemon));
        await using var overIPv6 = await TestMqttClient.ConnectAsync("::1", port, null, null);
        Assert.True(overIPv6.IsConnected);
        daemon.AssertNoUnexpectedErrors();
    }

    [Fact]
    public async Task Start_HostIPv6Loopback_ListensThereOnlyAndTheDaemonConnectsThere()
    {
        var port = TestPaths.FreePort();
        await using var daemon = Daemon(port, ("Mqtt__Host", "::1"));

        await daemon.StartAsync();

        Assert.Equal(["::1"], Listening(port));
        Assert.Equal([$"[::1]:{port}"], LoggedEndpoints(daemon));
        Assert.Contains(daemon.Lines, l => l.Contains($"Connected to the MQTT broker ::1:{port}", StringComparison.Ordinal));
        daemon.AssertNoUnexpectedErrors();
    }

    [Fact]
    public async Task Start_NonLoopbackWithoutCredentials_RefusedNamingTheKeys()
    {
        var port = TestPaths.FreePort();
        await using var daemon = Daemon(port, ("Mqtt__Host", "0.0.0.0"));

        var exitCode = await daemon.RunToExitAsync();

        Assert.Equal(2, exitCode);
        var error = Assert.Single(daemon.Lines, l => l.Contains("error: invalid configuration", StringComparison.Ordinal));
        Assert.Contains("Mqtt:Host '0.0.0.0' makes the embedded broker listen on 0.0.0.0, which is not loopback", error, StringComparison.Ordinal);
        Assert.Contains("Mqtt:Username and Mqtt:Password are not set", error, StringComparison.Ordinal);
        Assert.Empty(Listening(port));
    }

    [Fact]
    public async Task Start_NonLoopbackWithCredentials_OnlyClientsThatLogInAreServed()
    {
        var port = TestPaths.FreePort();
        var deviceId = "cr" + Guid.NewGuid().ToString("N")[..8];
        await using var daemon = Daemon(port, ("Mqtt__Host", "0.0.0.0"), ("Mqtt__Username", "edge"), ("Mqtt__Password", "s3cret"), ("Mqtt__DeviceId", deviceId));
        await daemon.StartAsync();
        Assert.Equal(["0.0.0.0"], Listening(port));

        Assert.Equal(MqttClientConnectResultCode.BadUserNameOrPassword, await TestMqttClient.LoginAsync("127.0.0.1", port, null, null));
        Assert.Equal(MqttClientConnectResultCode.BadUserNameOrPassword, await TestMqttClient.LoginAsync("127.0.0.1", port, "edge", "guess"));

        await using var client = await TestMqttClient.ConnectAsync("127.0.0.1", port, "edge", "s3cret", "reply/creds/#");
        var id = "cred-" + Guid.NewGuid().ToString("N")[..8];
        await client.PublishAsync($"autoglm/{deviceId}/jobs", $$"""{"id":"{{id}}","prompt":"Hello","max_tokens":2}""", $"reply/creds/{id}");
        var result = await client.WaitForTopicAsync($"reply/creds/{id}");

        Assert.Null(result.ErrorCode);
        var refusedLogins = daemon.Lines.Where(l => l.Contains("[4404]", StringComparison.Ordinal)).ToList();
        var warning = Assert.Single(refusedLogins); // two refusals within a minute: one warning
        Assert.Contains("wrong or missing Mqtt:Username/Mqtt:Password", warning, StringComparison.Ordinal);
        daemon.AssertNoUnexpectedErrors();
    }

    [Fact]
    public async Task Start_PortInUse_FailsNamingTheEndpointAndMqttPort()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var port = ((IPEndPoint)taken.LocalEndpoint).Port;
        await using var daemon = Daemon(port);

        var exitCode = await daemon.RunToExitAsync();

        Assert.NotEqual(0, exitCode);
        Assert.Contains(daemon.Lines, l => l.Contains($"the embedded MQTT broker cannot listen on 127.0.0.1:{port}: the port is already in use", StringComparison.Ordinal)
            && l.Contains("set Mqtt:Port to a free port", StringComparison.Ordinal));
    }
}
