using System.Text.Json.Nodes;
using AutoGlm.Edge.Fleet;
using AutoGlm.Edge.Tests.Support;

namespace AutoGlm.Edge.Tests.Fleet;

public class FleetManifestTests
{
    private static readonly string ExamplesDirectory = RepoPaths.Of("deploy", "fleet", "examples");

    private static FleetManifest Example(string name)
    {
        var validation = FleetValidation.Of(File.ReadAllText(Path.Combine(ExamplesDirectory, name)));
        Assert.Empty(validation.Errors);
        return validation.Manifest!;
    }

    public static TheoryData<string> GoodExamples()
    {
        var data = new TheoryData<string>();
        foreach (var file in Directory.EnumerateFiles(ExamplesDirectory, "*.yaml").Order(StringComparer.Ordinal))
        {
            data.Add(Path.GetFileName(file));
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(GoodExamples))]
    public void Validate_ShippedExample_HasNoErrors(string file)
    {
        var manifest = Example(file);

        Assert.NotEmpty(manifest.Devices);
    }

    [Fact]
    public void Resolve_GroupsInFileOrder_LaterLayersOverrideEarlier()
    {
        var manifest = Example("fleet.yaml");

        var shelf = FleetResolver.Resolve(manifest, manifest.Device("jetson-shelf")!);

        Assert.Equal(["jetsons", "front-of-house"], shelf.Groups);
        Assert.Equal("tensorrt", shelf.Text("runtime.executionProvider", ""));
        Assert.Equal(8, shelf["runtime.maxBatchSize"]!.GetValue<int>());
        // Mappings merge: the broker from defaults survives a group that sets nothing there.
        Assert.Equal("mqtt.shop.lan", shelf.Text("broker.host", ""));
    }

    [Fact]
    public void Resolve_DeviceSettings_WinOverGroupsAndListsReplace()
    {
        var manifest = Example("fleet.yaml");

        var gpu = FleetResolver.Resolve(manifest, manifest.Device("gpu-node")!);

        Assert.Equal("heavy", gpu.Text("role", ""));
        Assert.Equal("cuda", gpu.Text("runtime.executionProvider", ""));
        Assert.Empty((JsonArray)gpu["routing.heavyNodes"]!);
        Assert.Empty(gpu.Groups);
    }

    [Theory]
    [InlineData("pi-*", "pi-door", true)]
    [InlineData("pi-*", "jetson-1", false)]
    [InlineData("cam-?", "cam-1", true)]
    [InlineData("cam-?", "cam-10", false)]
    [InlineData("a.b", "axb", false)]
    public void GlobPattern_IsMatch_FollowsShellRules(string pattern, string id, bool expected) =>
        Assert.Equal(expected, GlobPattern.IsMatch(pattern, id));

    [Fact]
    public void Selects_TagsAndIds_BothMustHold()
    {
        var group = new FleetGroup("g", ["pi", "front"], ["pi-*"], [], default);

        Assert.True(group.Selects(new FleetDevice("pi-door", ["pi", "front"], [], default)));
        Assert.False(group.Selects(new FleetDevice("pi-door", ["pi"], [], default)));
        Assert.False(group.Selects(new FleetDevice("jetson-door", ["pi", "front"], [], default)));
    }

    [Fact]
    public void Plan_Example_ShowsEveryDeviceWithItsLayers()
    {
        var manifest = Example("fleet.yaml");

        var lines = FleetPlan.Render(manifest).TrimEnd().Split('\n');

        Assert.Equal(manifest.Devices.Count + 1, lines.Length);
        Assert.Contains(lines, l => l.StartsWith("pi-door", StringComparison.Ordinal) && l.Contains("defaults > pis > front-of-house > device", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("gpu-node", StringComparison.Ordinal) && l.Contains("heavy", StringComparison.Ordinal) && l.Contains("cuda", StringComparison.Ordinal));
    }
}
