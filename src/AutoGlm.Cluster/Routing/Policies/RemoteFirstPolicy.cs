using Microsoft.Extensions.AI;

namespace AutoGlm.Cluster.Routing.Policies;

/// <summary><c>remote-first</c>: every request goes to a heavy node while one is available.</summary>
public sealed class RemoteFirstPolicy : IRoutingPolicy
{
    public string Name => RoutingPolicies.RemoteFirst;

    public PolicyChoice Choose(IReadOnlyList<ChatMessage> messages, ChatOptions? options) => new(true, "policy remote-first");
}
