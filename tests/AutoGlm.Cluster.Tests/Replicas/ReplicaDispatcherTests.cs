using AutoGlm.Cluster.Replicas;
using AutoGlm.Cluster.Tests.Support;
using AutoGlm.Runtime.Generation;
using Microsoft.Extensions.AI;

namespace AutoGlm.Cluster.Tests.Replicas;

/// <summary>Two real engine replicas on the CPU (on a GPU node, one per device) behind one dispatcher.</summary>
public sealed class ReplicaDispatcherTests : IDisposable
{
    private static readonly ChatMessage[] Hello = [new(ChatRole.User, "hello")];

    private readonly LocalEngine _first = LocalEngine.Load(TinyModel.Directory);
    private readonly LocalEngine _second = LocalEngine.Load(TinyModel.Directory);
    private readonly ReplicaDispatcher _dispatcher;

    public ReplicaDispatcherTests()
    {
        _dispatcher = new ReplicaDispatcher([("cpu:0", _first), ("cpu:1", _second)]);
    }

    [Fact]
    public async Task GetResponseAsync_OneReplicaBusy_GoesToTheOther()
    {
        var (busy, idle) = (_dispatcher.Replicas[0], _dispatcher.Replicas[1]);
        var held = _dispatcher.GetStreamingResponseAsync(Hello, new ChatOptions { MaxOutputTokens = 16 }).GetAsyncEnumerator();
        await using (held)
        {
            Assert.True(await held.MoveNextAsync());
            Assert.Equal(1, busy.Outstanding);

            var response = await _dispatcher.GetResponseAsync(Hello, new ChatOptions { MaxOutputTokens = 4 });

            Assert.False(string.IsNullOrEmpty(response.Text));
            Assert.Equal(1, idle.Served);
            Assert.Equal(0, idle.Outstanding);
            Assert.Equal(1, busy.Outstanding);
        }

        Assert.Equal(0, busy.Outstanding);
    }

    [Fact]
    public async Task GetResponseAsync_IdleReplicas_TakeTurns()
    {
        for (var i = 0; i < 4; i++)
        {
            await _dispatcher.GetResponseAsync(Hello, new ChatOptions { MaxOutputTokens = 2 });
        }

        Assert.All(_dispatcher.Replicas, r => Assert.Equal(2, r.Served));
        Assert.Same(_first, _dispatcher.GetService<LocalEngine>());
        Assert.Same(_dispatcher, _dispatcher.GetService<ReplicaDispatcher>());
    }

    public void Dispose()
    {
        _first.Dispose();
        _second.Dispose();
    }
}
