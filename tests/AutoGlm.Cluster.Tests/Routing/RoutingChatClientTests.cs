using AutoGlm.Cluster.Nodes;
using AutoGlm.Cluster.Routing;
using AutoGlm.Cluster.Tests.Support;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging.Abstractions;
using RoutingChatClient = AutoGlm.Cluster.Routing.RoutingChatClient;

namespace AutoGlm.Cluster.Tests.Routing;

public sealed class RoutingChatClientTests
{
    private const string Key = "cluster-test-key";

    private static readonly ChatMessage[] Hello = [new(ChatRole.User, "hello")];

    [Fact]
    public async Task GetResponseAsync_LocalOnlyPolicy_ServedLocally()
    {
        await using var pool = Pool(new ClusterOptions { Policy = RoutingPolicies.LocalOnly });
        var router = new RoutingChatClient(TinyModel.Engine, pool, new ClusterOptions { Policy = RoutingPolicies.LocalOnly });

        var response = await router.GetResponseAsync(Hello, Options(4));

        Assert.StartsWith("local:glm-synthetic-tiny@", ServedBy(response), StringComparison.Ordinal);
        Assert.Equal("policy local-only", Reason(response));
        Assert.False(string.IsNullOrEmpty(response.Text));
    }

    [Fact]
    public async Task GetResponseAsync_RouteRemote_ServedByHeavyNodeWithItsKey()
    {
        await using var heavy = await HeavyServer.StartAsync($"Http:ApiKeys:0={Key}");
        var options = new ClusterOptions { Policy = RoutingPolicies.LocalOnly, Nodes = [new NodeOptions { Url = heavy.Url, ApiKey = Key }] };
        await using var pool = Pool(options);
        var router = new RoutingChatClient(TinyModel.Engine, pool, options);

        var response = await router.GetResponseAsync(Hello, Options(4, route: "remote"));

        Assert.Equal(pool.Nodes[0].Name, ServedBy(response));
        Assert.Equal("route remote requested", Reason(response));
        Assert.False(string.IsNullOrEmpty(response.Text));
        Assert.Equal(0, pool.Nodes[0].Outstanding);
    }

    [Fact]
    public async Task GetResponseAsync_CostEstimatedLocally_PromptRenderedOnceForEstimateAndEngine()
    {
        await using var heavy = await HeavyServer.StartAsync();
        var options = new ClusterOptions { MaxLocalLatencyMs = 10_000_000, Nodes = [new NodeOptions { Url = heavy.Url }] };
        await using var pool = Pool(options);
        using var engine = AutoGlm.Runtime.Generation.LocalEngine.Load(TinyModel.Directory); // its own: the shared one renders for other tests at the same time
        var router = new RoutingChatClient(engine, pool, options);

        var response = await router.GetResponseAsync(Hello, Options(4));

        Assert.StartsWith("local:", ServedBy(response), StringComparison.Ordinal);
        Assert.Equal(1, engine.PromptRenders);
    }

