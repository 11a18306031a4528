using System.Globalization;
using System.Text.RegularExpressions;
using AutoGlm.Edge.Fleet;
using AutoGlm.Edge.Tests.Support;

namespace AutoGlm.Edge.Tests.Deploy;

/// <summary>
/// The shipped unit under <c>systemd-analyze</c>. <c>verify</c> needs ExecStart's binary to exist, so each test checks
/// a copy whose ExecStart and WorkingDirectory point into a temporary folder holding a stub; the shipped unit keeps
/// <c>/opt/autoglm/autoglm-edge run</c>.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed partial class SystemdUnitTests : IDisposable
{
    /// <summary>The exposure the issue sets as the most the unit may score.</summary>
    private const double ExposureTarget = 2.0;

    private static readonly string ShippedUnit = RepoPaths.Of("deploy", "systemd", "autoglm-edge.service");
    private readonly string _directory = Directory.CreateTempSubdirectory("unit-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    /// <summary>A copy of the unit runnable by verify, with optional drop-ins beside it; returns its path.</summary>
    private string StageUnit(params (string Name, string Text)[] dropIns)
    {
        var stub = Path.Combine(_directory, "autoglm-edge");
        File.WriteAllText(stub, "#!/bin/sh\nexit 0\n");
        File.SetUnixFileMode(stub, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var text = File.ReadAllText(ShippedUnit)
            .Replace("ExecStart=/opt/autoglm/autoglm-edge run", $"ExecStart={stub} run", StringComparison.Ordinal)
            .Replace("WorkingDirectory=/opt/autoglm", $"WorkingDirectory={_directory}", StringComparison.Ordinal);
        Assert.Contains($"ExecStart={stub} run", text, StringComparison.Ordinal);
        var unit = Path.Combine(_directory, "autoglm-edge.service");
        File.WriteAllText(unit, text);
        if (dropIns.Length > 0)
        {
            var dropInDirectory = Directory.CreateDirectory(unit + ".d").FullName;
            foreach (var (name, content) in dropIns)
            {
                File.WriteAllText(Path.Combine(dropInDirectory, name), content);
            }
        }

        return unit;
    }

    private static void AssertVerifies(string unit)
    {
        var result = ProcessRunner.Run("systemd-analyze", ["verify", unit], workingDirectory: Path.GetDirectoryName(unit));

        Assert.True(result.ExitCode == 0, result.ToString());
        // verify exits 0 on unknown keys and bad values too; it names our files when it has anything to say about them.
        var complaints = (result.Output + result.Error).Split('\n').Where(l => l.Contains("autoglm-edge", StringComparison.Ordinal)).ToList();
        Assert.True(complaints.Count == 0, string.Join('\n', complaints));
    }

    private static double Exposure(string unit)
    {
        var result = ProcessRunner.Run("systemd-analyze", ["security", "--offline=true", unit], workingDirectory: Path.GetDirectoryName(unit));
        var match = ExposureLine().Match(result.Output + result.Error);
        Assert.True(match.Success, result.ToString());
        return double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
    }

    [FactNeeding("systemd-analyze")]
    public void Verify_ShippedUnit_NoComplaints() => AssertVerifies(StageUnit());

    [FactNeeding("systemd-analyze")]
    public void Security_ShippedUnit_ExposureAtMostTarget()
    {
        var exposure = Exposure(StageUnit());

        Assert.True(exposure <= ExposureTarget, $"exposure {exposure} is above the target {ExposureTarget}");
    }

    [FactNeeding("systemd-analyze")]
    public void Security_ReadmeFigure_MatchesMeasured()
    {
        var exposure = Exposure(StageUnit());
        var readme = File.ReadAllText(RepoPaths.Of("deploy", "systemd", "README.md"));

        Assert.Contains($"exposure **{exposure.ToString("0.0", CultureInfo.InvariantCulture)}**", readme, StringComparison.Ordinal);
    }

    [FactNeeding("systemd-analyze")]
    public void VerifyAndSecurity_WithJetsonDropIn_StillWithinTarget()
    {
        var unit = StageUnit(("jetson.conf", File.ReadAllText(RepoPaths.Of("deploy", "jetson", "autoglm-edge.service.d", "jetson.conf"))));

        AssertVerifies(unit);
        Assert.True(Exposure(unit) <= ExposureTarget);
    }

    [FactNeeding("systemd-analyze")]
    public void Verify_WithRenderedFleetDropIns_NoComplaints()
    {
        var manifest = FleetValidation.Of(File.ReadAllText(RepoPaths.Of("deploy", "fleet", "examples", "fleet.yaml"))).Manifest!;
        var dropIns = manifest.Devices
            .Select(d => ($"50-{d.Id}.conf", FleetRenderer.DropIn(FleetResolver.Resolve(manifest, d), "fleet.yaml")))
            .ToArray();

        var unit = StageUnit(dropIns);

        AssertVerifies(unit);
        Assert.True(Exposure(unit) <= ExposureTarget);
    }

    [Fact]
    public void ShippedUnit_HasTheServiceContract()
    {
        var directives = File.ReadLines(ShippedUnit).Where(l => l.Length > 0 && !l.StartsWith('#') && l.Contains('=', StringComparison.Ordinal)).ToList();

        foreach (var expected in new[]
        {
            "Type=notify", "NotifyAccess=main", "Restart=on-failure", "User=autoglm", "StateDirectory=autoglm", "CacheDirectory=autoglm",
            "ConfigurationDirectory=autoglm", "ExecStart=/opt/autoglm/autoglm-edge run", "DevicePolicy=closed", "NoNewPrivileges=yes",
            "ProtectSystem=strict", "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6", "SupplementaryGroups=gpio video audio",
        })
        {
            Assert.Contains(expected, directives);
        }

        Assert.Contains(directives, d => d.StartsWith("WatchdogSec=", StringComparison.Ordinal));
        // The .NET JIT needs writable-then-executable memory: the directive must stay off, and the unit must say why.
        Assert.DoesNotContain(directives, d => d.StartsWith("MemoryDenyWriteExecute", StringComparison.Ordinal));
        Assert.Contains("MemoryDenyWriteExecute=yes is deliberately NOT set", File.ReadAllText(ShippedUnit), StringComparison.Ordinal);
    }

    [GeneratedRegex(@"Overall exposure level for autoglm-edge\.service: ([0-9]+\.[0-9])")]
    private static partial Regex ExposureLine();
}

/// <summary>
/// The daemon under the unit's seccomp rules, emulated by deploy/systemd/seccomp-emulate.py: it must work under
/// <c>SystemCallFilter=</c>, and it must die under <c>MemoryDenyWriteExecute=</c> (which is why the unit leaves it off).
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public class SeccompFilterTests
{
    private const string Python = "/usr/bin/python3";
    private static readonly string Emulator = RepoPaths.Of("deploy", "systemd", "seccomp-emulate.py");
    private static readonly string Unit = RepoPaths.Of("deploy", "systemd", "autoglm-edge.service");

    /// <summary><c>dotnet autoglm-edge.dll chat</c> with the tiny model: loads ONNX Runtime, runs its threads, generates.</summary>
    private static string[] Chat()
    {
        // The dotnet host of the runtime running these tests: <root>/shared/Microsoft.NETCore.App/<version>/ -> <root>/dotnet.
        var dotnet = Path.GetFullPath(Path.Combine(System.Runtime.InteropServices.RuntimeEnvironment.GetRuntimeDirectory(), "..", "..", "..", "dotnet"));
        return [dotnet, Path.Combine(AppContext.BaseDirectory, "autoglm-edge.dll"), "chat", "--model", TinyModel.Directory, "--prompt", "hello", "--max-tokens", "4", "--seed", "1"];
    }

    [FactNeedingPythonSeccomp]
    public void Daemon_UnderUnitSystemCallFilter_Generates()
    {
        var unfiltered = ProcessRunner.Run(Chat()[0], Chat()[1..]);
        Assert.True(unfiltered.ExitCode == 0 && unfiltered.Output.Trim().Length > 0, unfiltered.ToString());

        var filtered = ProcessRunner.Run(Python, [Emulator, Unit, "--", .. Chat()]);

        Assert.True(filtered.ExitCode == 0, filtered.ToString());
        Assert.Equal(unfiltered.Output, filtered.Output);
    }

    [FactNeedingPythonSeccomp]
    public void Daemon_UnderMemoryDenyWriteExecute_DoesNotStart()
    {
        var control = ProcessRunner.Run(Python, [Emulator, "--mdwe", Unit, "--", "/bin/echo", "alive"]);
        Assert.True(control.ExitCode == 0 && control.Output.Trim() == "alive", control.ToString());

        var daemon = ProcessRunner.Run(Python, [Emulator, "--mdwe", Unit, "--", .. Chat()]);

        Assert.NotEqual(0, daemon.ExitCode);
        Assert.Equal("", daemon.Output.Trim());
    }
}

/// <summary>Skips, saying how to enable it, where python3's seccomp bindings are missing.</summary>
public sealed class FactNeedingPythonSeccompAttribute : FactAttribute
{
    public FactNeedingPythonSeccompAttribute()
    {
        if (!ProcessRunner.IsInstalled("systemd-analyze") || !File.Exists("/usr/bin/python3")
            || ProcessRunner.Run("/usr/bin/python3", ["-c", "import seccomp"]).ExitCode != 0)
        {
            Skip = "needs systemd-analyze and python3-seccomp (apt-get install python3-seccomp) to emulate the unit's seccomp rules";
        }
    }
}
