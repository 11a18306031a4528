using Microsoft.Extensions.AI;

namespace AutoGlm.Edge.Http;

/// <summary>A parsed <c>POST /v1/chat/completions</c> body: the conversation and options the engine gets, and how to answer.</summary>
public sealed record ChatCompletionRequest
{
    /// <summary>The <c>model</c> field, when the client named one.</summary>
    public string? Model { get; init; }

    /// <summary>The conversation, translated; images and audio are <see cref="DataContent"/>.</summary>
    public required IReadOnlyList<ChatMessage> Messages { get; init; }

    /// <summary>Sampling, limits and <c>enable_thinking</c>, translated.</summary>
    public required ChatOptions Options { get; init; }

    /// <summary>Answer as server-sent events.</summary>
    public bool Stream { get; init; }

    /// <summary><c>stream_options.include_usage</c>: end the stream with a usage chunk.</summary>
    public bool IncludeUsage { get; init; }

    /// <summary><c>return_reasoning</c>: answer the thinking as <c>reasoning_content</c> (else it is dropped).</summary>
    public bool ReturnReasoning { get; init; }

    /// <summary><c>logprobs: true</c>: how many alternatives (<c>top_logprobs</c>, 0 to 20) each token is scored with; null when not asked.</summary>
    public int? TopLogprobs { get; init; }

    /// <summary>vLLM's <c>return_tokens_as_token_ids</c>: tokens in <c>logprobs</c> are written <c>token_id:N</c>.</summary>
    public bool TokensAsIds { get; init; }
}
