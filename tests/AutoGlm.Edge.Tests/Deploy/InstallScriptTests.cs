using System.Text.Json;
using AutoGlm.Edge.Tests.Support;

namespace AutoGlm.Edge.Tests.Deploy;

/// <summary>
/// deploy/install.sh staged under DESTDIR with a prebuilt stub tree (<c>--from-dir</c>), so no publish, no user and no
/// systemctl happen: those steps are only printed.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class InstallScriptTests : IDisposable
{
    private static readonly string Script = RepoPaths.Of("deploy", "install.sh");
    private readonly string _work = Directory.CreateTempSubdirectory("install-").FullName;

    public InstallScriptTests()
    {
        Directory.CreateDirectory(Build);
        File.WriteAllText(Path.Combine(Build, "autoglm-edge"), "#!/bin/sh\necho stub\n");
        File.SetUnixFileMode(Path.Combine(Build, "autoglm-edge"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        File.WriteAllText(Path.Combine(Build, "libonnxruntime.so"), "cpu build");
    }

    private string Build => Path.Combine(_work, "build");

    private string Stage => Path.Combine(_work, "stage");

    public void Dispose() => Directory.Delete(_work, recursive: true);

    private ProcessRunner.Result Install(params string[] args)
    {
        var result = ProcessRunner.Run("bash", [Script, "--from-dir", Build, .. args], new Dictionary<string, string> { ["DESTDIR"] = Stage });
        Assert.True(result.ExitCode == 0, result.ToString());
        return result;
    }

    private string Staged(string path) => Path.Combine(Stage, path.TrimStart('/'));

    [Fact]
    public void Install_Destdir_StagesTheTreeAndOnlyPrintsSystemChanges()
    {
        var usersBefore = File.ReadAllText("/etc/passwd");

        var result = Install("--no-jetson");

        Assert.True(File.Exists(Staged("/opt/autoglm/autoglm-edge")));
        Assert.True(File.GetUnixFileMode(Staged("/opt/autoglm/autoglm-edge")).HasFlag(UnixFileMode.OtherExecute));
        Assert.Equal(File.ReadAllText(RepoPaths.Of("deploy", "systemd", "autoglm-edge.service")), File.ReadAllText(Staged("/etc/systemd/system/autoglm-edge.service")));
        using (var config = JsonDocument.Parse(File.ReadAllText(Staged("/etc/autoglm/edge.json"))))
        {
            Assert.Equal("cpu", config.RootElement.GetProperty("Runtime").GetProperty("ExecutionProvider").GetString());
        }

        Assert.Equal("/opt/autoglm/autoglm-edge", new FileInfo(Staged("/usr/local/bin/autoglm-edge")).LinkTarget);
        Assert.Contains("would run: useradd --system", result.Output, StringComparison.Ordinal);
        Assert.Contains("would run: systemctl enable autoglm-edge.service", result.Output, StringComparison.Ordinal);
        Assert.Contains("journalctl -u autoglm-edge -f", result.Output, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Staged("/etc/systemd/system/autoglm-edge.service.d")));
        Assert.Equal(usersBefore, File.ReadAllText("/etc/passwd"));
    }

    [Fact]
    public void Install_Twice_UpgradesBinariesAndKeepsEditedConfig()
    {
        Install("--no-jetson");
        File.WriteAllText(Staged("/etc/autoglm/edge.json"), "{ \"Runtime\": { \"ExecutionProvider\": \"cuda\" } }");
        File.WriteAllText(Path.Combine(Build, "autoglm-edge"), "#!/bin/sh\necho v2\n");

        var second = Install("--no-jetson");

        Assert.Contains("keeping the existing /etc/autoglm/edge.json", second.Output, StringComparison.Ordinal);
        Assert.Contains("cuda", File.ReadAllText(Staged("/etc/autoglm/edge.json")), StringComparison.Ordinal);
        Assert.Contains("v2", File.ReadAllText(Staged("/opt/autoglm/autoglm-edge")), StringComparison.Ordinal);
        Assert.False(Directory.Exists(Staged("/opt/autoglm.new")));
    }

    [Fact]
    public void Install_Jetson_AddsDropInProfileAndGpuOnnxRuntime()
    {
        var gpuBuild = Directory.CreateDirectory(Path.Combine(_work, "ort-gpu")).FullName;
        File.WriteAllText(Path.Combine(gpuBuild, "libonnxruntime.so"), "gpu build");
        File.WriteAllText(Path.Combine(gpuBuild, "libonnxruntime_providers_tensorrt.so"), "trt");

        var result = Install("--jetson", "--memory-gb", "31", "--onnxruntime-dir", gpuBuild);

        Assert.True(File.Exists(Staged("/etc/systemd/system/autoglm-edge.service.d/jetson.conf")));
        Assert.Equal(File.ReadAllText(RepoPaths.Of("deploy", "jetson", "memory", "orin-32gb.json")), File.ReadAllText(Staged("/etc/autoglm/20-memory.json")));
        Assert.Contains("tensorrt", File.ReadAllText(Staged("/etc/autoglm/10-jetson.json")), StringComparison.Ordinal);
        Assert.Equal("gpu build", File.ReadAllText(Staged("/opt/autoglm/libonnxruntime.so")));
        Assert.True(File.Exists(Staged("/opt/autoglm/libonnxruntime_providers_tensorrt.so")));
        Assert.Contains("groupadd --system -f render", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Install_JetsonThenPlain_RemovesTheJetsonLayer()
    {
        Install("--jetson", "--memory-gb", "8");

        Install("--no-jetson");

        Assert.False(File.Exists(Staged("/etc/systemd/system/autoglm-edge.service.d/jetson.conf")));
        Assert.False(File.Exists(Staged("/etc/autoglm/10-jetson.json")));
        Assert.False(File.Exists(Staged("/etc/autoglm/20-memory.json")));
    }

    [Fact]
    public void Install_Destdir_UnitDocumentationIsAnInstalledFile()
    {
        Install("--no-jetson");

        var documentation = File.ReadLines(Staged("/etc/systemd/system/autoglm-edge.service"))
            .Where(l => l.StartsWith("Documentation=file://", StringComparison.Ordinal))
            .Select(l => l["Documentation=file://".Length..].Split(' ')[0])
            .ToList();

        Assert.NotEmpty(documentation);
        Assert.All(documentation, path => Assert.True(File.Exists(Staged(path)), $"the unit's Documentation=file://{path} is not installed"));

        var uninstall = ProcessRunner.Run("bash", [Script, "--uninstall"], new Dictionary<string, string> { ["DESTDIR"] = Stage });

        Assert.Equal(0, uninstall.ExitCode);
        Assert.All(documentation, path => Assert.False(File.Exists(Staged(path)), $"{path} is left after --uninstall"));
    }

    [Fact]
    public void Uninstall_KeepsConfigurationUnlessPurged()
    {
        Install("--no-jetson");

        var uninstall = ProcessRunner.Run("bash", [Script, "--uninstall"], new Dictionary<string, string> { ["DESTDIR"] = Stage });

        Assert.Equal(0, uninstall.ExitCode);
        Assert.False(File.Exists(Staged("/opt/autoglm/autoglm-edge")));
        Assert.False(File.Exists(Staged("/etc/systemd/system/autoglm-edge.service")));
        Assert.True(File.Exists(Staged("/etc/autoglm/edge.json")));
        Assert.Contains("would run: systemctl disable --now autoglm-edge.service", uninstall.Output, StringComparison.Ordinal);

        var purge = ProcessRunner.Run("bash", [Script, "--uninstall", "--purge"], new Dictionary<string, string> { ["DESTDIR"] = Stage });

        Assert.Equal(0, purge.ExitCode);
        Assert.False(Directory.Exists(Staged("/etc/autoglm")));
        Assert.Contains("would run: userdel autoglm", purge.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void DryRun_ChangesNothingAndPrintsEveryStep()
    {
        var result = ProcessRunner.Run("bash", [Script, "--dry-run", "--from-dir", Build, "--no-jetson"], new Dictionary<string, string> { ["DESTDIR"] = Stage });

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.False(Directory.Exists(Stage));
        Assert.Contains("would run: install -D -m 0644", result.Output, StringComparison.Ordinal);
        Assert.Contains("would run: systemctl restart autoglm-edge.service", result.Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--purge", "--purge goes with --uninstall")]
    [InlineData("--arch", "--arch needs arm64 or x64")]
    [InlineData("--bogus", "unknown option '--bogus'")]
    public void BadArguments_ExitNonZeroWithMessage(string argument, string message)
    {
        var result = ProcessRunner.Run("bash", [Script, argument], new Dictionary<string, string> { ["DESTDIR"] = Stage });

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains(message, result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Install_TarballWithTopFolder_Unpacks()
    {
        var tarball = Path.Combine(_work, "autoglm-edge-linux-x64.tar.gz");
        var tar = ProcessRunner.Run("tar", ["-czf", tarball, "-C", _work, "build"]);
        Assert.Equal(0, tar.ExitCode);

        var result = ProcessRunner.Run("bash", [Script, "--tarball", tarball, "--no-jetson"], new Dictionary<string, string> { ["DESTDIR"] = Stage });

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.True(File.Exists(Staged("/opt/autoglm/autoglm-edge")));
        Assert.True(File.Exists(Staged("/opt/autoglm/libonnxruntime.so")));
    }
}
