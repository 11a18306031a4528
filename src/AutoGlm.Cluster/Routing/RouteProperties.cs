using System.Text.Json;
using AutoGlm.Runtime;
using Microsoft.Extensions.AI;

namespace AutoGlm.Cluster.Routing;

/// <summary>
/// Typed access to the routing properties: what a front door asks of the router in <see cref="ChatOptions.AdditionalProperties"/>
/// (<c>route</c>, <c>deadline_ms</c>) and what the router says back in <see cref="ChatResponseUpdate.AdditionalProperties"/>
/// (<c>served_by</c>, <c>route_reason</c>, the restart marker).
/// </summary>
public static class RouteProperties
{
    /// <summary>Sets <see cref="RoutingChatClient.RouteProperty"/>: <c>auto</c>, <c>local</c> or <c>remote</c>.</summary>
    public static ChatOptions SetRoute(this ChatOptions options, string route)
    {
        (options.AdditionalProperties ??= [])[RoutingChatClient.RouteProperty] = route;
        return options;
    }

    /// <summary>The route set with <see cref="SetRoute"/> when it is a string; null when none is set.</summary>
    public static string? GetRoute(this ChatOptions? options) =>
        options?.AdditionalProperties?.TryGetValue(RoutingChatClient.RouteProperty, out var value) == true ? value as string : null;

    /// <summary>Sets <see cref="RoutingChatClient.DeadlineProperty"/>: the milliseconds left before the request's deadline.</summary>
    public static ChatOptions SetDeadline(this ChatOptions options, double remainingMs)
    {
        (options.AdditionalProperties ??= [])[RoutingChatClient.DeadlineProperty] = remainingMs;
        return options;
    }

    /// <summary>The milliseconds left before the request's deadline, set with <see cref="SetDeadline"/> (or a JSON number); null when none is set.</summary>
    /// <exception cref="RuntimeException"><see cref="RuntimeErrorCode.InvalidRequest"/>: the value is not a number.</exception>
    public static double? GetDeadline(this ChatOptions? options) =>
        options?.AdditionalProperties?.TryGetValue(RoutingChatClient.DeadlineProperty, out var value) != true || value is null ? null
        : value switch
        {
            int i => i,
            long l => l,
            double d => d,
            JsonElement { ValueKind: JsonValueKind.Number } e => e.GetDouble(),
            _ => throw new RuntimeException(RuntimeErrorCode.InvalidRequest, $"{RoutingChatClient.DeadlineProperty} must be a number"),
        };

    /// <summary>Where the answer runs, on the updates the router stamps; null on the others.</summary>
    public static string? GetServedBy(this ChatResponseUpdate update) =>
        update.AdditionalProperties?.TryGetValue(RoutingChatClient.ServedByProperty, out var value) == true ? value as string : null;

    /// <summary>Why the answer runs where <see cref="GetServedBy"/> says; null on updates the router did not stamp.</summary>
    public static string? GetRouteReason(this ChatResponseUpdate update) =>
        update.AdditionalProperties?.TryGetValue(RoutingChatClient.RouteReasonProperty, out var value) == true ? value as string : null;

    /// <summary>Whether <paramref name="update"/> is the marker that a failed remote answer restarts locally: whatever came before it is void.</summary>
    public static bool IsRestart(this ChatResponseUpdate update) => update.AdditionalProperties?.ContainsKey(RoutingChatClient.RestartedProperty) == true;
}
