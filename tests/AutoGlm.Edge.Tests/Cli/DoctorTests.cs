using System.Net;
using System.Net.Sockets;
using AutoGlm.Edge.Cli;
using AutoGlm.Edge.Tests.Support;
using AutoGlm.Runtime.Packages;
using Microsoft.Extensions.Configuration;

namespace AutoGlm.Edge.Tests.Cli;

public sealed class DoctorTests : IDisposable
{
    private readonly string _state = Directory.CreateTempSubdirectory("doctor-state-").FullName;

    public void Dispose() => Directory.Delete(_state, recursive: true);

    private Doctor Create(params (string Key, string Value)[] settings) => new(
        new ConfigurationBuilder().AddInMemoryCollection(settings.Select(s => KeyValuePair.Create(s.Key, (string?)s.Value))).Build(),
        _state,
        TimeSpan.FromSeconds(2));

    private static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    [Fact]
    public void KvCache_SlotsAndContextOfTheBuiltInModel_ReportsTheirBytes()
    {
        var tiny = AutoGlm.Runtime.Building.SyntheticModelSpec.Tiny.Architecture;

        var check = Create(("Runtime:MaxBatchSize", "3"), ("Runtime:MaxSequenceLength", "1024")).KvCache();

        // 3 slots × 1024 positions × layers × 2 × KV heads × head size × 4 bytes.
        var bytes = 3L * 1024 * tiny.Layers * 2 * tiny.NumKvHeads * tiny.HeadSize * 4;
        Assert.Equal(CheckStatus.Ok, check.Status);
        Assert.StartsWith($"{bytes / (1024.0 * 1024):F1} MiB float32 for Runtime:MaxBatchSize=3 slots × 1024 positions", check.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void KvCache_Float16Cache_ReportsHalfTheBytes()
    {
        var tiny = AutoGlm.Runtime.Building.SyntheticModelSpec.Tiny.Architecture;

        var check = Create(("Runtime:MaxBatchSize", "3"), ("Runtime:MaxSequenceLength", "1024"), ("Runtime:KvCacheType", "float16")).KvCache();

        var bytes = 3L * 1024 * tiny.Layers * 2 * tiny.NumKvHeads * tiny.HeadSize * 2;
        Assert.StartsWith($"{bytes / (1024.0 * 1024):F1} MiB float16 for Runtime:MaxBatchSize=3 slots × 1024 positions", check.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Broker_ExternalListening_Ok()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;

        var check = await Create(("Mqtt:Broker", "external"), ("Mqtt:Host", "127.0.0.1"), ("Mqtt:Port", port.ToString(System.Globalization.CultureInfo.InvariantCulture))).BrokerAsync(CancellationToken.None);

        Assert.Equal(CheckStatus.Ok, check.Status);
        Assert.Contains($"127.0.0.1:{port}", check.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Broker_ExternalNothingListening_Fails()
    {
        var port = ClosedPort();

        var check = await Create(("Mqtt:Broker", "external"), ("Mqtt:Port", port.ToString(System.Globalization.CultureInfo.InvariantCulture))).BrokerAsync(CancellationToken.None);

        Assert.Equal(CheckStatus.Fail, check.Status);
        Assert.Contains("not reachable", check.Detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("127.0.0.1;::1")]
    [InlineData("localhost")]
    [InlineData("0.0.0.0")]
    public async Task Broker_EmbeddedOnAListOrWildcard_ChecksWhereTheDaemonConnects(string host)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;

        var check = await Create(("Mqtt:Host", host), ("Mqtt:Port", port.ToString(System.Globalization.CultureInfo.InvariantCulture))).BrokerAsync(CancellationToken.None);

        // It reached the listener (this test's own socket), and saw that it is not the daemon's broker.
        Assert.Equal(CheckStatus.Fail, check.Status);
        Assert.Contains($"127.0.0.1:{port} is held by another program", check.Detail, StringComparison.Ordinal);
        Assert.Contains($"PID {Environment.ProcessId} ", check.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Broker_EmbeddedPortHeldByMosquitto_FailsNamingTheProgram()
    {
        await using var mosquitto = await MosquittoBroker.StartAsync();

        var check = await Create(("Mqtt:Port", mosquitto.Port.ToString(System.Globalization.CultureInfo.InvariantCulture))).BrokerAsync(CancellationToken.None);

        Assert.Equal(CheckStatus.Fail, check.Status);
        Assert.Contains($"127.0.0.1:{mosquitto.Port} is held by another program, not this daemon's embedded broker", check.Detail, StringComparison.Ordinal);
        Assert.Contains("mosquitto", check.Detail, StringComparison.Ordinal);
        Assert.Contains("Mqtt:Broker=external", check.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Broker_EmbeddedPortHeldByMosquittoCarryingThisDevicesStatus_StillSomeoneElses()
    {
        await using var mosquitto = await MosquittoBroker.StartAsync();
        var retained = ProcessRunner.Run("mosquitto_pub", ["-h", "127.0.0.1", "-p", mosquitto.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "-r", "-t", "autoglm/doctor-copy/status", "-m", """{"state":"online","device_id":"doctor-copy"}"""]);
        Assert.True(retained.ExitCode == 0, retained.ToString());

        var check = await Create(("Mqtt:Port", mosquitto.Port.ToString(System.Globalization.CultureInfo.InvariantCulture)), ("Mqtt:DeviceId", "doctor-copy")).BrokerAsync(CancellationToken.None);

        Assert.Equal(CheckStatus.Fail, check.Status);
        Assert.Contains("mosquitto", check.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Broker_EmbeddedBrokerOfTheRunningDaemon_IsThisDaemons()
    {
        var port = TestPaths.FreePort();
        await using var daemon = new DaemonProcess(TestPaths.NewFolder("state"), new Dictionary<string, string>
        {
            ["Mqtt__Port"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Mqtt__DeviceId"] = "doctor-own",
        });
        await daemon.StartAsync();

        var check = await Create(("Mqtt:Port", port.ToString(System.Globalization.CultureInfo.InvariantCulture)), ("Mqtt:DeviceId", "doctor-own")).BrokerAsync(CancellationToken.None);

        Assert.Equal(CheckStatus.Ok, check.Status);
        Assert.Contains($"embedded broker 127.0.0.1:{port} is this daemon's (PID {daemon.ProcessId}", check.Detail, StringComparison.Ordinal);
        Assert.Contains("autoglm/doctor-own/status is online", check.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Broker_EmbeddedDaemonOfAnotherDeviceId_Warns()
    {
        var port = TestPaths.FreePort();
        await using var daemon = new DaemonProcess(TestPaths.NewFolder("state"), new Dictionary<string, string>
        {
            ["Mqtt__Port"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Mqtt__DeviceId"] = "doctor-other",
        });
        await daemon.StartAsync();

        var check = await Create(("Mqtt:Port", port.ToString(System.Globalization.CultureInfo.InvariantCulture)), ("Mqtt:DeviceId", "doctor-mine")).BrokerAsync(CancellationToken.None);

        Assert.Equal(CheckStatus.Warn, check.Status);
        Assert.Contains("holds no retained autoglm/doctor-mine/status", check.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Broker_EmbeddedNotRunning_IsNotAFailure()
    {
        var check = await Create(("Mqtt:Port", ClosedPort().ToString(System.Globalization.CultureInfo.InvariantCulture))).BrokerAsync(CancellationToken.None);

        Assert.Equal(CheckStatus.Info, check.Status);
        Assert.Contains("embedded broker", check.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Model_ValidPackageWithMatchingHash_Ok()
    {
        var hash = ModelPackage.Sha256Of(Path.Combine(TinyModel.Directory, "manifest.json"));

        var check = Create(("Runtime:ModelPath", TinyModel.Directory), ("Runtime:ModelManifestSha256", hash)).ModelPackageCheck();

        Assert.Equal(CheckStatus.Ok, check.Status);
        Assert.Contains(hash, check.Detail, StringComparison.Ordinal);
        Assert.Contains("5 files verified, vision and audio adapters", check.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Model_HashMismatch_Fails()
    {
        var check = Create(("Runtime:ModelPath", TinyModel.Directory), ("Runtime:ModelManifestSha256", new string('0', 64))).ModelPackageCheck();

        Assert.Equal(CheckStatus.Fail, check.Status);
        Assert.Contains("Runtime:ModelManifestSha256", check.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Model_MissingFolder_Fails()
    {
        var check = Create(("Runtime:ModelPath", Path.Combine(_state, "no-such-model"))).ModelPackageCheck();

        Assert.Equal(CheckStatus.Fail, check.Status);
    }

    [Fact]
    public void Model_BuiltInNotBuilt_SaysItWillBeBuilt()
    {
        var check = Create().ModelPackageCheck();

        Assert.Equal(CheckStatus.Info, check.Status);
        Assert.Contains("on first start", check.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void StateFolder_Writable_Ok() => Assert.Equal(CheckStatus.Ok, Create().StateFolder().Status);

    [Fact]
    public void Secrets_MissingFileAndVariable_FailNamingBothKeys()
    {
        var check = Create(("Mqtt:Password", "file:/nonexistent/autoglm-secret"), ("Http:ApiKeys:0", "env:AUTOGLM_TEST_UNSET_VARIABLE_42")).Secrets();

        Assert.Equal(CheckStatus.Fail, check.Status);
        Assert.Contains("Mqtt:Password", check.Detail, StringComparison.Ordinal);
        Assert.Contains("Http:ApiKeys:0", check.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void ExecutionProviders_Cpu_CanBeCreatedAndIsMarkedConfigured()
    {
        var checks = Create(("Runtime:ExecutionProvider", "cpu")).ExecutionProviders().ToList();

        var cpu = Assert.Single(checks, c => c.Name == "provider cpu");
        Assert.Equal(CheckStatus.Ok, cpu.Status);
        Assert.Contains("Runtime:ExecutionProvider", cpu.Detail, StringComparison.Ordinal);
        Assert.Contains("CPUExecutionProvider", Assert.Single(checks, c => c.Name == "onnxruntime").Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void ExecutionProviders_Configured_SaysWhichOneTheDaemonWouldUse()
    {
        var available = AutoGlm.Runtime.Onnx.ExecutionProviderSelector.Available();
        var expected = available.Contains("TensorrtExecutionProvider") ? "tensorrt" : available.Contains("CUDAExecutionProvider") ? "cuda" : "cpu";

        var summary = Assert.Single(Create(("Runtime:ExecutionProvider", "tensorrt")).ExecutionProviders(), c => c.Name == "provider");

        Assert.Equal($"Runtime:ExecutionProvider=tensorrt: the daemon would run on {expected}", summary.Detail);
        Assert.Equal(expected == "tensorrt" ? CheckStatus.Ok : CheckStatus.Warn, summary.Status);
    }

    [Fact]
    public void ExecutionProviders_UnknownConfigured_Fails()
    {
        var checks = Create(("Runtime:ExecutionProvider", "npu")).ExecutionProviders();

        Assert.Contains(checks, c => c.Status == CheckStatus.Fail && c.Detail.Contains("'npu'", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Command_UnreachableExternalBroker_ExitsNonZeroAndPrintsEverySection()
    {
        var (exit, output, _) = await CliRunner.RunAsync(
            "doctor", "--broker-timeout-ms", "500", "--Mqtt:Broker=external", $"--Mqtt:Port={ClosedPort()}", $"--Runtime:ModelPath={TinyModel.Directory}");

        Assert.Equal(1, exit);
        foreach (var section in new[] { "machine", "onnxruntime", "provider cpu", "model", "state", "secrets", "mqtt" })
        {
            Assert.Contains(section, output, StringComparison.Ordinal);
        }

        Assert.Contains("doctor: 1 check(s) FAILED", output, StringComparison.Ordinal);
    }
}
