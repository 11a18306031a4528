using Microsoft.Extensions.AI;

namespace AutoGlm.Edge.Pipeline;

/// <summary>
/// A pipeline stage that works on the update stream only: a whole response is its stream, collected, so the stage's
/// work (metrics, logging) happens once whichever way it is called.
/// </summary>
/// <remarks>Thread-safe when the derived stage is. Owns the inner client.</remarks>
public abstract class StreamingDelegatingChatClient(IChatClient inner) : DelegatingChatClient(inner)
{
    public sealed override async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var updates = new List<ChatResponseUpdate>();
        await foreach (var update in GetStreamingResponseAsync(messages, options, cancellationToken).ConfigureAwait(false))
        {
            updates.Add(update);
        }

        return updates.ToChatResponse();
    }
}