    [Fact]
    public async Task GetResponseAsync_CostOverThreshold_ServedByHeavyNode()
    {
        await using var heavy = await HeavyServer.StartAsync();
        var options = new ClusterOptions { MaxLocalLatencyMs = 1, Nodes = [new NodeOptions { Url = heavy.Url }] };
        await using var pool = Pool(options);
        var router = new RoutingChatClient(TinyModel.Engine, pool, options);

        var heavyJob = await router.GetResponseAsync(Hello, Options(8));
        var lightJob = await router.GetResponseAsync(Hello, Options(8, route: "local"));

        Assert.Equal(pool.Nodes[0].Name, ServedBy(heavyJob));
        Assert.StartsWith("cost-threshold: predicted local latency", Reason(heavyJob), StringComparison.Ordinal);
        Assert.StartsWith("local:", ServedBy(lightJob), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Decide_PredictionMissesDeadline_GoesRemote()
    {
        var options = new ClusterOptions { MaxLocalLatencyMs = 1e9, DefaultDecodeTokensPerSecond = 1e-3, Nodes = [new NodeOptions { Url = "http://10.0.0.1:8000/v1" }] };
        await using var pool = Pool(options);
        // A fresh engine has measured nothing, so the estimate uses the configured speeds.
        using var fresh = AutoGlm.Runtime.Generation.LocalEngine.Load(TinyModel.Directory);
        var router = new RoutingChatClient(fresh, pool, options);
        var tight = Options(4);
        tight.AdditionalProperties = new() { [RoutingChatClient.DeadlineProperty] = 50 };

        var (node, reason) = router.Decide(Hello, tight);
        var (relaxed, _) = router.Decide(Hello, Options(4));

        Assert.Same(pool.Nodes[0], node);
        Assert.Contains("> deadline 50 ms", reason, StringComparison.Ordinal);
        Assert.Null(relaxed);
    }

    [Fact]
    public async Task GetResponseAsync_CostUnderThreshold_ServedLocally()
    {
        var options = new ClusterOptions { MaxLocalLatencyMs = 1e9, Nodes = [new NodeOptions { Url = $"http://127.0.0.1:{TinyModel.FreePort()}/v1" }] };
        await using var pool = Pool(options);
        var router = new RoutingChatClient(TinyModel.Engine, pool, options);

        var response = await router.GetResponseAsync(Hello, Options(4));

        Assert.StartsWith("local:", ServedBy(response), StringComparison.Ordinal);
        Assert.Contains("within", Reason(response), StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetResponseAsync_NodeRefusesConnection_FallsBackLocally()
    {
        var options = new ClusterOptions { Policy = RoutingPolicies.RemoteFirst, Nodes = [new NodeOptions { Url = $"http://127.0.0.1:{TinyModel.FreePort()}/v1" }] };
        await using var pool = Pool(options);
        var router = new RoutingChatClient(TinyModel.Engine, pool, options);

        var response = await router.GetResponseAsync(Hello, Options(4));

        Assert.StartsWith("local:", ServedBy(response), StringComparison.Ordinal);
        Assert.Contains("failed before the first token", Reason(response), StringComparison.Ordinal);
        Assert.Contains("fell back to local", Reason(response), StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetResponseAsync_WrongApiKey_RefusedByHeavyNodeAndServedLocally()
    {
        await using var heavy = await HeavyServer.StartAsync($"Http:ApiKeys:0={Key}");
        var options = new ClusterOptions { Policy = RoutingPolicies.RemoteFirst, Nodes = [new NodeOptions { Url = heavy.Url, ApiKey = "wrong-key" }] };
        await using var pool = Pool(options);
        var router = new RoutingChatClient(TinyModel.Engine, pool, options);

        var response = await router.GetResponseAsync(Hello, Options(4));

        Assert.StartsWith("local:", ServedBy(response), StringComparison.Ordinal);
        Assert.Contains("401", Reason(response), StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetResponseAsync_NodeDownAndFailPolicy_ThrowsRemoteUnavailable()
    {
        var options = new ClusterOptions { Policy = RoutingPolicies.RemoteFirst, WhenNoNode = NoNodePolicies.Fail, Nodes = [new NodeOptions { Url = $"http://127.0.0.1:{TinyModel.FreePort()}/v1" }] };
        await using var pool = Pool(options);
        var router = new RoutingChatClient(TinyModel.Engine, pool, options);

        var error = await Assert.ThrowsAsync<ClusterException>(() => router.GetResponseAsync(Hello, Options(4)));

        Assert.Equal(ClusterErrorCode.RemoteUnavailable, error.Code);
        Assert.Equal("remote_unavailable", error.WireCode);
    }

    [Fact]
    public async Task GetResponseAsync_NoNodeAndQueuePolicyTimesOut_ThrowsRemoteUnavailable()
    {
        var options = new ClusterOptions
        {
            Policy = RoutingPolicies.RemoteFirst,
            WhenNoNode = NoNodePolicies.Queue,
            QueueTimeoutMs = 300,
            FailedChecksToMarkDown = 1,
            Nodes = [new NodeOptions { Url = $"http://127.0.0.1:{TinyModel.FreePort()}/v1" }],
        };
        await using var pool = Pool(options);
        await pool.CheckAllAsync(CancellationToken.None);
        Assert.False(pool.Nodes[0].IsAvailable);
        var router = new RoutingChatClient(TinyModel.Engine, pool, options);

        var error = await Assert.ThrowsAsync<ClusterException>(() => router.GetResponseAsync(Hello, Options(4)));

        Assert.Equal(ClusterErrorCode.RemoteUnavailable, error.Code);
        Assert.Contains("none became ready within Cluster:QueueTimeoutMs (300 ms)", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetResponseAsync_NodeRefusesAndQueuePolicy_WaitsForTheNodeToComeUp()
    {
        var port = TinyModel.FreePort();
        var options = new ClusterOptions
        {
            Policy = RoutingPolicies.RemoteFirst,
            WhenNoNode = NoNodePolicies.Queue,
            QueueTimeoutMs = 120_000,
            HealthCheckInterval = TimeSpan.FromMilliseconds(100),
            Nodes = [new NodeOptions { Url = $"http://127.0.0.1:{port}/v1" }],
        };
        await using var pool = Pool(options);
        var log = new EventLogger();
        var router = new RoutingChatClient(TinyModel.Engine, pool, options, log);

        // The node still counts as available (no failed checks yet), so the request tries it, is refused, and queues.
        var answer = router.GetResponseAsync(Hello, Options(4));
        await WaitUntilAsync(() => log.Saw(6006) || answer.IsCompleted, "the request to be refused and queue");
        Assert.False(answer.IsCompleted);
        pool.Start();
        await using var heavy = await HeavyServer.StartAsync($"Http:Urls=http://127.0.0.1:{port}");
        var response = await answer.WaitAsync(TimeSpan.FromSeconds(120));

        Assert.Equal(pool.Nodes[0].Name, ServedBy(response));
        Assert.Contains("failed before the first token", Reason(response), StringComparison.Ordinal);
        Assert.Contains($"until {pool.Nodes[0].Name} was ready", Reason(response), StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetResponseAsync_NoNodeAndLocalPolicy_RanLocally()
    {
        var options = new ClusterOptions { Policy = RoutingPolicies.RemoteFirst, FailedChecksToMarkDown = 1, Nodes = [new NodeOptions { Url = $"http://127.0.0.1:{TinyModel.FreePort()}/v1" }] };
        await using var pool = Pool(options);
        await pool.CheckAllAsync(CancellationToken.None);
        var router = new RoutingChatClient(TinyModel.Engine, pool, options);

        var response = await router.GetResponseAsync(Hello, Options(4));

        Assert.StartsWith("local:", ServedBy(response), StringComparison.Ordinal);
        Assert.Equal("policy remote-first, but no heavy node is available; ran locally", Reason(response));
    }

    [Fact]
    public async Task CheckAllAsync_NodeDown_TakesNoTrafficUntilHealthy()
    {
        await using var heavy = await HeavyServer.StartAsync();
        var down = $"http://127.0.0.1:{TinyModel.FreePort()}/v1";
        var options = new ClusterOptions { Policy = RoutingPolicies.RemoteFirst, Nodes = [new NodeOptions { Url = down }, new NodeOptions { Url = heavy.Url }] };
        await using var pool = Pool(options);

        await pool.CheckAllAsync(CancellationToken.None);
        Assert.True(pool.Nodes[0].IsAvailable, "one failed check is not enough to mark a node down");
        await pool.CheckAllAsync(CancellationToken.None);

        Assert.False(pool.Nodes[0].IsAvailable);
        Assert.True(pool.Nodes[1].IsAvailable);
        Assert.Same(pool.Nodes[1], pool.Pick());
    }

    [Fact]
    public async Task Pick_TwoNodes_LeastOutstandingPerWeight()
    {
        var options = new ClusterOptions
        {
            Nodes = [new NodeOptions { Url = "http://10.0.0.1:8000/v1", Weight = 1 }, new NodeOptions { Url = "http://10.0.0.2:8000/v1", Weight = 2 }],
        };
        await using var pool = Pool(options);
        var (light, heavy) = (pool.Nodes[0], pool.Nodes[1]);

        Assert.Same(heavy, pool.Pick());
        using (heavy.Enter())
        {
            // (1+1)/2 = 1 vs (0+1)/1 = 1: a tie keeps the first; a second request on the heavier node tips it.
            Assert.Same(light, pool.Pick());
            using (heavy.Enter())
            {
                Assert.Same(light, pool.Pick());
            }
        }

        heavy.OnHealth(false);
        heavy.OnHealth(false);
        Assert.False(heavy.IsAvailable);
        Assert.Same(light, pool.Pick());
        heavy.OnHealth(true);
        Assert.Same(heavy, pool.Pick());
    }

    [Fact]
    public void HealthUrl_BaseUrlWithV1_IsServerRootHealthReady()
    {
        using var node = new RemoteNode(new NodeOptions { Url = "http://gpu-node:8000/v1" }, "m", new ClusterOptions());

        Assert.Equal(new Uri("http://gpu-node:8000/health/ready"), node.HealthUrl);
        Assert.Equal("remote:gpu-node:8000", node.Name);
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (!condition())
        {
            Assert.False(bound.IsCancellationRequested, $"timed out waiting for {what}");
            await Task.Delay(20, CancellationToken.None);
        }
    }

    [Fact]
    public async Task GetResponseAsync_RemoteWithThinkingPenaltyAndTopK_AnswersAsTheLocalEngineWould()
    {
        await using var heavy = await HeavyServer.StartAsync();
        var options = new ClusterOptions { Policy = RoutingPolicies.LocalOnly, Nodes = [new NodeOptions { Url = heavy.Url }] };
        await using var pool = Pool(options);
        var router = new RoutingChatClient(TinyModel.Engine, pool, options);
        ChatOptions Ask(string route, bool thinking) => new()
        {
            MaxOutputTokens = 24,
            Temperature = 1,
            Seed = 5,
            TopK = 7,
            AdditionalProperties = new()
            {
                [RoutingChatClient.RouteProperty] = route,
                [AutoGlm.Runtime.Generation.LocalEngine.EnableThinkingProperty] = thinking,
                [AutoGlm.Runtime.Generation.LocalEngine.RepetitionPenaltyProperty] = 1.4f,
            },
        };

        var local = await router.GetResponseAsync(Hello, Ask("local", thinking: false));
        var remote = await router.GetResponseAsync(Hello, Ask("remote", thinking: false));
        var localThinking = await router.GetResponseAsync(Hello, Ask("local", thinking: true));
        var remoteThinking = await router.GetResponseAsync(Hello, Ask("remote", thinking: true));

        // The same model, seed and fields on both sides: the heavy node got enable_thinking, repetition_penalty and top_k.
        Assert.Equal(pool.Nodes[0].Name, ServedBy(remote));
        Assert.Equal(local.Text, remote.Text);
        Assert.Equal(localThinking.Text, remoteThinking.Text);
        Assert.NotEqual(local.Text, localThinking.Text);
    }

    private static NodePool Pool(ClusterOptions options) =>
        new(options, TinyModel.Engine.Package.Manifest.Name, TimeProvider.System, NullLogger.Instance);

    private static ChatOptions Options(int maxTokens, string? route = null)
    {
        var options = new ChatOptions { MaxOutputTokens = maxTokens, Temperature = 0 };
        if (route is not null)
        {
            options.AdditionalProperties = new AdditionalPropertiesDictionary { [RoutingChatClient.RouteProperty] = route };
        }

        return options;
    }

    private static string ServedBy(ChatResponse response) => (string)response.AdditionalProperties![RoutingChatClient.ServedByProperty]!;

    private static string Reason(ChatResponse response) => (string)response.AdditionalProperties![RoutingChatClient.RouteReasonProperty]!;
}
