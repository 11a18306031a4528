using System.Net;
using System.Net.Sockets;
using AutoGlm.Edge.Tests.Support;

namespace AutoGlm.Edge.Tests.Hosting;

/// <summary>Every start-up error is one line naming the key or the resource, never a stack trace.</summary>
public sealed class StartupErrorTests
{
    [Theory]
    [InlineData("Mqtt__Port", "abc", "error: invalid configuration: Mqtt:Port is 'abc', which is not a whole number")]
    [InlineData("Journal__Synchronous", "x", "error: invalid configuration: Journal:Synchronous must be Full or Normal (got 'x')")]
    [InlineData("Http__RequestsPerMinute", "-5", "error: invalid configuration: Http:RequestsPerMinute must be 0 (off) or positive (got -5)")]
    [InlineData("Journal__Retention", "soon", "error: invalid configuration: Journal:Retention is 'soon', which is not a duration such as 00:00:30 (hh:mm:ss) or 1.00:00:00 (one day)")]
    [InlineData("Mqtt__UseTls", "yes", "error: invalid configuration: Mqtt:UseTls is 'yes', which is not true or false")]
    [InlineData("Cluster__Nodes__0__Weight", "heavy", "error: invalid configuration: Cluster:Nodes:0:Weight is 'heavy', which is not a number (with . as the decimal point)")]
    [InlineData("Http__ApiKeys__0", "file:/nonexistent/autoglm-key", "error: invalid configuration: Http:ApiKeys:0 refers to file:/nonexistent/autoglm-key, which does not exist (or the service cannot read it)")]
    public async Task Start_BadValue_OneLineNamingTheKey(string key, string value, string expected)
    {
        await using var daemon = new DaemonProcess(TestPaths.NewFolder("state"), new Dictionary<string, string> { [key] = value });

        var exit = await daemon.RunToExitAsync();

        Assert.Equal(2, exit);
        AssertOneErrorLine(daemon, expected);
    }

    [Fact]
    public async Task Start_HttpPortInUse_OneLineNamingTheAddressAndKey()
    {
        using var holder = new TcpListener(IPAddress.Loopback, 0);
        holder.Start();
        var port = ((IPEndPoint)holder.LocalEndpoint).Port;
        await using var daemon = new DaemonProcess(TestPaths.NewFolder("state"), new Dictionary<string, string>
        {
            ["Http__Urls"] = $"http://127.0.0.1:{port}",
            ["Mqtt__Port"] = TestPaths.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture),
        });

        var exit = await daemon.RunToExitAsync();

        Assert.Equal(2, exit);
        AssertOneErrorLine(daemon, $"error: Failed to bind to address http://127.0.0.1:{port}: address already in use: another program (another autoglm-edge?) listens there; change Http:Urls or stop it");
    }

    [Fact]
    public async Task Start_BrokerPortInUse_OneLineNamingTheEndpointAndKey()
    {
        using var holder = new TcpListener(IPAddress.Loopback, 0);
        holder.Start();
        var port = ((IPEndPoint)holder.LocalEndpoint).Port;
        await using var daemon = new DaemonProcess(TestPaths.NewFolder("state"), new Dictionary<string, string>
        {
            ["Mqtt__Port"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });

        var exit = await daemon.RunToExitAsync();

        Assert.Equal(2, exit);
        AssertOneErrorLine(daemon, $"error: the embedded MQTT broker cannot listen on 127.0.0.1:{port}: the port is already in use (another broker or daemon?); set Mqtt:Port to a free port");
    }

    [Fact]
    public async Task Start_StateFolderCannotBeCreated_OneLineNamingTheFolderAndVariable()
    {
        // A path below a plain file cannot become a folder, not even for root (the tests run as root in CI).
        var file = Path.Combine(TestPaths.NewFolder("state-parent"), "a-file");
        await File.WriteAllTextAsync(file, "not a folder");
        var state = Path.Combine(file, "state");
        await using var daemon = new DaemonProcess(state, new Dictionary<string, string>());

        var exit = await daemon.RunToExitAsync();

        Assert.Equal(2, exit);
        var line = AssertOneErrorLine(daemon, $"error: the state folder {state} (from AUTOGLM_STATE_DIR) cannot be written: ");
        Assert.EndsWith("Fix its owner or permissions, or set AUTOGLM_STATE_DIR to a writable folder", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_UnknownKeysInKnownSections_AreWarnedAboutByNameAndTheDaemonRuns()
    {
        await using var daemon = new DaemonProcess(TestPaths.NewFolder("state"), new Dictionary<string, string>
        {
            ["Mqtt__Port"] = TestPaths.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Mqtt__Prot"] = "1884",
            ["Cluster__Nodes__0__Urll"] = "http://gpu:8000/v1",
            ["Cluster__Nodes__0__Url"] = "http://127.0.0.1:9/v1",
            ["Kestrel__Limits__MaxRequestLineSize"] = "8192",
        });

        await daemon.StartAsync();

        var warnings = daemon.Lines.Where(l => l.Contains("AutoGlm.Edge[1202]", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, warnings.Count);
        Assert.Contains(warnings, w => w.Contains("Configuration: Mqtt:Prot is not a setting (expected one of Broker, Host, Port, ", StringComparison.Ordinal));
        Assert.Contains(warnings, w => w.Contains("Configuration: Cluster:Nodes:0:Urll is not a setting (expected one of Url, ApiKey, Model, Weight, Mqtt; see docs/configuration.md); it is ignored", StringComparison.Ordinal));
    }

    /// <summary>Asserts that the daemon printed exactly one error line, starting with <paramref name="expected"/>, and no stack trace; returns it.</summary>
    private static string AssertOneErrorLine(DaemonProcess daemon, string expected)
    {
        var lines = daemon.Lines.Select(l => l[(l.IndexOf(']', StringComparison.Ordinal) + 2)..]).ToList();
        var errors = lines.Where(l => l.StartsWith("error", StringComparison.Ordinal) || l.StartsWith("fail", StringComparison.Ordinal) || l.StartsWith("crit", StringComparison.Ordinal)).ToList();
        Assert.True(errors.Count == 1, "expected one error line, got:\n" + string.Join("\n", lines));
        Assert.StartsWith(expected, errors[0], StringComparison.Ordinal);
        Assert.DoesNotContain(lines, l => l.TrimStart().StartsWith("at ", StringComparison.Ordinal) || l.Contains("Exception:", StringComparison.Ordinal));
        return errors[0];
    }
}
