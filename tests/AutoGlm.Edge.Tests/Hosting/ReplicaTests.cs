using System.Text;
using AutoGlm.Edge.Engine;
using AutoGlm.Edge.Hosting;
using AutoGlm.Edge.Tests.Http;
using Microsoft.Extensions.DependencyInjection;

namespace AutoGlm.Edge.Tests.Hosting;

/// <summary>
/// <c>Runtime:Devices=[0,1]</c> on the CPU provider: the daemon loads two engine replicas behind one dispatcher and
/// reports each in its metrics (on CPU replicas share the cores; this only tests the wiring a GPU node uses).
/// </summary>
public sealed class ReplicaTests : IAsyncLifetime
{
    private EdgeServer _server = null!;

    public async Task InitializeAsync() => _server = await EdgeServer.StartAsync("Runtime:Devices:0=0", "Runtime:Devices:1=1");

    [Fact]
    public async Task ChatCompletions_TwoDevices_TwoReplicasShareRequestsAndReportInMetrics()
    {
        var host = _server.Services.GetRequiredService<EngineHost>();
        using var client = _server.CreateClient();

        for (var i = 0; i < 2; i++)
        {
            using var response = await client.PostAsync(
                new Uri("v1/chat/completions", UriKind.Relative),
                new StringContent("""{"messages":[{"role":"user","content":"Hello"}],"max_tokens":3}""", Encoding.UTF8, "application/json"));
            Assert.True(response.IsSuccessStatusCode);
        }

        var metrics = await client.GetStringAsync(new Uri("metrics", UriKind.Relative));

        Assert.Equal(2, host.LocalEngines.Count);
        Assert.NotSame(host.LocalEngines[0], host.LocalEngines[1]);
        Assert.Equal(["cpu:0", "cpu:1"], host.Replicas!.Replicas.Select(r => r.Name));
        Assert.All(host.Replicas.Replicas, r => Assert.Equal(1, r.Served));
        Assert.Contains("autoglm_edge_replica_requests{replica=\"cpu:0\"", metrics, StringComparison.Ordinal);
        Assert.Contains("autoglm_edge_replica_outstanding{replica=\"cpu:1\"", metrics, StringComparison.Ordinal);
        _server.Logs.AssertNoErrors();
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();
}
