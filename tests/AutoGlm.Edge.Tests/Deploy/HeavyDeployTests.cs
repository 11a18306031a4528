using AutoGlm.Cluster.Routing;
using AutoGlm.Edge.Hosting;
using AutoGlm.Edge.Tests.Support;
using Microsoft.Extensions.Configuration;

namespace AutoGlm.Edge.Tests.Deploy;

/// <summary>
/// <c>deploy/heavy/</c>: the vLLM unit and the daemon's drop-in pass <c>systemd-analyze verify</c> (on copies whose
/// ExecStart points at a stub, as <see cref="SystemdUnitTests"/> does), and <c>heavy.json</c> is a valid heavy node
/// fronting vLLM.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class HeavyDeployTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("heavy-unit-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [FactNeeding("systemd-analyze")]
    public void Verify_VllmUnit_NoComplaints()
    {
        var unit = Stage("vllm.service", RepoPaths.Of("deploy", "heavy", "vllm.service"), "/opt/vllm/venv/bin/vllm");

        AssertVerifies([unit], "vllm");
    }

    [FactNeeding("systemd-analyze")]
    public void Verify_DaemonUnitWithHeavyDropIn_NoComplaints()
    {
        var vllm = Stage("vllm.service", RepoPaths.Of("deploy", "heavy", "vllm.service"), "/opt/vllm/venv/bin/vllm");
        var daemon = Stage("autoglm-edge.service", RepoPaths.Of("deploy", "systemd", "autoglm-edge.service"), "/opt/autoglm/autoglm-edge");
        var dropIns = Directory.CreateDirectory(daemon + ".d").FullName;
        File.Copy(RepoPaths.Of("deploy", "heavy", "autoglm-edge.service.d", "heavy.conf"), Path.Combine(dropIns, "heavy.conf"));

        AssertVerifies([daemon, vllm], "autoglm-edge", "vllm", "heavy.conf");
    }

    [Fact]
    public void HeavyJson_BindsToAValidHeavyNodeFrontingVllm()
    {
        var configuration = new ConfigurationBuilder().AddJsonFile(RepoPaths.Of("deploy", "heavy", "heavy.json"), optional: false).Build();
        var runtime = configuration.GetSection(RuntimeOptions.Section).Get<RuntimeOptions>()!;
        var cluster = configuration.GetSection(ClusterOptions.Section).Get<ClusterOptions>()!;

        Assert.True(runtime.IsOpenAi);
        Assert.True(new RuntimeOptionsValidator().Validate(null, runtime).Succeeded);
        Assert.True(cluster.IsHeavy);
        Assert.True(new ClusterOptionsValidator().Validate(null, cluster).Succeeded);

        // The model name and port the vLLM unit serves are the ones the daemon asks for; keys are references, never secrets.
        var unit = File.ReadAllText(RepoPaths.Of("deploy", "heavy", "vllm.service"));
        Assert.Contains($"--served-model-name {runtime.OpenAi.Model}", unit, StringComparison.Ordinal);
        Assert.Contains($"--port {new Uri(runtime.OpenAi.Url!).Port}", unit, StringComparison.Ordinal);
        Assert.Contains("--tensor-parallel-size 2", unit, StringComparison.Ordinal);
        Assert.Contains("--host 127.0.0.1", unit, StringComparison.Ordinal);
        Assert.StartsWith("env:", runtime.OpenAi.ApiKey, StringComparison.Ordinal);
        Assert.StartsWith("env:", configuration["Http:ApiKeys:0"], StringComparison.Ordinal);
    }

    [Fact]
    public void FleetManifest_HeavyNode_RendersBackendOpenAiThatBindsAndValidates()
    {
        var validation = AutoGlm.Edge.Fleet.FleetValidation.Of(File.ReadAllText(RepoPaths.Of("deploy", "heavy", "fleet.yaml")));
        Assert.True(validation.IsValid, string.Join("\n", validation.Errors));
        var manifest = validation.Manifest!;
        var device = AutoGlm.Edge.Fleet.FleetResolver.Resolve(manifest, manifest.Device("gpu-node")!);

        var json = AutoGlm.Edge.Fleet.FleetRenderer.EdgeJson(device);
        var configuration = new ConfigurationBuilder().AddJsonStream(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(json))).Build();
        var runtime = configuration.GetSection(RuntimeOptions.Section).Get<RuntimeOptions>()!;

        Assert.Contains("\"OpenAi\": {", json, StringComparison.Ordinal);
        Assert.True(runtime.IsOpenAi);
        Assert.Equal("http://127.0.0.1:8001/v1", runtime.OpenAi.Url);
        Assert.Equal("env:AUTOGLM_VLLM_KEY", runtime.OpenAi.ApiKey);
        Assert.True(new RuntimeOptionsValidator().Validate(null, runtime).Succeeded);
        Assert.Equal("heavy", configuration["Cluster:Role"]);
    }

    private string Stage(string name, string shipped, string binary)
    {
        var stub = Path.Combine(_directory, Path.GetFileName(binary));
        File.WriteAllText(stub, "#!/bin/sh\nexit 0\n");
        File.SetUnixFileMode(stub, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var text = File.ReadAllText(shipped);
        Assert.Contains("ExecStart=" + binary, text, StringComparison.Ordinal);
        text = text.Replace("ExecStart=" + binary, "ExecStart=" + stub, StringComparison.Ordinal)
            .Replace("WorkingDirectory=/opt/autoglm", $"WorkingDirectory={_directory}", StringComparison.Ordinal)
            .Replace("WorkingDirectory=/var/lib/vllm", $"WorkingDirectory={_directory}", StringComparison.Ordinal);
        var unit = Path.Combine(_directory, name);
        File.WriteAllText(unit, text);
        return unit;
    }

    private static void AssertVerifies(string[] units, params string[] ours)
    {
        var result = ProcessRunner.Run("systemd-analyze", ["verify", .. units], workingDirectory: Path.GetDirectoryName(units[0]));

        Assert.True(result.ExitCode == 0, result.ToString());
        // verify exits 0 on unknown keys and bad values too; it names our files when it has anything to say about them.
        var complaints = (result.Output + result.Error).Split('\n').Where(l => ours.Any(o => l.Contains(o, StringComparison.Ordinal))).ToList();
        Assert.True(complaints.Count == 0, string.Join('\n', complaints));
    }
}
