using AutoGlm.Edge.Tests.Support;
using AutoGlm.Runtime.Generation;
using Microsoft.Extensions.Configuration;

namespace AutoGlm.Edge.Tests.Deploy;

/// <summary>What every deploy/ folder and script must satisfy, and the Jetson profile binding to the daemon's options.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public class DeployFolderTests
{
    public static TheoryData<string> ShellScripts()
    {
        var data = new TheoryData<string>();
        foreach (var file in Directory.EnumerateFiles(RepoPaths.Of("deploy"), "*.sh", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            data.Add(Path.GetRelativePath(RepoPaths.Root, file));
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(ShellScripts))]
    public void ShellScript_ParsesStrictAndExecutable(string script)
    {
        var path = RepoPaths.Of(script);

        var syntax = ProcessRunner.Run("bash", ["-n", path]);

        Assert.True(syntax.ExitCode == 0, syntax.ToString());
        Assert.Contains("\nset -euo pipefail\n", File.ReadAllText(path), StringComparison.Ordinal);
        Assert.True(File.GetUnixFileMode(path).HasFlag(UnixFileMode.UserExecute), $"{script} is not executable");
    }

    [Fact]
    public void EveryDeployFolder_HasReadme()
    {
        var folders = Directory.EnumerateDirectories(RepoPaths.Of("deploy"), "*", SearchOption.AllDirectories).Append(RepoPaths.Of("deploy")).ToList();

        Assert.True(folders.Count >= 9);
        Assert.All(folders, f => Assert.True(File.Exists(Path.Combine(f, "README.md")), $"{f} has no README.md"));
    }

    private static IConfiguration Load(params string[] files)
    {
        var builder = new ConfigurationBuilder();
        foreach (var file in files)
        {
            builder.AddJsonFile(RepoPaths.Of("deploy", "jetson", file), optional: false);
        }

        return builder.Build();
    }

    [Fact]
    public void JetsonProfile_SelectsTensorRtWithCacheUnderCacheDirectory()
    {
        var options = Load("appsettings.Jetson.json").GetSection("Runtime").Get<EngineOptions>()!;

        Assert.Equal("tensorrt", options.ExecutionProvider);
        Assert.StartsWith("/var/cache/autoglm/", options.TensorRtCacheDirectory, StringComparison.Ordinal);
        Assert.Empty(options.Validate());
    }

    [Fact]
    public void JetsonMemoryProfiles_ValidAndGrowWithMemory()
    {
        var profiles = new[] { 8, 16, 32, 64 }
            .Select(gb => Load("appsettings.Jetson.json", Path.Combine("memory", $"orin-{gb}gb.json")).GetSection("Runtime").Get<EngineOptions>()!)
            .ToList();

        Assert.All(profiles, p => Assert.Empty(p.Validate()));
        Assert.All(profiles, p => Assert.Equal("tensorrt", p.ExecutionProvider));
        Assert.Equal(profiles.Select(p => p.MaxBatchSize * (long)p.MaxSequenceLength).Order(), profiles.Select(p => p.MaxBatchSize * (long)p.MaxSequenceLength));
        Assert.Equal(4, Directory.GetFiles(RepoPaths.Of("deploy", "jetson", "memory"), "*.json").Length);
    }
}
