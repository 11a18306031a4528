using AutoGlm.Cluster.Routing;
using AutoGlm.Cluster.Routing.Policies;
using AutoGlm.Cluster.Tests.Support;
using Microsoft.Extensions.AI;

namespace AutoGlm.Cluster.Tests.Routing;

/// <summary>Each policy is picked by the name <c>Cluster:Policy</c> gives it.</summary>
public sealed class RoutingPolicyTests
{
    private static readonly ChatMessage[] Hello = [new(ChatRole.User, "hello")];

    [Fact]
    public void Create_EveryPolicyName_ThePolicyOfThatName()
    {
        foreach (var name in RoutingPolicies.All)
        {
            var options = new ClusterOptions { Policy = name };

            Assert.Equal(name, RoutingPolicyFactory.Create(options, new CostEstimator(TinyModel.Engine, options)).Name);
        }
    }

    [Fact]
    public void Create_UnknownName_ThrowsNamingTheKey()
    {
        var options = new ClusterOptions { Policy = "round-robin" };

        var error = Assert.Throws<ArgumentException>(() => RoutingPolicyFactory.Create(options, new CostEstimator(TinyModel.Engine, options)));

        Assert.Contains("Cluster:Policy", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Choose_CostThreshold_RemoteOnlyWhenTheDeadlineIsShorterThanThePrediction()
    {
        var options = new ClusterOptions { MaxLocalLatencyMs = 1e9, MaxLocalPromptTokens = 1_000_000 };
        var policy = new CostThresholdPolicy(new CostEstimator(TinyModel.Engine, options), options);

        var relaxed = policy.Choose(Hello, new ChatOptions { MaxOutputTokens = 8 });
        var rushed = policy.Choose(Hello, new ChatOptions { MaxOutputTokens = 8 }.SetDeadline(0.001));

        Assert.False(relaxed.Remote, relaxed.Reason);
        Assert.True(rushed.Remote, rushed.Reason);
        Assert.Contains("deadline", rushed.Reason, StringComparison.Ordinal);
    }
}
