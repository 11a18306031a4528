using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;

namespace AutoGlm.Cluster.Routing;

/// <summary>
/// The routing stage where no heavy node is configured (an edge without <c>Cluster:Nodes</c>, or a heavy node itself):
/// every request runs on the engine behind it, its answer unstamped (no <c>served_by</c> from the router); a request
/// for <c>route</c> <c>remote</c> fails with <see cref="ClusterErrorCode.RemoteNotConfigured"/>.
/// </summary>
/// <remarks>Thread-safe. The routing properties never reach the engine. Owns the inner client.</remarks>
public sealed class LocalRouteChatClient(IChatClient local) : DelegatingChatClient(local)
{
    /// <summary>What a request for <c>route</c> <c>remote</c> is told.</summary>
    public const string NotConfiguredMessage = "route 'remote' was asked but no heavy node is configured here (Cluster:Nodes); use 'auto' or 'local'";

    public override Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
        base.GetResponseAsync(messages, Local(options), cancellationToken);

    public override async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<ChatMessage> messages,
        ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        // Checked when the stream is first read, as the router's refusals are, so front doors answer it the same way.
        var local = Local(options);
        await foreach (var update in base.GetStreamingResponseAsync(messages, local, cancellationToken).ConfigureAwait(false))
        {
            yield return update;
        }
    }

    private static ChatOptions? Local(ChatOptions? options) =>
        RoutingChatClient.RouteOf(options) == "remote"
            ? throw new ClusterException(ClusterErrorCode.RemoteNotConfigured, NotConfiguredMessage)
            : RoutingChatClient.WithoutRoute(options);
}
