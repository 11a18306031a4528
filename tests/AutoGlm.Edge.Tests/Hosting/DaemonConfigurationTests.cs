using AutoGlm.Edge.Tests.Support;

namespace AutoGlm.Edge.Tests.Hosting;

/// <summary>Configuration as systemd and operators hand it to the daemon.</summary>
public sealed class DaemonConfigurationTests
{
    [Fact]
    public async Task Start_BadMqttValues_ExitsNamingEveryKey()
    {
        await using var daemon = new DaemonProcess(TestPaths.NewFolder("state"), new Dictionary<string, string>
        {
            ["Mqtt__Port"] = "0",
            ["Mqtt__QueueCapacity"] = "-1",
            ["Mqtt__Broker"] = "cloud",
        });

        var exitCode = await daemon.RunToExitAsync();

        Assert.Equal(2, exitCode);
        var output = string.Join("\n", daemon.Lines);
        Assert.Contains("Mqtt:Port", output, StringComparison.Ordinal);
        Assert.Contains("Mqtt:QueueCapacity", output, StringComparison.Ordinal);
        Assert.Contains("Mqtt:Broker", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_HeavyRoleWithoutKeys_ListensOnTheLanByDefaultSoRefusesNamingTheKey()
    {
        await using var daemon = new DaemonProcess(TestPaths.NewFolder("state"), new Dictionary<string, string>
        {
            ["Cluster__Role"] = "heavy",
            ["Http__Urls"] = "",
        });

        var exitCode = await daemon.RunToExitAsync();

        Assert.Equal(2, exitCode);
        var output = string.Join("\n", daemon.Lines);
        Assert.Contains("Http:Urls binds http://0.0.0.0:8000, which is not loopback, but Http:ApiKeys is empty", output, StringComparison.Ordinal);
    }

    [Fact]
    public void CreateBuilder_HeavyRole_DefaultsToEveryInterface_ButAnExplicitUrlWins()
    {
        Assert.Equal("http://0.0.0.0:8000", AutoGlm.Edge.Hosting.EdgeHost.CreateBuilder(["--Cluster:Role=heavy"]).Configuration["Http:Urls"]);
        Assert.Equal("http://10.0.0.5:9000", AutoGlm.Edge.Hosting.EdgeHost.CreateBuilder(["--Cluster:Role=heavy", "--Http:Urls=http://10.0.0.5:9000"]).Configuration["Http:Urls"]);
        Assert.Null(AutoGlm.Edge.Hosting.EdgeHost.CreateBuilder(["--Cluster:Role=edge"]).Configuration["Http:Urls"]);
    }

    [Fact]
    public async Task Start_UnderSystemdFolders_UsesStateAndConfigurationDirectoriesAndJournaldFormat()
    {
        var state = TestPaths.NewFolder("systemd-state");
        var configuration = TestPaths.NewFolder("systemd-config");
        var port = TestPaths.FreePort();
        await File.WriteAllTextAsync(Path.Combine(configuration, "mqtt.json"), $$$"""{"Mqtt":{"Port":{{{port}}},"DeviceId":"fromfile"}}""");
        await using var daemon = new DaemonProcess(
            TestPaths.NewFolder("ignored-state"),
            new Dictionary<string, string>(),
            new Dictionary<string, string>
            {
                ["STATE_DIRECTORY"] = state,
                ["CONFIGURATION_DIRECTORY"] = configuration,
                ["JOURNAL_STREAM"] = "8:12345",
            });

        await daemon.StartAsync();
        await using var client = await TestMqttClient.ConnectAsync(port, persistent: false, "autoglm/fromfile/status");
        await client.WaitForTopicAsync("autoglm/fromfile/status");

        Assert.True(File.Exists(Path.Combine(state, "journal.db")));
        Assert.Contains(daemon.Lines, l => l.Contains("<6>AutoGlm.Edge.Mqtt.MqttConnection[4801]", StringComparison.Ordinal));
        daemon.AssertNoUnexpectedErrors();
    }
}
