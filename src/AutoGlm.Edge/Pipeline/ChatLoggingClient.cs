using System.Diagnostics;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;

namespace AutoGlm.Edge.Pipeline;

/// <summary>
/// The pipeline's logging stage: one Debug line per answer (how long, how many updates, or how it ended), the prompt
/// and the answer only at Trace.
/// </summary>
/// <remarks>
/// Thread-safe. Failures and cancellations are logged at Debug: the front door that asked knows whether a failure is a
/// refusal, a client that left or a fault, and logs it at its level. Owns the inner client.
/// </remarks>
public sealed partial class ChatLoggingClient(IChatClient inner, ILogger<ChatLoggingClient> logger) : StreamingDelegatingChatClient(inner)
{
    public override async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<ChatMessage> messages,
        ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var list = messages as IReadOnlyList<ChatMessage> ?? [.. messages];
        if (logger.IsEnabled(LogLevel.Trace))
        {
            Log.Prompt(logger, string.Join("\n", list.Select(m => $"{m.Role}: {m.Text}")));
        }

        var started = Stopwatch.GetTimestamp();
        var answer = logger.IsEnabled(LogLevel.Trace) ? new AnswerCollector() : null;
        var count = 0;
        var updates = base.GetStreamingResponseAsync(list, options, cancellationToken).GetAsyncEnumerator(cancellationToken);
        await using (updates.ConfigureAwait(false))
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
                catch (Exception ex)
                {
                    Log.Failed(logger, count, Stopwatch.GetElapsedTime(started).TotalMilliseconds, ex.GetType().Name, ex.Message);
                    throw;
                }

                count++;
                answer?.Add(updates.Current);
                yield return updates.Current;
            }
        }

        Log.Answered(logger, count, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        if (answer is not null)
        {
            Log.Answer(logger, answer.Text);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1601, LogLevel.Debug, "Answered in {Updates} updates, {ElapsedMs:F1} ms")]
        public static partial void Answered(ILogger logger, int updates, double elapsedMs);

        [LoggerMessage(1602, LogLevel.Debug, "Ended after {Updates} updates, {ElapsedMs:F1} ms: {Kind}: {Message}")]
        public static partial void Failed(ILogger logger, int updates, double elapsedMs, string kind, string message);

        [LoggerMessage(1603, LogLevel.Trace, "Prompt: {Prompt}")]
        public static partial void Prompt(ILogger logger, string prompt);

        [LoggerMessage(1604, LogLevel.Trace, "Answer: {Answer}")]
        public static partial void Answer(ILogger logger, string answer);
    }
}
