using AutoGlm.Cluster.Routing;
using AutoGlm.Cluster.Tests.Support;
using Microsoft.Extensions.AI;

namespace AutoGlm.Cluster.Tests.Routing;

/// <summary>The routing stage where no heavy node is configured.</summary>
public sealed class LocalRouteChatClientTests
{
    private static readonly ChatMessage[] Hello = [new(ChatRole.User, "hello")];

    [Fact]
    public async Task GetResponseAsync_RouteAutoOrLocal_AnsweredLocallyWithoutRouterStamps()
    {
        var client = new LocalRouteChatClient(TinyModel.Engine);

        foreach (var route in new[] { "auto", "local" })
        {
            var updates = new List<ChatResponseUpdate>();
            await foreach (var update in client.GetStreamingResponseAsync(Hello, new ChatOptions { MaxOutputTokens = 3, Seed = 1 }.SetRoute(route).SetDeadline(5)))
            {
                updates.Add(update);
            }

            Assert.False(string.IsNullOrEmpty(updates.ToChatResponse().Text), route);
            Assert.All(updates, u => Assert.Null(u.GetServedBy()));
        }
    }

    [Fact]
    public async Task GetStreamingResponseAsync_RouteRemote_FailsRemoteNotConfiguredBeforeAnything()
    {
        var client = new LocalRouteChatClient(TinyModel.Engine);

        var error = await Assert.ThrowsAsync<ClusterException>(async () =>
        {
            await foreach (var update in client.GetStreamingResponseAsync(Hello, new ChatOptions { MaxOutputTokens = 3 }.SetRoute("remote")))
            {
                Assert.Fail("no update should come: " + update);
            }
        });

        Assert.Equal(ClusterErrorCode.RemoteNotConfigured, error.Code);
        Assert.Equal("remote_unavailable", error.WireCode);
        Assert.Contains("Cluster:Nodes", error.Message, StringComparison.Ordinal);
    }
}
