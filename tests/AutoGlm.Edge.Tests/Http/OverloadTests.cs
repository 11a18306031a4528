using System.Net;
using static AutoGlm.Edge.Tests.Http.ApiHelpers;

namespace AutoGlm.Edge.Tests.Http;

/// <summary>A server whose engine runs one sequence and queues one more, so a third request finds it full.</summary>
public sealed class SmallEngineFixture : IAsyncLifetime
{
    public EdgeServer Server { get; private set; } = null!;

    public async Task InitializeAsync() => Server = await EdgeServer.StartAsync(
        "Runtime:MaxBatchSize=1",
        "Runtime:MaxQueueLength=1",
        "Http:ConcurrentStreamsPerKey=0");

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

public sealed class OverloadTests(SmallEngineFixture fixture) : IClassFixture<SmallEngineFixture>, IDisposable
{
    private readonly EdgeServer _server = fixture.Server;

    [Fact]
    public async Task PostChat_QueueFull_ServiceUnavailable503Overloaded_ThenDrains()
    {
        using var client = _server.CreateClient();
        using var cts = new CancellationTokenSource();
        var running = await StartStreamAsync(client, ChatBody("\"stream\":true", maxTokens: 1800), cts.Token);
        Assert.Equal(HttpStatusCode.OK, running.StatusCode);
        var queued = StartStreamAsync(client, ChatBody("\"stream\":true", maxTokens: 1800), cts.Token);
        Assert.True(await EdgeServer.EventuallyAsync(() => _server.Engine.QueueDepth == 1), "the second request never queued");

        var refused = await client.PostAsync("v1/chat/completions", Json(ChatBody()), CancellationToken.None);

        Assert.Equal("overloaded", await AssertErrorAsync(refused, 503));
        Assert.NotNull(refused.Headers.RetryAfter);
        await cts.CancelAsync();
        running.Dispose();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => queued);
        Assert.True(await EdgeServer.EventuallyAsync(() => _server.Engine.ActiveSequences == 0 && _server.Engine.QueueDepth == 0), "the engine did not drain");

        var (after, _) = await PostChatAsync(client, ChatBody());
        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
    }

    public void Dispose() => _server.Logs.AssertNoErrors();
}
