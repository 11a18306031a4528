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

        var postinst = File.ReadAllText(Path.Combine(control, "postinst"));
        Assert.Contains("adduser --quiet --system --group", postinst, StringComparison.Ordinal);
        // Enabled and started the Debian way (policy-rc.d respected); a failed start does not fail the install.
        Assert.Contains("deb-systemd-helper enable \"$unit\"", postinst, StringComparison.Ordinal);
        Assert.Contains("if deb-systemd-invoke \"$action\" \"$unit\"; then", postinst, StringComparison.Ordinal);
        Assert.DoesNotContain("systemctl restart", postinst, StringComparison.Ordinal);
        Assert.Equal("/etc/autoglm/edge.json", File.ReadAllText(Path.Combine(control, "conffiles")).Trim());
    }

    [FactNeeding("dpkg-deb")]
    public void Build_UnitDocumentation_IsAFileThePackageInstalls()
    {
        var contents = ProcessRunner.Run("dpkg-deb", ["--contents", BuildPackage("amd64")]);
        var documentation = File.ReadLines(RepoPaths.Of("deploy", "systemd", "autoglm-edge.service"))
            .Where(l => l.StartsWith("Documentation=", StringComparison.Ordinal))
            .SelectMany(l => l["Documentation=".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(u => u.StartsWith("file://", StringComparison.Ordinal))
            .ToList();

        Assert.NotEmpty(documentation);
        Assert.All(documentation, url => Assert.True(
            contents.Output.Split('\n').Any(l => l.EndsWith(" ." + url["file://".Length..], StringComparison.Ordinal)),
            $"the unit's Documentation={url} is not a file the package installs"));
    }

    [FactNeeding("dpkg-deb")]
    public void Build_CompressionNone_BuildsAnUncompressedPackage()
    {
        var tree = Directory.CreateDirectory(Path.Combine(_work, "tree")).FullName;
        File.WriteAllText(Path.Combine(tree, "autoglm-edge"), "#!/bin/sh\necho stub\n");
        File.SetUnixFileMode(Path.Combine(tree, "autoglm-edge"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var built = ProcessRunner.Run("bash", [RepoPaths.Of("deploy", "package-deb.sh"), "--arch", "amd64", "--from-dir", tree, "--out", _work, "--version", "1.2.3", "--compression", "none"]);
        Assert.True(built.ExitCode == 0, built.ToString());

        var members = ProcessRunner.Run("ar", ["t", built.Output.Trim()]);

        Assert.Contains("data.tar\n", members.Output + "\n", StringComparison.Ordinal);
    }

    [Fact]
    public void Build_BadCompression_RefusedNamingIt()
    {
        var result = ProcessRunner.Run("bash", [RepoPaths.Of("deploy", "package-deb.sh"), "--arch", "amd64", "--from-dir", _work, "--compression", "zstd"]);

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("--compression must be xz, gzip or none (got 'zstd')", result.Error, StringComparison.Ordinal);
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
