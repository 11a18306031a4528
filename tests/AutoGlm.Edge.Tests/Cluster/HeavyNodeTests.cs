using System.Globalization;
using AutoGlm.Edge.Tests.Support;

namespace AutoGlm.Edge.Tests.Cluster;

/// <summary>
/// Two real daemons on loopback, both on the tiny model: an edge (embedded broker, policy cost-threshold) and a heavy
/// node that requires an API key. Jobs go to the edge over MQTT.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class HeavyNodeTests : IAsyncLifetime
{
    private const string Key = "heavy-node-test-key";

    private readonly int _edgeMqttPort = TestPaths.FreePort();
    private readonly int _heavyHttpPort = TestPaths.FreePort();
    private readonly string _deviceId = "cl" + Guid.NewGuid().ToString("N")[..8];
    private DaemonProcess _heavy = null!;
    private DaemonProcess _edge = null!;
    private TestMqttClient _client = null!;

    private string Prefix => $"autoglm/{_deviceId}";

    private string HeavyAuthority => $"127.0.0.1:{_heavyHttpPort.ToString(CultureInfo.InvariantCulture)}";

    public async Task InitializeAsync()
    {
        _heavy = new DaemonProcess(TestPaths.NewFolder("heavy"), new Dictionary<string, string>
        {
            ["Cluster__Role"] = "heavy",
            ["Http__Urls"] = $"http://{HeavyAuthority}",
            ["Http__ApiKeys__0"] = Key,
            ["Http__RequestsPerMinute"] = "0",
            ["Mqtt__Port"] = TestPaths.FreePort().ToString(CultureInfo.InvariantCulture),
        });
        await _heavy.StartAsync();

        _edge = new DaemonProcess(TestPaths.NewFolder("edge"), new Dictionary<string, string>
        {
            ["Mqtt__Port"] = _edgeMqttPort.ToString(CultureInfo.InvariantCulture),
            ["Mqtt__DeviceId"] = _deviceId,
            ["Cluster__Policy"] = "cost-threshold",

            // Jobs asking for more than 64 answer tokens are heavy, whatever speed the edge has measured.
            ["Cluster__MaxLocalLatencyMs"] = "1000",
            ["Cluster__DefaultDecodeTokensPerSecond"] = "10",
            ["Cluster__DefaultPrefillTokensPerSecond"] = "100000",
            ["Cluster__HealthCheckInterval"] = "00:00:00.250",
            ["Cluster__HealthCheckTimeout"] = "00:00:10",
            ["Cluster__RequestTimeout"] = "00:00:30",
            ["Cluster__Nodes__0__Url"] = $"http://{HeavyAuthority}/v1",
            ["Cluster__Nodes__0__ApiKey"] = Key,
        });
        await _edge.StartAsync();
        _client = await TestMqttClient.ConnectAsync(_edgeMqttPort, persistent: false, $"{Prefix}/results/#");
    }

    [Fact]
    public async Task Job_HeavyAndLight_HeavyServedByNodeLightLocally()
    {
        var heavy = await RunJobAsync("\"route\":\"remote\",\"max_tokens\":4");
        var light = await RunJobAsync("\"max_tokens\":2");

        Assert.Null(heavy.ErrorCode);
        Assert.True($"remote:{HeavyAuthority}" == heavy.Json.GetProperty("served_by").GetString(), heavy.Text + "\n" + string.Join("\n", _edge.Lines.TakeLast(20)));
        Assert.Equal("route remote requested", heavy.Json.GetProperty("route_reason").GetString());
        Assert.Null(light.ErrorCode);
        Assert.StartsWith("local:", light.Json.GetProperty("served_by").GetString(), StringComparison.Ordinal);
        Assert.Contains("within", light.Json.GetProperty("route_reason").GetString(), StringComparison.Ordinal);
        _edge.AssertNoUnexpectedErrors();
        _heavy.AssertNoUnexpectedErrors();
    }

    [Fact]
    public async Task Job_OverThreshold_ServedByNodeWithTheKeyItRequires()
    {
        var result = await RunJobAsync("\"max_tokens\":200");

        Assert.Null(result.ErrorCode);
        Assert.Equal($"remote:{HeavyAuthority}", result.Json.GetProperty("served_by").GetString());
        Assert.StartsWith("cost-threshold: predicted local latency", result.Json.GetProperty("route_reason").GetString(), StringComparison.Ordinal);

        // The heavy node audits each request under the key that authenticated it; an unauthenticated one would be 401.
        Assert.Contains(_heavy.Lines, line => line.Contains("/v1/chat/completions status=200", StringComparison.Ordinal));
        using var anonymous = new HttpClient();
        using var refused = await anonymous.PostAsync(new Uri($"http://{HeavyAuthority}/v1/chat/completions"), new StringContent("{}", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, refused.StatusCode);
    }

    [Fact]
    public async Task Job_HeavyNodeKilledThenRestarted_ServedLocallyThenByNodeAgain()
    {
        Assert.Equal($"remote:{HeavyAuthority}", (await RunJobAsync("\"route\":\"remote\",\"max_tokens\":2")).Json.GetProperty("served_by").GetString());

        await _heavy.KillAsync();
        var result = await RunJobAsync("\"route\":\"remote\",\"max_tokens\":2");

        Assert.Null(result.ErrorCode);
        Assert.StartsWith("local:", result.Json.GetProperty("served_by").GetString(), StringComparison.Ordinal);
        var reason = result.Json.GetProperty("route_reason").GetString()!;
        Assert.True(reason.Contains("fell back to local", StringComparison.Ordinal) || reason.Contains("no heavy node is available", StringComparison.Ordinal), reason);

        // Back after its health check passes: heavy jobs go to it again.
        await _heavy.StartAsync();
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        string? servedBy;
        do
        {
            Assert.False(bound.IsCancellationRequested, "heavy jobs did not go back to the restarted heavy node within 60 s");
            servedBy = (await RunJobAsync("\"route\":\"remote\",\"max_tokens\":2")).Json.GetProperty("served_by").GetString();
        }
        while (servedBy != $"remote:{HeavyAuthority}");

        _edge.AssertNoUnexpectedErrors();
    }

    private async Task<Received> RunJobAsync(string fields)
    {
        var id = "cl-" + Guid.NewGuid().ToString("N")[..8];
        await _client.PublishAsync($"{Prefix}/jobs", $$"""{"id":"{{id}}","prompt":"Hello","seed":1,{{fields}}}""");
        return await _client.WaitForTopicAsync($"{Prefix}/results/{id}", TimeSpan.FromSeconds(60));
    }

    public async Task DisposeAsync()
    {
        await _client.DisposeAsync();
        await _edge.DisposeAsync();
        await _heavy.DisposeAsync();
    }
}
