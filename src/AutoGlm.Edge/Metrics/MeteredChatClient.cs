using System.Runtime.CompilerServices;
using AutoGlm.Edge.Pipeline;
using AutoGlm.Runtime.Generation;
using Microsoft.Extensions.AI;

namespace AutoGlm.Edge.Metrics;

/// <summary>
/// The pipeline's metrics stage: records every answer's tokens, time to first token and decode speed in
/// <see cref="EdgeMetrics"/>, tagged with the front door that asked (<see cref="SetSource"/>: <c>http</c>, <c>mqtt</c>, <c>cli</c>).
/// </summary>
/// <remarks>
/// Thread-safe. An answer is recorded once: when it finishes, or when its caller stops reading (a client that left, a
/// deadline); a request refused before it generated anything records nothing. Owns the inner client.
/// </remarks>
public sealed class MeteredChatClient(IChatClient inner, EdgeMetrics metrics, TimeProvider time) : StreamingDelegatingChatClient(inner)
{
    /// <summary>The request property naming the front door; this stage removes it before the request goes on.</summary>
    public const string SourceProperty = "autoglm_source";

    /// <summary>The source of requests that name none.</summary>
    public const string UnknownSource = "other";

    /// <summary>Names the front door a request comes from.</summary>
    public static ChatOptions SetSource(ChatOptions options, string source)
    {
        (options.AdditionalProperties ??= [])[SourceProperty] = source;
        return options;
    }

    public override async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<ChatMessage> messages,
        ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var list = messages as IReadOnlyList<ChatMessage> ?? [.. messages];
        var (source, forwarded) = TakeSource(options);
        var started = time.GetTimestamp();
        var answer = new AnswerCollector();
        var refused = false;
        var updates = base.GetStreamingResponseAsync(list, forwarded, cancellationToken).GetAsyncEnumerator(cancellationToken);
        try
        {
            while (true)
            {
                try
                {
                    if (!await updates.MoveNextAsync().ConfigureAwait(false))
                    {
                        break;
                    }
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    refused = !answer.HasText;
                    throw;
                }

                var first = !answer.HasText;
                answer.Add(updates.Current);
                if (first && answer.HasText)
                {
                    metrics.RecordTimeToFirstToken(source, time.GetElapsedTime(started));
                }

                yield return updates.Current;
            }
        }
        finally
        {
            await updates.DisposeAsync().ConfigureAwait(false);
            if (!refused)
            {
                Record(source, answer, list, forwarded);
            }
        }
    }

    private void Record(string source, AnswerCollector answer, IReadOnlyList<ChatMessage> messages, ChatOptions? options)
    {
        var completion = answer.CompletionTokens;
        var prompt = answer.PromptTokens(() => options.GetPromptTokens()?.Count ?? InnerClient.GetService<LocalEngine>()?.RenderPrompt(messages, options).Count ?? 0);
        metrics.RecordTokens(source, prompt, completion, (int)(answer.Usage?.CachedInputTokenCount ?? 0));
        if (answer.Timings is { } timings)
        {
            metrics.RecordDecodeSpeed(source, timings.DecodeTokensPerSecond(completion));
        }
    }

    private static (string Source, ChatOptions? Forwarded) TakeSource(ChatOptions? options)
    {
        if (options?.AdditionalProperties is not { } properties || !properties.TryGetValue(SourceProperty, out var value))
        {
            return (UnknownSource, options);
        }

        var copy = options.Clone();
        copy.AdditionalProperties = new AdditionalPropertiesDictionary(properties);
        copy.AdditionalProperties.Remove(SourceProperty);
        return (value as string ?? UnknownSource, copy);
    }
}
