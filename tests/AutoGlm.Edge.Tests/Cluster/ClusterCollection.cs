namespace AutoGlm.Edge.Tests.Cluster;

/// <summary>
/// The cluster tests start two daemons each; they run on their own, after the parallel tests, so their CPU load does
/// not starve the timing-sensitive watchdog and broker tests on a small machine.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ClusterCollection
{
    public const string Name = "cluster daemons";
}
