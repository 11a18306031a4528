using System.Text.Json.Nodes;
using AutoGlm.Edge.Fleet;
using AutoGlm.Edge.Tests.Support;
using Microsoft.Extensions.Configuration;

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
            Assert.Equal("door", JsonNode.Parse(File.ReadAllText(written[0]))!["Sensors"]!["Devices"]![0]!["Name"]!.GetValue<string>());
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public void EdgeJson_Sensors_AreTheDaemonsSensorsSection_AndPassItsValidation()
    {
        var json = FleetRenderer.EdgeJson(Resolve("pi-door"));
        var configuration = new ConfigurationBuilder()
            .AddJsonStream(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(json)))
            .Build();
        var options = new AutoGlm.Edge.Sensors.SensorsOptions();
        configuration.GetSection("Sensors").Bind(options);

        var result = new AutoGlm.Edge.Sensors.SensorsOptionsValidator(configuration).Validate(null, options);

        Assert.True(result.Succeeded, result.FailureMessage);
        var door = Assert.Single(options.Devices);
        Assert.Equal(("door", "camera", "/dev/video0", "Is anyone waiting at the door?"), (door.Name, door.Kind, door.Device, door.Prompt));
        Assert.Equal(["interval", "motion", "mqtt"], door.Triggers.Select(t => t.Kind));
        Assert.Equal(TimeSpan.FromSeconds(30), door.Triggers[0].Every);
        Assert.Equal(("bell", 17), (door.Triggers[1].Name, door.Triggers[1].Pin!.Value));
        Assert.Equal(0, options.GpioChip);
    }

    [Fact]
    public void EdgeJson_Microphone_CapturesOnItsCommandTopic()
    {
        var json = JsonNode.Parse(FleetRenderer.EdgeJson(Resolve("pi-kitchen")))!;

        var counter = json["Sensors"]!["Devices"]![0]!;
        Assert.Equal(("counter", "microphone", "hw:1,0", 5), (counter["Name"]!.GetValue<string>(), counter["Kind"]!.GetValue<string>(), counter["Device"]!.GetValue<string>(), counter["ClipSeconds"]!.GetValue<int>()));
        Assert.Equal("mqtt", counter["Triggers"]![0]!["Kind"]!.GetValue<string>());
    }

    [Fact]
    public void EdgeJson_SameManifest_SameBytes() =>
        Assert.Equal(FleetRenderer.EdgeJson(Resolve("pi-door")), FleetRenderer.EdgeJson(Resolve("pi-door")));
}
