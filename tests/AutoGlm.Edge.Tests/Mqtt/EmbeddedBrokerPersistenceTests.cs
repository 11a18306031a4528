using System.Globalization;
using AutoGlm.Edge.Tests.Support;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace AutoGlm.Edge.Tests.Mqtt;

/// <summary>
/// The embedded broker as sensors use Mosquitto: clients without an id at MQTT 3.1.1 and 5, and retained messages and
/// persistent sessions that outlive a restart (and a crash) of the daemon.
/// </summary>
public sealed class EmbeddedBrokerPersistenceTests
{
    [TheoryNeeding("mosquitto_pub")]
    [InlineData("mqttv311")]
    [InlineData("mqttv5")]
    public async Task MosquittoClientsWithoutClientId_PublishJobAndReadStatus_AreAccepted(string protocol)
    {
        await using var daemon = Daemon(out var port, out var device);
        await daemon.StartAsync();
        await using var results = await TestMqttClient.ConnectAsync(port, persistent: false, $"autoglm/{device}/results/+");
        var id = "noid-" + protocol;

        // No -i: the CONNECT carries an empty client id, as PubSubClient and Tasmota firmware may send.
        var published = ProcessRunner.Run("mosquitto_pub", ["-V", protocol, "-h", "127.0.0.1", "-p", P(port), "-q", "1", "-t", $"autoglm/{device}/jobs", "-m", $$"""{"id":"{{id}}","prompt":"hi","max_tokens":2}"""]);
        var status = ProcessRunner.Run("mosquitto_sub", ["-V", protocol, "-h", "127.0.0.1", "-p", P(port), "-t", "autoglm/+/status", "-C", "1", "-W", "20"]);

        Assert.True(published.ExitCode == 0, published.ToString());
        Assert.True(status.ExitCode == 0, status.ToString());
        Assert.Contains("\"device_id\"", status.Output, StringComparison.Ordinal);
        var result = await results.WaitForTopicAsync($"autoglm/{device}/results/{id}");
        Assert.Null(result.ErrorCode);
        daemon.AssertNoUnexpectedErrors();
    }

    [FactNeeding("mosquitto_sub")]
    public async Task RetainedAndAwayClientsMessages_DaemonKilledAndRestarted_AreDelivered()
    {
        await using var daemon = Daemon(out var port, out _);
        await daemon.StartAsync();
        var topic = "persist/" + Guid.NewGuid().ToString("N")[..8];

        // Two persistent subscribers, one per protocol version, subscribe and go away.
        Assert.Equal(27, Sub("mqttv311", "sub311", port, topic + "/q", "-c", "-W", "2").ExitCode);
        Assert.Equal(27, Sub("mqttv5", "sub5", port, topic + "/q", "-c", "-x", "3600", "-W", "2").ExitCode);
        await using (var publisher = await TestMqttClient.ConnectAsync(port, persistent: false))
        {
            await publisher.PublishAsync(topic + "/retained", "kept"u8.ToArray(), retain: true);
            await publisher.PublishAsync(topic + "/q", "while-away"u8.ToArray());
        }

        // A crash: nothing is saved at shutdown, so what survives was on disk before the broker acknowledged it.
        await daemon.KillAsync();
        await daemon.StartAsync();

        var retained = Sub("mqttv311", "late", port, topic + "/retained", "-W", "20");
        var away311 = Sub("mqttv311", "sub311", port, topic + "/q", "-c", "-W", "20");
        var away5 = Sub("mqttv5", "sub5", port, topic + "/q", "-c", "-x", "3600", "-W", "20");
        Assert.True(retained.ExitCode == 0 && retained.Output.Trim() == "kept", retained.ToString());
        Assert.True(away311.ExitCode == 0 && away311.Output.Trim() == "while-away", away311.ToString());
        Assert.True(away5.ExitCode == 0 && away5.Output.Trim() == "while-away", away5.ToString());
        daemon.AssertNoUnexpectedErrors();
    }

