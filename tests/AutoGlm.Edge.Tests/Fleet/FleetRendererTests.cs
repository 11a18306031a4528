using System.Text.Json.Nodes;
using AutoGlm.Edge.Fleet;
using AutoGlm.Edge.Tests.Support;

namespace AutoGlm.Edge.Tests.Fleet;

public class FleetRendererTests
{
    private static ResolvedDevice Resolve(string id)
    {
        var validation = FleetValidation.Of(File.ReadAllText(RepoPaths.Of("deploy", "fleet", "examples", "fleet.yaml")));
        var manifest = validation.Manifest!;
        return FleetResolver.Resolve(manifest, manifest.Device(id)!);
    }

    [Fact]
    public void EdgeJson_Device_UsesTheDaemonsSectionsAndKeys()
    {
        var json = JsonNode.Parse(FleetRenderer.EdgeJson(Resolve("pi-office")))!;

        Assert.Equal("external", json["Mqtt"]!["Broker"]!.GetValue<string>());
        Assert.Equal(8883, json["Mqtt"]!["Port"]!.GetValue<int>());
        Assert.Equal("pi-office", json["Mqtt"]!["DeviceId"]!.GetValue<string>());
        Assert.Equal("/var/lib/autoglm/models/glm-edge-int4", json["Runtime"]!["ModelPath"]!.GetValue<string>());
        Assert.Equal("http://0.0.0.0:8000", json["Http"]!["Urls"]!.GetValue<string>());
        Assert.Equal("http://gpu-node.shop.lan:8000/v1", json["Cluster"]!["Nodes"]![0]!["Url"]!.GetValue<string>());
        Assert.Equal("edge", json["Cluster"]!["Role"]!.GetValue<string>());
        Assert.Equal("cost-threshold", json["Cluster"]!["Policy"]!.GetValue<string>());
    }

    [Fact]
    public void EdgeJson_Secrets_StayReferences()
    {
        var json = JsonNode.Parse(FleetRenderer.EdgeJson(Resolve("gpu-node")))!;

        Assert.Equal("file:/etc/autoglm/secrets/mqtt-password", json["Mqtt"]!["Password"]!.GetValue<string>());
        Assert.Equal(["env:AUTOGLM_HTTP_KEY_0", "file:/etc/autoglm/secrets/gpu-key-1"], json["Http"]!["ApiKeys"]!.AsArray().Select(k => k!.GetValue<string>()));
    }

    [Fact]
    public void DropIn_JetsonDevice_AddsRenderGroupAndTegraNodes()
    {
        var dropIn = FleetRenderer.DropIn(Resolve("jetson-shelf"), "fleet.yaml");

        Assert.Contains("[Service]", dropIn, StringComparison.Ordinal);
        Assert.Contains("SupplementaryGroups=render", dropIn, StringComparison.Ordinal);
        Assert.Contains("DeviceAllow=/dev/nvmap rw", dropIn, StringComparison.Ordinal);
        Assert.DoesNotContain("MemoryMax", dropIn, StringComparison.Ordinal);
    }

    [Fact]
    public void DropIn_PiDevice_CarriesResourceKnobs()
    {
        var dropIn = FleetRenderer.DropIn(Resolve("pi-kitchen"), "fleet.yaml");

        Assert.Contains("MemoryMax=6G", dropIn, StringComparison.Ordinal);
        Assert.Contains("CPUQuota=350%", dropIn, StringComparison.Ordinal);
        Assert.DoesNotContain("SupplementaryGroups=render", dropIn, StringComparison.Ordinal);
    }

    [Fact]
    public void Write_Device_WritesEdgeJsonAndDropIn()
    {
        var directory = Directory.CreateTempSubdirectory("fleet-render-").FullName;
        try
        {
            var written = FleetRenderer.Write(Resolve("pi-door"), "fleet.yaml", directory);

            Assert.Equal([Path.Combine(directory, "edge.json"), Path.Combine(directory, "autoglm-edge.service.d", FleetRenderer.DropInFileName)], written);
            Assert.Equal("door", JsonNode.Parse(File.ReadAllText(written[0]))!["Sensors"]!["Cameras"]![0]!["Name"]!.GetValue<string>());
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public void EdgeJson_SameManifest_SameBytes() =>
        Assert.Equal(FleetRenderer.EdgeJson(Resolve("pi-door")), FleetRenderer.EdgeJson(Resolve("pi-door")));
}
