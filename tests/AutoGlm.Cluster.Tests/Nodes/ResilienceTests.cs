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

namespace AutoGlm.Cluster.Tests.Nodes;

/// <summary>
/// The resilience pipeline under each node's OpenAI client, against a real HTTP server: <c>/flaky</c> answers 503
/// twice, then a whole answer; <c>/down</c> always answers 503 (while its health check passes).
/// </summary>
public sealed class ResilienceTests : IAsyncLifetime
{
    private const string Answer =
        """data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"Hi there"},"finish_reason":null}]}""" + "\n\n" +
        """data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}""" + "\n\n" +
        "data: [DONE]\n\n";

    private static readonly ChatMessage[] Hello = [new(ChatRole.User, "hello")];

    private WebApplication _app = null!;
    private string _root = null!;
    private int _flakyCalls;
    private int _downCalls;

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        _app = builder.Build();
        _app.MapGet("/{node}/health/ready", () => Results.Ok());
        _app.MapPost("/flaky/v1/chat/completions", async context =>
        {
            if (Interlocked.Increment(ref _flakyCalls) <= 2)
            {
                context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
                return;
            }

            context.Response.ContentType = "text/event-stream";
            await context.Response.WriteAsync(Answer);
        });
        _app.MapPost("/down/v1/chat/completions", context =>
        {
            Interlocked.Increment(ref _downCalls);
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            return Task.CompletedTask;
        });
        await _app.StartAsync();
        _root = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
    }

    [Fact]
    public async Task GetResponseAsync_Node503TwiceThen200_RetriedAndServedByNode()
    {
        var options = Options("flaky");
        await using var pool = new NodePool(options, "m", TimeProvider.System, NullLogger.Instance);
        var router = new RoutingChatClient(TinyModel.Engine, pool, options);

        var response = await router.GetResponseAsync(Hello, new ChatOptions { MaxOutputTokens = 4 });

        Assert.Equal("Hi there", response.Text);
        Assert.Equal(pool.Nodes[0].Name, response.AdditionalProperties![RoutingChatClient.ServedByProperty]);
        Assert.Equal("policy remote-first", response.AdditionalProperties[RoutingChatClient.RouteReasonProperty]);
        Assert.Equal(3, _flakyCalls);
        Assert.False(pool.Nodes[0].IsBreakerOpen);
    }

    [Fact]
    public async Task GetResponseAsync_NodeKeepsFailing_BreakerOpensAndMarksNodeDown()
    {
        var options = Options("down");
        await using var pool = new NodePool(options, "m", TimeProvider.System, NullLogger.Instance);
        var router = new RoutingChatClient(TinyModel.Engine, pool, options);

        var first = await router.GetResponseAsync(Hello, new ChatOptions { MaxOutputTokens = 4 });

        // Three attempts (one and two retries), all 503: the breaker opens and the node is out, though its health check passes.
        Assert.Equal(3, _downCalls);
        Assert.True(pool.Nodes[0].IsBreakerOpen);
        Assert.False(pool.Nodes[0].IsAvailable);
        await pool.CheckAllAsync(CancellationToken.None);
        Assert.False(pool.Nodes[0].IsAvailable);
        Assert.Null(pool.Pick());
        Assert.StartsWith("local:", (string)first.AdditionalProperties![RoutingChatClient.ServedByProperty]!, StringComparison.Ordinal);
        Assert.Contains("fell back to local", (string)first.AdditionalProperties[RoutingChatClient.RouteReasonProperty]!, StringComparison.Ordinal);

        var second = await router.GetResponseAsync(Hello, new ChatOptions { MaxOutputTokens = 4 });

        Assert.Equal(3, _downCalls);
        Assert.Equal("policy remote-first, but no heavy node is available; ran locally", second.AdditionalProperties![RoutingChatClient.RouteReasonProperty]);
    }

    private ClusterOptions Options(string node) => new()
    {
        Policy = RoutingPolicies.RemoteFirst,
        Retries = 2,
        RetryDelay = TimeSpan.FromMilliseconds(10),
        FailuresToOpen = 3,
        BreakDuration = TimeSpan.FromMinutes(5),
        Nodes = [new NodeOptions { Url = $"{_root}/{node}/v1" }],
    };

    public async Task DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
