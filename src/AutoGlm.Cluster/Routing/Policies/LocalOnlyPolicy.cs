using Microsoft.Extensions.AI;

namespace AutoGlm.Cluster.Routing.Policies;

/// <summary><c>local-only</c>: every request runs on the local engine (heavy nodes take only <c>route</c> <c>remote</c>).</summary>
public sealed class LocalOnlyPolicy : IRoutingPolicy
{
    public string Name => RoutingPolicies.LocalOnly;

    public PolicyChoice Choose(IReadOnlyList<ChatMessage> messages, ChatOptions? options) => new(false, "policy local-only");
}