    [Fact]
    public async Task PersistentSession_DaemonRestarted_ItsSubscriptionsAreRestoredWithoutSubscribingAgain()
    {
        await using var daemon = Daemon(out var port, out _);
        await daemon.StartAsync();
        var topic = "restore/" + Guid.NewGuid().ToString("N")[..8];
        var clientId = "restore-" + Guid.NewGuid().ToString("N")[..8];
        using (var first = new MqttClientFactory().CreateMqttClient())
        {
            await first.ConnectAsync(Options(port, clientId));
            await first.SubscribeAsync(topic, MqttQualityOfServiceLevel.AtLeastOnce);
            await first.DisconnectAsync();
        }

        await daemon.TerminateAsync();
        await daemon.StartAsync();

        using var again = new MqttClientFactory().CreateMqttClient();
        var received = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        again.ApplicationMessageReceivedAsync += e =>
        {
            received.TrySetResult(e.ApplicationMessage.ConvertPayloadToString());
            return Task.CompletedTask;
        };
        await again.ConnectAsync(Options(port, clientId));
        await using (var publisher = await TestMqttClient.ConnectAsync(port, persistent: false))
        {
            await publisher.PublishAsync(topic, "after-restart"u8.ToArray());
        }

        Assert.Equal("after-restart", await received.Task.WaitAsync(TimeSpan.FromSeconds(20)));
        Assert.Contains(daemon.Lines, l => l.Contains($"client {clientId} is back after a restart; restored its 1 subscriptions", StringComparison.Ordinal));
    }

    [FactNeeding("mosquitto_sub")]
    public async Task PersistenceOff_DaemonRestarted_RetainedMessagesAreGone()
    {
        await using var daemon = Daemon(out var port, out _, ("Mqtt__Persistence", "false"));
        await daemon.StartAsync();
        var topic = "nopersist/" + Guid.NewGuid().ToString("N")[..8];
        await using (var publisher = await TestMqttClient.ConnectAsync(port, persistent: false))
        {
            await publisher.PublishAsync(topic, "kept"u8.ToArray(), retain: true);
        }

        await daemon.TerminateAsync();
        await daemon.StartAsync();

        Assert.Equal(27, Sub("mqttv311", "late", port, topic, "-W", "3").ExitCode);
        Assert.False(File.Exists(Path.Combine(daemon.StateDirectory, "broker.db")));
    }

    [FactNeeding("mosquitto_sub")]
    public async Task DamagedStore_AtStart_IsMovedAsideAndTheBrokerServes()
    {
        await using var daemon = Daemon(out var port, out var device);
        Directory.CreateDirectory(daemon.StateDirectory);
        await File.WriteAllTextAsync(Path.Combine(daemon.StateDirectory, "broker.db"), "this is not an SQLite database, but it is long enough to be read as one");

        await daemon.StartAsync();

        var status = ProcessRunner.Run("mosquitto_sub", ["-h", "127.0.0.1", "-p", P(port), "-t", $"autoglm/{device}/status", "-C", "1", "-W", "20"]);
        Assert.True(status.ExitCode == 0, status.ToString());
        Assert.Single(Directory.GetFiles(daemon.StateDirectory, "broker.db.corrupt-*"));
        Assert.Contains(daemon.Lines, l => l.Contains("is damaged", StringComparison.Ordinal) && l.Contains("broker.db", StringComparison.Ordinal));
        daemon.AssertNoUnexpectedErrors(4432);
    }

    private static DaemonProcess Daemon(out int port, out string device, params (string Key, string Value)[] extra)
    {
        port = TestPaths.FreePort();
        device = "persist" + Guid.NewGuid().ToString("N")[..6];
        var settings = new Dictionary<string, string>
        {
            ["Mqtt__Port"] = P(port),
            ["Mqtt__DeviceId"] = device,
        };
        foreach (var (key, value) in extra)
        {
            settings[key] = value;
        }

        return new DaemonProcess(TestPaths.NewFolder("state"), settings);
    }

    // mosquitto_sub for one message; exit code 27 is its timeout (-W) with nothing received.
    private static ProcessRunner.Result Sub(string protocol, string clientId, int port, string topic, params string[] extra) =>
        ProcessRunner.Run("mosquitto_sub", ["-V", protocol, "-i", clientId, "-h", "127.0.0.1", "-p", P(port), "-q", "1", "-t", topic, "-C", "1", .. extra]);

    private static MqttClientOptions Options(int port, string clientId) => new MqttClientOptionsBuilder()
        .WithTcpServer("127.0.0.1", port)
        .WithProtocolVersion(MqttProtocolVersion.V500)
        .WithClientId(clientId)
        .WithCleanStart(false)
        .WithSessionExpiryInterval(3600)
        .Build();

    private static string P(int port) => port.ToString(CultureInfo.InvariantCulture);
}
