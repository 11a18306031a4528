using AutoGlm.Cluster.Nodes;
using AutoGlm.Cluster.Routing;
using AutoGlm.Cluster.Tests.Support;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging.Abstractions;
using RoutingChatClient = AutoGlm.Cluster.Routing.RoutingChatClient;

namespace AutoGlm.Cluster.Tests.Routing;

/// <summary>Two real heavy nodes (the daemon in process on loopback).</summary>
public sealed class LoadBalancingTests
{
    [Fact]
    public async Task GetStreamingResponseAsync_TwoNodes_SpreadByOutstandingRequests()
    {
        await using var first = await HeavyServer.StartAsync();
        await using var second = await HeavyServer.StartAsync();
        var options = new ClusterOptions { Policy = RoutingPolicies.RemoteFirst, Nodes = [new NodeOptions { Url = first.Url }, new NodeOptions { Url = second.Url }] };
        await using var pool = new NodePool(options, TinyModel.Engine.Package.Manifest.Name, TimeProvider.System, NullLogger.Instance);
        var router = new RoutingChatClient(TinyModel.Engine, pool, options);
        var streams = new List<IAsyncEnumerator<ChatResponseUpdate>>();
        try
        {
            // Four answers held open after their first update: each new one goes where fewer are outstanding.
            for (var i = 0; i < 4; i++)
            {
                var stream = router.GetStreamingResponseAsync([new ChatMessage(ChatRole.User, "hello")], new ChatOptions { MaxOutputTokens = 64 }).GetAsyncEnumerator();
                streams.Add(stream);
                Assert.True(await stream.MoveNextAsync());
            }

            Assert.Equal(2, pool.Nodes[0].Outstanding);
            Assert.Equal(2, pool.Nodes[1].Outstanding);
        }
        finally
        {
            foreach (var stream in streams)
            {
                await stream.DisposeAsync();
            }
        }

        Assert.Equal(0, pool.Nodes[0].Outstanding + pool.Nodes[1].Outstanding);
    }

    [Fact]
    public async Task GetResponseAsync_OneOfTwoNodesDown_DownNodeTakesNoTraffic()
    {
        await using var up = await HeavyServer.StartAsync();
        var options = new ClusterOptions
        {
            Policy = RoutingPolicies.RemoteFirst,
            Nodes = [new NodeOptions { Url = $"http://127.0.0.1:{TinyModel.FreePort()}/v1", Weight = 10 }, new NodeOptions { Url = up.Url }],
        };
        await using var pool = new NodePool(options, TinyModel.Engine.Package.Manifest.Name, TimeProvider.System, NullLogger.Instance);
        var router = new RoutingChatClient(TinyModel.Engine, pool, options);
        await pool.CheckAllAsync(CancellationToken.None);
        await pool.CheckAllAsync(CancellationToken.None);

        for (var i = 0; i < 3; i++)
        {
            var response = await router.GetResponseAsync([new ChatMessage(ChatRole.User, "hello")], new ChatOptions { MaxOutputTokens = 2 });
            Assert.Equal(pool.Nodes[1].Name, response.AdditionalProperties![RoutingChatClient.ServedByProperty]);
            Assert.Equal("policy remote-first", response.AdditionalProperties[RoutingChatClient.RouteReasonProperty]);
        }
    }
}
