using AutoGlm.Cluster.LoadBalancing;

namespace AutoGlm.Cluster.Tests.LoadBalancing;

public sealed class LeastLoadedTests
{
    private sealed record Candidate(string Name, double Load, double Served, bool Up = true);

    [Fact]
    public void Pick_DifferentLoads_LowestLoadWins()
    {
        Candidate[] candidates = [new("a", 3, 0), new("b", 1, 9), new("c", 2, 0)];

        Assert.Equal("b", LeastLoaded.Pick(candidates, _ => true, c => c.Load, c => c.Served)!.Name);
    }

    [Fact]
    public void Pick_EqualLoads_TieBreakThenOrderDecide()
    {
        Candidate[] candidates = [new("a", 1, 5), new("b", 1, 2), new("c", 1, 2)];

        Assert.Equal("b", LeastLoaded.Pick(candidates, _ => true, c => c.Load, c => c.Served)!.Name);
        Assert.Equal("a", LeastLoaded.Pick(candidates, _ => true, c => c.Load)!.Name);
    }

    [Fact]
    public void Pick_NoneEligible_Null()
    {
        Candidate[] candidates = [new("a", 1, 0, Up: false), new("b", 0, 0, Up: false)];

        Assert.Null(LeastLoaded.Pick(candidates, c => c.Up, c => c.Load));
        Assert.Equal("a", LeastLoaded.Pick([.. candidates, new("c", 5, 0)], c => c.Up || c.Name == "a", c => c.Load)!.Name);
    }
}
