using System.Globalization;
using Microsoft.Extensions.AI;

namespace AutoGlm.Cluster.Routing.Policies;

/// <summary>
/// <c>cost-threshold</c>: a request goes to a heavy node when the local model lacks the adapter it needs, or its
/// predicted local latency misses its deadline or <see cref="ClusterOptions.MaxLocalLatencyMs"/>, or its prompt is
/// longer than <see cref="ClusterOptions.MaxLocalPromptTokens"/>.
/// </summary>
public sealed class CostThresholdPolicy(CostEstimator estimator, ClusterOptions options) : IRoutingPolicy
{
    public string Name => RoutingPolicies.CostThreshold;

    public PolicyChoice Choose(IReadOnlyList<ChatMessage> messages, ChatOptions? chatOptions)
    {
        var cost = estimator.Estimate(messages, chatOptions);
        if (cost.LocalLacks is { } adapter)
        {
            return new(true, $"cost-threshold: the local model has no {adapter} adapter");
        }

        if (chatOptions.GetDeadline() is { } deadline && cost.PredictedLocalMs > deadline)
        {
            return new(true, Format($"cost-threshold: predicted local latency {cost.PredictedLocalMs:F0} ms > deadline {deadline:F0} ms"));
        }

        if (cost.PredictedLocalMs > options.MaxLocalLatencyMs)
        {
            return new(true, Format($"cost-threshold: predicted local latency {cost.PredictedLocalMs:F0} ms > {options.MaxLocalLatencyMs:F0} ms"));
        }

        return cost.PromptTokens > options.MaxLocalPromptTokens
            ? new(true, Format($"cost-threshold: {cost.PromptTokens} prompt tokens > {options.MaxLocalPromptTokens}"))
            : new(false, Format($"cost-threshold: predicted local latency {cost.PredictedLocalMs:F0} ms within {options.MaxLocalLatencyMs:F0} ms"));
    }

    private static string Format(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
