using AutoGlm.Cluster.Nodes;
using AutoGlm.Cluster.Routing;

namespace AutoGlm.Cluster.Tests.Routing;

public sealed class ClusterOptionsTests
{
    [Fact]
    public void Validate_Defaults_Succeeds()
    {
        Assert.True(new ClusterOptionsValidator().Validate(null, new ClusterOptions()).Succeeded);
    }

    [Fact]
    public void Validate_BadValues_NamesEveryKey()
    {
        var options = new ClusterOptions
        {
            Role = "gpu",
            Policy = "cheapest",
            WhenNoNode = "wait",
            QueueTimeoutMs = 0,
            MidStreamFailure = "retry",
            MaxLocalLatencyMs = 0,
            Nodes = [new NodeOptions { Url = "gpu-node:8000", Weight = 0 }],
        };

        var result = new ClusterOptionsValidator().Validate(null, options);

        Assert.True(result.Failed);
        foreach (var key in new[] { "Cluster:Role", "Cluster:Policy", "Cluster:WhenNoNode", "Cluster:QueueTimeoutMs", "Cluster:MidStreamFailure", "Cluster:MaxLocalLatencyMs", "Cluster:Nodes:0:Url", "Cluster:Nodes:0:Weight" })
        {
            Assert.Contains(key, result.FailureMessage, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Validate_MqttNodeWithUrlAndWildcard_NamesBothKeys()
    {
        var options = new ClusterOptions
        {
            Nodes =
            [
                new NodeOptions { Mqtt = new MqttNodeOptions { Topic = "autoglm/gpu-node" } },
                new NodeOptions { Url = "http://gpu:8000/v1", Mqtt = new MqttNodeOptions { Topic = "autoglm/+", Port = 0 } },
            ],
        };

        var result = new ClusterOptionsValidator().Validate(null, options);

        Assert.DoesNotContain("Cluster:Nodes:0", result.FailureMessage, StringComparison.Ordinal);
        Assert.Contains("Cluster:Nodes:1:Url and Cluster:Nodes:1:Mqtt:Topic exclude each other", result.FailureMessage, StringComparison.Ordinal);
        Assert.Contains("Cluster:Nodes:1:Mqtt:Topic must be", result.FailureMessage, StringComparison.Ordinal);
        Assert.Contains("Cluster:Nodes:1:Mqtt:Port", result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_RemoteFirstWithoutNodes_Fails()
    {
        var result = new ClusterOptionsValidator().Validate(null, new ClusterOptions { Policy = RoutingPolicies.RemoteFirst });

        Assert.Contains("Cluster:Nodes", result.FailureMessage, StringComparison.Ordinal);
    }
}
