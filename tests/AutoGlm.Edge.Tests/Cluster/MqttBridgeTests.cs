using System.Globalization;
using System.Net;
using System.Text;
using AutoGlm.Edge.Http;
using AutoGlm.Edge.Tests.Http;
using AutoGlm.Edge.Tests.Support;

namespace AutoGlm.Edge.Tests.Cluster;

/// <summary>
/// The MQTT bridge: a heavy daemon (a child process) and an edge daemon (in process) share one real Mosquitto and
/// nothing else; the edge's only heavy node is <c>Cluster:Nodes:0:Mqtt:Topic</c> = the heavy device's prefix.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class MqttBridgeTests : IAsyncLifetime
{
    private readonly string _heavyId = "hb" + Guid.NewGuid().ToString("N")[..8];
    private readonly string _edgeId = "eb" + Guid.NewGuid().ToString("N")[..8];
    private MosquittoBroker _broker = null!;
    private DaemonProcess _heavy = null!;
    private EdgeServer _edge = null!;
    private TestMqttClient _client = null!;

    private string Port => _broker.Port.ToString(CultureInfo.InvariantCulture);

    public async Task InitializeAsync()
    {
        _broker = await MosquittoBroker.StartAsync();
        _heavy = new DaemonProcess(TestPaths.NewFolder("heavy"), new Dictionary<string, string>
        {
            ["Cluster__Role"] = "heavy",
            ["Mqtt__Broker"] = "external",
            ["Mqtt__Port"] = Port,
            ["Mqtt__DeviceId"] = _heavyId,
        });
        await _heavy.StartAsync();
        _edge = await EdgeServer.StartAsync(
            "Cluster:Policy=local-only",
            "Cluster:HealthCheckInterval=00:00:00.250",
            $"Cluster:Nodes:0:Mqtt:Topic=autoglm/{_heavyId}",
            $"Cluster:Nodes:0:Mqtt:Port={Port}",
            "Cluster:Nodes:1:Mqtt:Topic=autoglm/no-such-device",
            $"Cluster:Nodes:1:Mqtt:Port={Port}",
            "Mqtt:Broker=external",
            $"Mqtt:Port={Port}",
            $"Mqtt:DeviceId={_edgeId}");
        _client = await TestMqttClient.ConnectAsync(_broker.Port, persistent: false, $"autoglm/{_edgeId}/results/#", $"autoglm/{_heavyId}/jobs");
    }

    [Fact]
    public async Task Job_RouteRemote_ServedByHeavyNodeThroughTheBroker()
    {
        var id = "br-" + Guid.NewGuid().ToString("N")[..8];

        await _client.PublishAsync($"autoglm/{_edgeId}/jobs", $$"""{"id":"{{id}}","prompt":"Hello","max_tokens":4,"seed":1,"route":"remote"}""");
        var result = await _client.WaitForTopicAsync($"autoglm/{_edgeId}/results/{id}", TimeSpan.FromSeconds(60));

        Assert.True(result.ErrorCode is null, result.Text);
        Assert.Equal($"remote:mqtt:autoglm/{_heavyId}", result.Json.GetProperty("served_by").GetString());
        Assert.Equal("route remote requested", result.Json.GetProperty("route_reason").GetString());
        Assert.NotEmpty(result.Json.GetProperty("text").GetString()!);
        Assert.Equal(4, result.Json.GetProperty("usage").GetProperty("completion_tokens").GetInt32());

        // The edge published it as a JSON job on the heavy device's own jobs topic, correlated to its id.
        var job = Assert.Single(_client.Messages, m => m.Topic == $"autoglm/{_heavyId}/jobs");
        Assert.StartsWith("bridge-", job.Json.GetProperty("id").GetString(), StringComparison.Ordinal);
        Assert.Equal(job.Json.GetProperty("id").GetString(), job.CorrelationText);
        _heavy.AssertNoUnexpectedErrors();
        _edge.Logs.AssertNoErrors();
    }

    [Fact]
    public async Task Job_WithTwoImages_TheHeavyNodeAnswersAsTheEdgeWould()
    {
        var images = string.Join(",", new[] { AutoGlm.Tests.Media.TestMedia.Checkerboard(48, 3), AutoGlm.Tests.Media.TestMedia.Checkerboard(48, 6) }
            .Select(b => $"\"{Convert.ToBase64String(b)}\""));
        var remoteId = "bri-" + Guid.NewGuid().ToString("N")[..8];
        var localId = "lci-" + Guid.NewGuid().ToString("N")[..8];
        string Job(string id, string route) => $$"""{"id":"{{id}}","prompt":"Which is finer?","image":[{{images}}],"max_tokens":6,"seed":3,"temperature":1,"route":"{{route}}"}""";

        await _client.PublishAsync($"autoglm/{_edgeId}/jobs", Job(remoteId, "remote"));
        var remote = await _client.WaitForTopicAsync($"autoglm/{_edgeId}/results/{remoteId}", TimeSpan.FromSeconds(60));
        await _client.PublishAsync($"autoglm/{_edgeId}/jobs", Job(localId, "local"));
        var local = await _client.WaitForTopicAsync($"autoglm/{_edgeId}/results/{localId}", TimeSpan.FromSeconds(60));

        Assert.True(remote.ErrorCode is null, remote.Text);
        Assert.Equal($"remote:mqtt:autoglm/{_heavyId}", remote.Json.GetProperty("served_by").GetString());
        Assert.Equal(local.Json.GetProperty("usage").GetProperty("prompt_tokens").GetInt32(), remote.Json.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        Assert.Equal(local.Json.GetProperty("text").GetString(), remote.Json.GetProperty("text").GetString());
    }

    [Fact]
    public async Task Job_HeavyNodeTooSlowForTheTimeout_CancelledThereAndAnsweredLocally()
    {
        var impatientId = "ib" + Guid.NewGuid().ToString("N")[..8];
        await using var impatient = await EdgeServer.StartAsync(
            "Cluster:Policy=local-only",
            "Cluster:RequestTimeout=00:00:01",
            $"Cluster:Nodes:0:Mqtt:Topic=autoglm/{_heavyId}",
            $"Cluster:Nodes:0:Mqtt:Port={Port}",
            "Mqtt:Broker=external",
            $"Mqtt:Port={Port}",
            $"Mqtt:DeviceId={impatientId}");
        await using var watcher = await TestMqttClient.ConnectAsync(_broker.Port, persistent: false, $"autoglm/{impatientId}/results/#", "autoglm-bridge/#", $"autoglm/{_heavyId}/jobs/+/cancel");
        var id = "slow-" + Guid.NewGuid().ToString("N")[..8];

        await watcher.PublishAsync($"autoglm/{impatientId}/jobs", $$"""{"id":"{{id}}","prompt":"Tell me everything","max_tokens":1900,"route":"remote"}""");
        var result = await watcher.WaitForTopicAsync($"autoglm/{impatientId}/results/{id}", TimeSpan.FromSeconds(120));

        // Served locally after the bridge gave up; the heavy node was told to drop the job and said so on the reply topic.
        Assert.True(result.ErrorCode is null, result.Text);
        Assert.StartsWith("local:", result.Json.GetProperty("served_by").GetString(), StringComparison.Ordinal);
        var cancel = await watcher.WaitForAsync(m => m.Topic.StartsWith($"autoglm/{_heavyId}/jobs/bridge-", StringComparison.Ordinal), "the bridge's cancel", TimeSpan.FromSeconds(30));
        var bridgeId = cancel.Topic.Split('/')[3];
        var dropped = await watcher.WaitForAsync(m => m.Topic.StartsWith("autoglm-bridge/", StringComparison.Ordinal) && m.Topic.EndsWith("/" + bridgeId, StringComparison.Ordinal), "the heavy node's answer to the cancel", TimeSpan.FromSeconds(30));
        Assert.Equal("cancelled", dropped.ErrorCode);
    }

    [Fact]
    public async Task ChatCompletions_RouteRemote_ServedByHeavyNodeThroughTheBroker()
    {
        using var client = _edge.CreateClient();
        using var response = await client.PostAsync(
            new Uri("v1/chat/completions", UriKind.Relative),
            new StringContent("""{"route":"remote","messages":[{"role":"user","content":"Hello"}],"max_tokens":3,"seed":1}""", Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal($"remote:mqtt:autoglm/{_heavyId}", response.Headers.GetValues(ChatCompletionsEndpoint.ServedByHeader).Single());
    }

    [Fact]
    public async Task Health_DeviceWithoutRetainedOnlineStatus_NodeTakesNoTraffic()
    {
        var pool = _edge.Services.GetService(typeof(Microsoft.Extensions.AI.IChatClient)) is Microsoft.Extensions.AI.IChatClient pipeline
            ? Microsoft.Extensions.AI.ChatClientExtensions.GetService<AutoGlm.Cluster.Nodes.NodePool>(pipeline)
            : null;
        Assert.NotNull(pool);

        await Poll.UntilAsync(() => pool.Nodes[0].IsAvailable && !pool.Nodes[1].IsAvailable, "the online heavy node up and the missing one down");
        Assert.Same(pool.Nodes[0], pool.Pick());
    }

    public async Task DisposeAsync()
    {
        await _client.DisposeAsync();
        await _edge.DisposeAsync();
        await _heavy.DisposeAsync();
        await _broker.DisposeAsync();
    }
}
