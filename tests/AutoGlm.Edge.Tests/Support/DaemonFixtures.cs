namespace AutoGlm.Edge.Tests.Support;

/// <summary>One Mosquitto and one daemon (external broker) shared by a test class, with a client watching the device's topics.</summary>
public sealed class MosquittoDaemonFixture : IAsyncLifetime
{
    public MosquittoBroker Broker { get; private set; } = null!;

    public DaemonProcess Daemon { get; private set; } = null!;

    public TestMqttClient Client { get; private set; } = null!;

    public string DeviceId { get; } = "mq" + Guid.NewGuid().ToString("N")[..8];

    public string Prefix => $"autoglm/{DeviceId}";

    /// <summary>A reply-topic root only this fixture's client watches.</summary>
    public string ReplyRoot { get; } = "reply/" + Guid.NewGuid().ToString("N")[..8];

    public async Task InitializeAsync()
    {
        Broker = await MosquittoBroker.StartAsync();
        Daemon = new DaemonProcess(TestPaths.NewFolder("state"), new Dictionary<string, string>
        {
            ["Mqtt__Broker"] = "external",
            ["Mqtt__Port"] = Broker.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Mqtt__DeviceId"] = DeviceId,
            ["Mqtt__StatsInterval"] = "00:00:00.500",
            ["Mqtt__MaxConcurrentJobs"] = "4",
            ["Mqtt__MaxJobBytes"] = "1048576",
            ["Mqtt__MaxMediaBytes"] = "262144",
        });
        await Daemon.StartAsync();
        Client = await TestMqttClient.ConnectAsync(Broker.Port, persistent: false, $"{Prefix}/#", $"{ReplyRoot}/#");
    }

    public async Task DisposeAsync()
    {
        await Client.DisposeAsync();
        await Daemon.DisposeAsync();
        await Broker.DisposeAsync();
    }
}

/// <summary>A daemon with its embedded broker (a small queue, one job at a time), and a client on that broker.</summary>
public sealed class EmbeddedDaemonFixture : IAsyncLifetime
{
    public DaemonProcess Daemon { get; private set; } = null!;

    public TestMqttClient Client { get; private set; } = null!;

    public int Port { get; } = TestPaths.FreePort();

    public string DeviceId { get; } = "em" + Guid.NewGuid().ToString("N")[..8];

    public string Prefix => $"autoglm/{DeviceId}";

    /// <summary>A reply-topic root only this fixture's client watches (response topics under <see cref="Prefix"/> are refused outside its <c>results/</c>).</summary>
    public string ReplyRoot { get; } = "reply/" + Guid.NewGuid().ToString("N")[..8];

    public async Task InitializeAsync()
    {
        Daemon = new DaemonProcess(TestPaths.NewFolder("state"), new Dictionary<string, string>
        {
            ["Mqtt__Port"] = Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Mqtt__DeviceId"] = DeviceId,
            ["Mqtt__QueueCapacity"] = "2",
            ["Mqtt__MaxConcurrentJobs"] = "1",
        });
        await Daemon.StartAsync();
        Client = await TestMqttClient.ConnectAsync(Port, persistent: false, $"{Prefix}/#", $"{ReplyRoot}/#");
    }

    public async Task DisposeAsync()
    {
        await Client.DisposeAsync();
        await Daemon.DisposeAsync();
    }
}
