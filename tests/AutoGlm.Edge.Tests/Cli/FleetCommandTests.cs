using System.Text.Json.Nodes;
using AutoGlm.Edge.Tests.Support;

namespace AutoGlm.Edge.Tests.Cli;

public class FleetCommandTests
{
    private static readonly string Example = RepoPaths.Of("deploy", "fleet", "examples", "fleet.yaml");

    [Fact]
    public async Task Validate_GoodManifest_ExitsZero()
    {
        var (exit, output, error) = await CliRunner.RunAsync("fleet", "validate", Example);

        Assert.Equal(0, exit);
        Assert.Contains("OK, 6 device(s), 3 group(s)", output, StringComparison.Ordinal);
        Assert.Equal("", error);
    }

    [Fact]
    public async Task Validate_BrokenManifest_PrintsEveryErrorWithFileLineColumn()
    {
        var file = RepoPaths.Of("deploy", "fleet", "examples", "broken", "20-several-errors-at-once.yaml");

        var (exit, _, error) = await CliRunner.RunAsync("fleet", "validate", file);

        Assert.Equal(1, exit);
        var lines = error.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains("20-several-errors-at-once.yaml:1:10: version must be 1 (got '2')", lines);
        var expected = File.ReadLines(RepoPaths.Of("deploy", "fleet", "examples", "broken", "expected-errors.txt"))
            .Where(l => l.StartsWith("20-several-errors-at-once.yaml:", StringComparison.Ordinal)).ToList();
        Assert.Equal([.. expected, $"20-several-errors-at-once.yaml: {expected.Count} error(s)"], lines);
    }

    [Fact]
    public async Task Render_KnownDevice_WritesFilesWithoutSecrets()
    {
        var directory = Directory.CreateTempSubdirectory("fleet-cli-").FullName;
        try
        {
            var (exit, output, _) = await CliRunner.RunAsync("fleet", "render", Example, "--device", "pi-office", "--out", directory);

            Assert.Equal(0, exit);
            Assert.Contains("edge.json", output, StringComparison.Ordinal);
            var json = JsonNode.Parse(File.ReadAllText(Path.Combine(directory, "edge.json")))!;
            Assert.Equal("file:/etc/autoglm/secrets/office-api-key", json["Http"]!["ApiKeys"]![0]!.GetValue<string>());
            Assert.True(File.Exists(Path.Combine(directory, "autoglm-edge.service.d", "50-fleet.conf")));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task Render_UnknownDevice_ExitsOneNamingTheDevices()
    {
        var (exit, _, error) = await CliRunner.RunAsync("fleet", "render", Example, "--device", "nope", "--out", Path.GetTempPath());

        Assert.Equal(1, exit);
        Assert.Contains("has no device 'nope'", error, StringComparison.Ordinal);
        Assert.Contains("pi-kitchen", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Plan_Example_PrintsOneRowPerDevice()
    {
        var (exit, output, _) = await CliRunner.RunAsync("fleet", "plan", Example);

        Assert.Equal(0, exit);
        Assert.Equal(7, output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        Assert.StartsWith("device", output, StringComparison.Ordinal);
    }
}
