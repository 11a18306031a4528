using AutoGlm.Cluster.Nodes;
using AutoGlm.Cluster.Routing;
using AutoGlm.Cluster.Tests.Support;
using Microsoft.Extensions.AI;

namespace AutoGlm.Cluster.Tests.Routing;

public sealed class CostEstimatorTests
{
    [Fact]
    public void Estimate_LongerPromptAndAnswer_PredictMoreLatency()
    {
        var estimator = new CostEstimator(TinyModel.Engine, new ClusterOptions());

        var small = estimator.Estimate([new ChatMessage(ChatRole.User, "hi")], new ChatOptions { MaxOutputTokens = 4 });
        var large = estimator.Estimate([new ChatMessage(ChatRole.User, string.Join(' ', Enumerable.Repeat("hello world", 200)))], new ChatOptions { MaxOutputTokens = 64 });

        Assert.True(large.PromptTokens > small.PromptTokens);
        Assert.True(large.PredictedLocalMs > small.PredictedLocalMs);
        Assert.Equal(64, large.MaxTokens);
    }

    [Fact]
    public void Estimate_BeforeAnyMeasurement_UsesDefaultSpeeds()
    {
        var options = new ClusterOptions { DefaultPrefillTokensPerSecond = 1000, DefaultDecodeTokensPerSecond = 10, MediaTokens = 100 };
        var estimator = new CostEstimator(null, options);
        var message = new ChatMessage(ChatRole.User, [new TextContent("look"), new DataContent(new byte[] { 1, 2, 3 }, "image/png")]);

        var cost = estimator.Estimate([message], new ChatOptions { MaxOutputTokens = 10 });

        Assert.Equal(1, cost.MediaItems);
        Assert.True(cost.PromptTokens >= 100);
        Assert.Equal((cost.PromptTokens / 1000.0 + 1.0) * 1000, cost.PredictedLocalMs, 6);
    }

    [Fact]
    public void Estimate_ImageOnTheLocalEngine_CountsTheAdapterRows()
    {
        var estimator = new CostEstimator(TinyModel.Engine, new ClusterOptions { MediaTokens = 500 });
        var image = AutoGlm.Tests.Media.TestMedia.Checkerboard(64, 4);
        ChatMessage[] text = [new(ChatRole.User, "look")];
        ChatMessage[] withImage = [new(ChatRole.User, [new DataContent(image, "image/png"), new TextContent("look")])];

        var plain = estimator.Estimate(text, null);
        var cost = estimator.Estimate(withImage, null);

        // 16 rows for the synthetic vision adapter, between a begin and an end marker; not MediaTokens.
        Assert.Equal(plain.PromptTokens + 18, cost.PromptTokens);
        Assert.Null(cost.LocalLacks);
    }

    [Fact]
    public async Task Estimate_ImageOnATextOnlyPackage_SaysTheVisionAdapterIsMissing()
    {
        var directory = Path.Combine(Path.GetTempPath(), "autoglm-cluster-tests", "textonly-" + Guid.NewGuid().ToString("N")[..8]);
        AutoGlm.Runtime.Building.SyntheticModelBuilder.Build(AutoGlm.Runtime.Building.SyntheticModelSpec.Tiny with { Adapters = null }, directory);
        try
        {
            using var engine = AutoGlm.Runtime.Generation.LocalEngine.Load(directory);
            var options = new ClusterOptions { MediaTokens = 300, Nodes = [new NodeOptions { Url = "http://127.0.0.1:9/v1" }] };
            ChatMessage[] withImage = [new(ChatRole.User, [new DataContent(AutoGlm.Tests.Media.TestMedia.Checkerboard(64, 4), "image/png"), new TextContent("look")])];

            var cost = new CostEstimator(engine, options).Estimate(withImage, null);
            await using var pool = new AutoGlm.Cluster.Nodes.NodePool(options, engine.Package.Manifest.Name, TimeProvider.System, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
            var decision = new AutoGlm.Cluster.Routing.RoutingChatClient(engine, pool, options).Decide(withImage, null);

            Assert.Equal("vision", cost.LocalLacks);
            Assert.Equal(engine.RenderPrompt([new(ChatRole.User, "look")]).Count + 300, cost.PromptTokens);
            Assert.Equal("cost-threshold: the local model has no vision adapter", decision.Reason);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
