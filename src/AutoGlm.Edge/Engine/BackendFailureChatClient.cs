using System.ClientModel;
using System.Runtime.CompilerServices;
using AutoGlm.Runtime;
using Microsoft.Extensions.AI;

namespace AutoGlm.Edge.Engine;

/// <summary>
/// In front of the OpenAI client of <c>Runtime:Backend=openai</c>: a backend that is unreachable, refuses, or times out
/// surfaces as <see cref="RuntimeException"/> <see cref="RuntimeErrorCode.ModelUnavailable"/>, so every front door
/// answers it as the engine being unavailable without knowing the OpenAI client's exception types.
/// </summary>
/// <remarks>Thread-safe. The caller's own cancellation passes through unchanged. Owns the inner client.</remarks>
public sealed class BackendFailureChatClient(IChatClient inner) : DelegatingChatClient(inner)
{
    public override async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        try
        {
            return await base.GetResponseAsync(messages, options, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested && IsBackendFailure(ex))
        {
            throw Unavailable(ex);
        }
    }

    public override async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<ChatMessage> messages,
        ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var updates = base.GetStreamingResponseAsync(messages, options, cancellationToken).GetAsyncEnumerator(cancellationToken);
        await using (updates.ConfigureAwait(false))
        {
            while (true)
            {
                try
                {
                    if (!await updates.MoveNextAsync().ConfigureAwait(false))
                    {
                        yield break;
                    }
                }
                catch (Exception ex) when (!cancellationToken.IsCancellationRequested && IsBackendFailure(ex))
                {
                    throw Unavailable(ex);
                }

                yield return updates.Current;
            }
        }
    }

    /// <summary>Whether <paramref name="exception"/> is the backend failing (unreachable, an error status, its timeout), as opposed to a bug.</summary>
    /// <remarks>
    /// The OpenAI client's network timeout (<c>Runtime:OpenAi:Timeout</c>) surfaces as a cancellation, after its retries
    /// as several in an <see cref="AggregateException"/>; the caller's own cancellation is told apart by its token.
    /// </remarks>
    internal static bool IsBackendFailure(Exception exception) => exception switch
    {
        HttpRequestException or ClientResultException or TimeoutException or OperationCanceledException => true,
        AggregateException all => all.InnerExceptions.Count > 0 && all.InnerExceptions.All(IsBackendFailure),
        _ => false,
    };

    private static RuntimeException Unavailable(Exception ex) =>
        new(RuntimeErrorCode.ModelUnavailable, $"the backend engine (Runtime:OpenAi) failed: {ex.Message}", ex);
}
