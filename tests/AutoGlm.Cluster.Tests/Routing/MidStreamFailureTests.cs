using AutoGlm.Cluster.Nodes;
using AutoGlm.Cluster.Routing;
using AutoGlm.Cluster.Tests.Support;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using RoutingChatClient = AutoGlm.Cluster.Routing.RoutingChatClient;

namespace AutoGlm.Cluster.Tests.Routing;

/// <summary>
/// A real HTTP server that starts an OpenAI stream and fails after one chunk: <c>/truncate</c> ends the body cleanly
/// without a finish reason or <c>[DONE]</c>; <c>/abort</c> drops the connection once the router has the first chunk.
/// </summary>
public sealed class MidStreamFailureTests : IAsyncLifetime
{
    private const string FirstChunk = """data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"},"finish_reason":null}]}""" + "\n\n";

    private readonly TaskCompletionSource _firstUpdateSeen = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private WebApplication _app = null!;
    private int _truncateCalls;
    private string _root = null!;

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        _app = builder.Build();
        _app.MapPost("/truncate/v1/chat/completions", async context =>
        {
            Interlocked.Increment(ref _truncateCalls);
            context.Response.ContentType = "text/event-stream";
            await context.Response.WriteAsync(FirstChunk);
        });
        _app.MapPost("/empty/v1/chat/completions", async context =>
        {
            // Headers, then the connection ends before any chunk: nothing has been said.
            context.Response.ContentType = "text/event-stream";
            await context.Response.Body.FlushAsync();
        });
        _app.MapPost("/abort/v1/chat/completions", async context =>
        {
            context.Response.ContentType = "text/event-stream";
            await context.Response.WriteAsync(FirstChunk);
            await context.Response.Body.FlushAsync();
            await _firstUpdateSeen.Task.WaitAsync(TimeSpan.FromSeconds(30));
            context.Abort();
        });
        await _app.StartAsync();
        _root = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
    }

    [Theory]
    [InlineData("truncate")]
    [InlineData("abort")]
    public async Task GetStreamingResponseAsync_NodeFailsMidStream_EndsWithRemoteInterrupted(string mode)
    {
        var options = new ClusterOptions { Policy = RoutingPolicies.RemoteFirst, Nodes = [new NodeOptions { Url = $"{_root}/{mode}/v1" }] };
        await using var pool = new NodePool(options, "m", TimeProvider.System, NullLogger.Instance);
        var router = new RoutingChatClient(TinyModel.Engine, pool, options);
        var received = new List<ChatResponseUpdate>();

        var error = await Assert.ThrowsAsync<ClusterException>(async () =>
        {
            await foreach (var update in router.GetStreamingResponseAsync([new ChatMessage(ChatRole.User, "hello")], new ChatOptions { MaxOutputTokens = 8 }))
            {
                received.Add(update);
                _firstUpdateSeen.TrySetResult();
            }
        });

        Assert.Equal(ClusterErrorCode.RemoteInterrupted, error.Code);
        Assert.Contains("the answer is incomplete", error.Message, StringComparison.Ordinal);
        Assert.Equal("Hel", string.Concat(received.Select(u => u.Text)));
        // Only the update that said where it started names the node: no answer-complete stamp follows a failure.
        Assert.Equal(pool.Nodes[0].Name, Assert.Single(received, u => u.AdditionalProperties?.ContainsKey(RoutingChatClient.ServedByProperty) == true).AdditionalProperties![RoutingChatClient.ServedByProperty]);
        Assert.DoesNotContain(received, RoutingChatClient.IsRestart);
        Assert.Equal(0, pool.Nodes[0].Outstanding);

        // An answer that has begun is never retried (the resilience pipeline ends with the response headers).
        Assert.Equal(mode == "truncate" ? 1 : 0, _truncateCalls);
    }

    [Fact]
    public async Task GetStreamingResponseAsync_NodeEndsItsStreamBeforeAnyUpdate_FailsOverToLocal()
    {
        var options = new ClusterOptions { Policy = RoutingPolicies.RemoteFirst, Nodes = [new NodeOptions { Url = $"{_root}/empty/v1" }] };
        await using var pool = new NodePool(options, "m", TimeProvider.System, NullLogger.Instance);
        var router = new RoutingChatClient(TinyModel.Engine, pool, options);

        var received = new List<ChatResponseUpdate>();
        await foreach (var update in router.GetStreamingResponseAsync(Hello, Options()))
        {
            received.Add(update);
        }

        var expected = await TinyModel.Engine.GetResponseAsync(Hello, Options());
        Assert.Equal(expected.Text, string.Concat(received.Select(u => u.Text)));
        Assert.DoesNotContain(received, RoutingChatClient.IsRestart);
        var last = received[^1].AdditionalProperties!;
        Assert.StartsWith("local:", (string)last[RoutingChatClient.ServedByProperty]!, StringComparison.Ordinal);
        Assert.Contains("failed before the first token (the stream ended before its first update", (string)last[RoutingChatClient.RouteReasonProperty]!, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("truncate")]
    [InlineData("abort")]
    public async Task GetStreamingResponseAsync_NodeFailsMidStreamAndRestartLocal_RestartMarkerThenWholeLocalAnswer(string mode)
    {
        var options = new ClusterOptions { Policy = RoutingPolicies.RemoteFirst, MidStreamFailure = MidStreamPolicies.RestartLocal, Nodes = [new NodeOptions { Url = $"{_root}/{mode}/v1" }] };
        await using var pool = new NodePool(options, "m", TimeProvider.System, NullLogger.Instance);
        var router = new RoutingChatClient(TinyModel.Engine, pool, options);
        var received = new List<ChatResponseUpdate>();

        await foreach (var update in router.GetStreamingResponseAsync(Hello, Options()))
        {
            received.Add(update);
            _firstUpdateSeen.TrySetResult();
        }

        var restart = received.FindIndex(RoutingChatClient.IsRestart);
        Assert.True(restart > 0, "no restart marker after the node's first update");
        Assert.Equal("Hel", string.Concat(received.Take(restart).Select(u => u.Text)));
        var expected = await TinyModel.Engine.GetResponseAsync(Hello, Options());
        Assert.Equal(expected.Text, string.Concat(received.Skip(restart).Select(u => u.Text)));
        var last = received[^1].AdditionalProperties!;
        Assert.StartsWith("local:", (string)last[RoutingChatClient.ServedByProperty]!, StringComparison.Ordinal);
        var reason = (string)last[RoutingChatClient.RouteReasonProperty]!;
        Assert.StartsWith(RoutingChatClient.RestartedLocallyReason + ": heavy node", reason, StringComparison.Ordinal);
        Assert.EndsWith("first routed by policy remote-first", reason, StringComparison.Ordinal);
        Assert.Equal(0, pool.Nodes[0].Outstanding);
    }

    [Fact]
    public async Task GetResponseAsync_NodeFailsMidStreamAndRestartLocal_TextIsTheLocalAnswerOnly()
    {
        var options = new ClusterOptions { Policy = RoutingPolicies.RemoteFirst, MidStreamFailure = MidStreamPolicies.RestartLocal, Nodes = [new NodeOptions { Url = $"{_root}/truncate/v1" }] };
        await using var pool = new NodePool(options, "m", TimeProvider.System, NullLogger.Instance);
        var router = new RoutingChatClient(TinyModel.Engine, pool, options);

        var response = await router.GetResponseAsync(Hello, Options());

        Assert.Equal((await TinyModel.Engine.GetResponseAsync(Hello, Options())).Text, response.Text);
        Assert.StartsWith(RoutingChatClient.RestartedLocallyReason, (string)response.AdditionalProperties![RoutingChatClient.RouteReasonProperty]!, StringComparison.Ordinal);
    }

    private static readonly ChatMessage[] Hello = [new(ChatRole.User, "hello")];

    private static ChatOptions Options() => new() { MaxOutputTokens = 8, Temperature = 0, Seed = 1 };

    public async Task DisposeAsync()
    {
        _firstUpdateSeen.TrySetResult();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
