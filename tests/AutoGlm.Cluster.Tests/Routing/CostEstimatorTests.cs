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
}
