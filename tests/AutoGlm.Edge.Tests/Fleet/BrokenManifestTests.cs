using AutoGlm.Edge.Fleet;
using AutoGlm.Edge.Tests.Support;

namespace AutoGlm.Edge.Tests.Fleet;

/// <summary>Every manifest in deploy/fleet/examples/broken reports exactly the errors listed in expected-errors.txt.</summary>
public class BrokenManifestTests
{
    private static readonly string BrokenDirectory = RepoPaths.Of("deploy", "fleet", "examples", "broken");

    private static ILookup<string, string> Expected() => File.ReadAllLines(Path.Combine(BrokenDirectory, "expected-errors.txt"))
        .Where(l => l.Length > 0 && !l.StartsWith('#'))
        .ToLookup(l => l[..l.IndexOf(':', StringComparison.Ordinal)], l => l[(l.IndexOf(':', StringComparison.Ordinal) + 1)..]);

    private static List<string> BrokenFileNames() =>
        [.. Directory.EnumerateFiles(BrokenDirectory, "*.yaml").Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal)];

    public static TheoryData<string> BrokenFiles() => [.. BrokenFileNames()];

    [Theory]
    [MemberData(nameof(BrokenFiles))]
    public void Validate_BrokenManifest_ReportsExactlyTheExpectedErrors(string file)
    {
        var expected = Expected()[file].ToList();
        Assert.NotEmpty(expected);

        var validation = FleetValidation.Of(File.ReadAllText(Path.Combine(BrokenDirectory, file)));

        Assert.False(validation.IsValid);
        Assert.Equal(expected, validation.Errors.Select(e => e.ToString()));
    }

    [Fact]
    public void BrokenExamples_AtLeastFifteen_EachListedInExpectations()
    {
        var files = BrokenFileNames();
        var expectations = Expected();

        Assert.True(files.Count >= 15, $"only {files.Count} broken manifests");
        Assert.All(files, f => Assert.Contains(f, expectations.Select(g => g.Key)));
        Assert.All(expectations.Select(g => g.Key), f => Assert.Contains(f, files));
    }

    [Fact]
    public void Validate_InlineSecret_NeverEchoesTheValue()
    {
        const string Line4 = "    broker: { mode: external, host: h, password: s3cr3t-value }";
        var validation = FleetValidation.Of($"version: 1\ndevices:\n  - id: pi-a\n{Line4}\n");

        var error = Assert.Single(validation.Errors);
        Assert.DoesNotContain("s3cr3t-value", error.Message, StringComparison.Ordinal);
        Assert.Equal((4, Line4.IndexOf("s3cr3t-value", StringComparison.Ordinal) + 1), (error.Line, error.Column));
    }
}
