using AutoGlm.Edge.Tests.Support;

namespace AutoGlm.Edge.Tests.Deploy;

/// <summary>
/// deploy/package-deb.sh over a small prebuilt tree (a stub executable and a fake native library, via --from-dir)
/// rather than a full self-contained publish, which takes minutes here; the packaging and maintainer scripts are the same.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class PackageDebTests : IDisposable
{
    private readonly string _work = Directory.CreateTempSubdirectory("deb-").FullName;

    public void Dispose() => Directory.Delete(_work, recursive: true);

    private string BuildPackage(string arch)
    {
        var tree = Directory.CreateDirectory(Path.Combine(_work, "tree")).FullName;
        File.WriteAllText(Path.Combine(tree, "autoglm-edge"), "#!/bin/sh\necho stub\n");
        File.SetUnixFileMode(Path.Combine(tree, "autoglm-edge"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        File.WriteAllText(Path.Combine(tree, "libonnxruntime.so"), "native");
        var result = ProcessRunner.Run("bash", [RepoPaths.Of("deploy", "package-deb.sh"), "--arch", arch, "--from-dir", tree, "--out", _work, "--version", "1.2.3"]);
        Assert.True(result.ExitCode == 0, result.ToString());
        var deb = result.Output.Trim();
        Assert.Equal(Path.Combine(_work, $"autoglm-edge_1.2.3_{arch}.deb"), deb);
        return deb;
    }

    [TheoryNeeding("dpkg-deb")]
    [InlineData("arm64")]
    [InlineData("amd64")]
    public void Build_Arch_ControlNamesPackageAndArchitecture(string arch)
    {
        var info = ProcessRunner.Run("dpkg-deb", ["--info", BuildPackage(arch)]);

        Assert.Equal(0, info.ExitCode);
        Assert.Contains("Package: autoglm-edge", info.Output, StringComparison.Ordinal);
        Assert.Contains($"Architecture: {arch}", info.Output, StringComparison.Ordinal);
        Assert.Contains("Version: 1.2.3", info.Output, StringComparison.Ordinal);
        foreach (var script in new[] { "postinst", "prerm", "postrm", "conffiles" })
        {
            Assert.Contains(script, info.Output, StringComparison.Ordinal);
        }
    }

    [FactNeeding("dpkg-deb")]
    public void Build_Contents_HoldDaemonUnitConfigAndJetsonFiles()
    {
        var contents = ProcessRunner.Run("dpkg-deb", ["--contents", BuildPackage("arm64")]);

        Assert.Equal(0, contents.ExitCode);
        foreach (var path in new[]
        {
            "./opt/autoglm/autoglm-edge", "./opt/autoglm/libonnxruntime.so", "./lib/systemd/system/autoglm-edge.service", "./etc/autoglm/edge.json",
            "./lib/udev/rules.d/60-autoglm-gpio.rules", "./opt/autoglm/deploy/jetson/autoglm-edge.service.d/jetson.conf",
            "./opt/autoglm/deploy/jetson/memory/orin-8gb.json", "./usr/bin/autoglm-edge -> /opt/autoglm/autoglm-edge",
        })
        {
            Assert.Contains(path, contents.Output, StringComparison.Ordinal);
        }

        Assert.Contains("root/root", contents.Output, StringComparison.Ordinal);
        Assert.Contains("-rwxr-xr-x root/root", contents.Output.Split('\n').Single(l => l.EndsWith("./opt/autoglm/autoglm-edge", StringComparison.Ordinal)), StringComparison.Ordinal);
    }

    [FactNeeding("dpkg-deb")]
    public void Build_MaintainerScripts_ExecutableParseAndCreateTheUser()
    {
        var control = Path.Combine(_work, "control");
        Assert.Equal(0, ProcessRunner.Run("dpkg-deb", ["--control", BuildPackage("amd64"), control]).ExitCode);

        foreach (var script in new[] { "postinst", "prerm", "postrm" })
        {
            var path = Path.Combine(control, script);
            Assert.True(File.GetUnixFileMode(path).HasFlag(UnixFileMode.UserExecute), $"{script} is not executable");
            var syntax = ProcessRunner.Run("sh", ["-n", path]);
            Assert.True(syntax.ExitCode == 0, syntax.ToString());
        }

        Assert.Contains("adduser --system --group", File.ReadAllText(Path.Combine(control, "postinst")), StringComparison.Ordinal);
        Assert.Contains("systemctl enable autoglm-edge.service", File.ReadAllText(Path.Combine(control, "postinst")), StringComparison.Ordinal);
        Assert.Equal("/etc/autoglm/edge.json", File.ReadAllText(Path.Combine(control, "conffiles")).Trim());
    }

    [FactNeeding("dpkg-deb")]
    public void Build_NoVersionOption_PackageVersionIsWhatTheDaemonReports()
    {
        var tree = Directory.CreateDirectory(Path.Combine(_work, "tree")).FullName;
        File.WriteAllText(Path.Combine(tree, "autoglm-edge"), "#!/bin/sh\necho stub\n");
        File.SetUnixFileMode(Path.Combine(tree, "autoglm-edge"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var built = ProcessRunner.Run("bash", [RepoPaths.Of("deploy", "package-deb.sh"), "--arch", "amd64", "--from-dir", tree, "--out", _work]);
        Assert.True(built.ExitCode == 0, built.ToString());
        var reported = ProcessRunner.Run("dotnet", [DaemonProcess.DaemonPath(), "--version"]);
        Assert.True(reported.ExitCode == 0, reported.ToString());

        var packaged = ProcessRunner.Run("dpkg-deb", ["--field", built.Output.Trim(), "Version"]);

        Assert.Equal(reported.Output.Trim(), packaged.Output.Trim());
        Assert.Matches(@"^\d+\.\d+\.\d+", packaged.Output.Trim());
    }

    [Fact]
    public void Build_BadArch_Refused()
    {
        var result = ProcessRunner.Run("bash", [RepoPaths.Of("deploy", "package-deb.sh"), "--arch", "armhf", "--from-dir", _work]);

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("--arch must be arm64 or amd64", result.Error, StringComparison.Ordinal);
    }
}
