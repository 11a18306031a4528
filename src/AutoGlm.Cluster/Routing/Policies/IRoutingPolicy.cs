using Microsoft.Extensions.AI;

namespace AutoGlm.Cluster.Routing.Policies;

/// <summary>What a policy decided for one request: whether it should go to a heavy node, and why (as <c>route_reason</c> says).</summary>
public sealed record PolicyChoice(bool Remote, string Reason);

/// <summary>
/// A routing policy (<c>Cluster:Policy</c>): decides, for a request whose <c>route</c> is <c>auto</c>, whether it runs
/// locally or on a heavy node. Which node, failover and waiting are the router's.
/// </summary>
/// <remarks>Implementations are thread-safe and pure apart from reading the engine's measured speeds.</remarks>
public interface IRoutingPolicy
{
    /// <summary>The name <c>Cluster:Policy</c> picks it by (<see cref="RoutingPolicies"/>).</summary>
    string Name { get; }

    /// <summary>Decides for one request.</summary>
    PolicyChoice Choose(IReadOnlyList<ChatMessage> messages, ChatOptions? options);
}

/// <summary>The built-in policies by name.</summary>
public static class RoutingPolicyFactory
{
    /// <summary>The policy <see cref="ClusterOptions.Policy"/> names.</summary>
    /// <exception cref="ArgumentException">No built-in policy has that name (the options validator refuses it at start).</exception>
    public static IRoutingPolicy Create(ClusterOptions options, CostEstimator estimator) => options.Policy switch
    {
        RoutingPolicies.LocalOnly => new LocalOnlyPolicy(),
        RoutingPolicies.RemoteFirst => new RemoteFirstPolicy(),
        RoutingPolicies.CostThreshold => new CostThresholdPolicy(estimator, options),
        _ => throw new ArgumentException($"Cluster:Policy must be one of {string.Join(", ", RoutingPolicies.All)} (got '{options.Policy}')", nameof(options)),
    };
}
