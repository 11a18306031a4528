using System.Threading.Channels;

namespace AutoGlm.Runtime.Generation;

/// <summary>Why a generation ended (OpenAI's <c>finish_reason</c>).</summary>
public enum FinishReason
{
    /// <summary>A stop token or stop sequence.</summary>
    Stop,

    /// <summary><c>max_tokens</c> or the context ran out.</summary>
    Length,
}

/// <summary>How long the phases of one generation took.</summary>
public sealed record GenerationTimings(double QueueMs, double TimeToFirstTokenMs, double PrefillMs, double DecodeMs)
{
    /// <summary>Decode speed of this request, tokens per second (0 when it made at most one token).</summary>
    public double DecodeTokensPerSecond(int completionTokens) =>
        completionTokens > 1 && DecodeMs > 0 ? (completionTokens - 1) / (DecodeMs / 1000) : 0;
}

/// <summary>Something a generation produced, read by the caller in order.</summary>
public abstract record GenerationEvent;

/// <summary>Text, either reasoning (inside <c>&lt;think&gt;</c>) or the answer.</summary>
public sealed record TextGenerated(string Text, bool IsReasoning) : GenerationEvent;

/// <summary>The end: why, how many tokens, how long.</summary>
public sealed record GenerationCompleted(FinishReason Reason, int PromptTokens, int CompletionTokens, GenerationTimings Timings) : GenerationEvent
{
    /// <summary>Of <see cref="PromptTokens"/>, those whose KV rows came from the prefix cache instead of being prefilled.</summary>
    public int CachedPromptTokens { get; init; }
}

/// <summary>A typed request the scheduler runs: the prompt already templated and tokenized.</summary>
internal sealed class GenerationRequest
{
    public required IReadOnlyList<int> PromptTokens { get; init; }
    public required int MaxTokens { get; init; }
    public required SamplingParameters Sampling { get; init; }
    public IReadOnlyList<string> StopSequences { get; init; } = [];

    /// <summary>Images and clips whose encoder rows replace placeholder tokens of the prompt, in prompt order.</summary>
    public IReadOnlyList<Modalities.MediaSegment> Media { get; init; } = [];

    /// <summary>Whether the prompt ends inside an open <c>&lt;think&gt;</c> block, so the first text is reasoning.</summary>
    public bool StartsInReasoning { get; init; }

    /// <summary>Keep generating through stop tokens (benchmarks measure a fixed number of tokens).</summary>
    public bool IgnoreStopTokens { get; init; }

    /// <summary>Alternatives to report with each generated token (<see cref="TokenScored"/>); null reports none.</summary>
    public int? Logprobs { get; init; }

    /// <summary>A raw completion: its text is sent as decoded, without the chat answer's <c>&lt;answer&gt;</c> filtering.</summary>
    public bool RawText { get; init; }

    /// <summary>The thinking's <c>&lt;think&gt;</c>/<c>&lt;/think&gt;</c> tokens go out as text instead of switching to reasoning.</summary>
    public bool ThinkTagsAsText { get; init; }

    public CancellationToken Cancellation { get; init; }

    /// <summary>Where the scheduler writes events; completed (with an exception on failure) when the request ends.</summary>
    /// <remarks>
    /// The reader's continuation runs on the inference thread, up to the reader's next real wait: handing each token
    /// to another thread cost 13% of decode speed on a 2-core machine (docs/benchmarks.md).
    /// </remarks>
    public Channel<GenerationEvent> Output { get; } = Channel.CreateUnbounded<GenerationEvent>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true, AllowSynchronousContinuations = true });

    public long EnqueuedAt { get; set; }
}
