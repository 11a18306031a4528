using AutoGlm.Runtime.Generation;
using Microsoft.Extensions.AI;

namespace AutoGlm.Cluster.Routing;

/// <summary>What a request would cost on the local engine.</summary>
/// <param name="PromptTokens">
/// Prompt tokens after templating: with a local engine, images and clips count the rows its adapters will make (read
/// from their headers); without one, <see cref="ClusterOptions.MediaTokens"/> each.
/// </param>
/// <param name="MaxTokens">Answer tokens at most.</param>
/// <param name="MediaItems">Images and audio clips in the request.</param>
/// <param name="PredictedLocalMs">Predicted local latency: prefill plus decode at the measured (or default) speeds.</param>
/// <param name="LocalLacks">The adapter (<c>vision</c>, <c>audio</c>) the local model package would need for this request and does not have; null when it has what it needs.</param>
public sealed record CostEstimate(int PromptTokens, int MaxTokens, int MediaItems, double PredictedLocalMs, string? LocalLacks = null);

/// <summary>Estimates a request's local cost from the engine's tokenizer and measured speeds.</summary>
/// <remarks>Thread-safe. Without a <see cref="LocalEngine"/> (another <see cref="IChatClient"/>) prompt tokens are counted as characters / 4.</remarks>
public sealed class CostEstimator
{
    private readonly LocalEngine? _engine;
    private readonly ClusterOptions _options;

    /// <summary>Creates an estimator over <paramref name="engine"/> (null: rough counts and default speeds).</summary>
    public CostEstimator(LocalEngine? engine, ClusterOptions options)
    {
        _engine = engine;
        _options = options;
    }

    /// <summary>The speeds the estimate uses: measured when the engine has run something, else the configured defaults.</summary>
    public (double Prefill, double Decode) Speeds
    {
        get
        {
            var (prefill, decode) = _engine?.MeasuredSpeed ?? (0, 0);
            return (prefill > 0 ? prefill : _options.DefaultPrefillTokensPerSecond, decode > 0 ? decode : _options.DefaultDecodeTokensPerSecond);
        }
    }

    /// <summary>Estimates one request.</summary>
    public CostEstimate Estimate(IReadOnlyList<ChatMessage> messages, ChatOptions? options)
    {
        var contents = messages.SelectMany(m => m.Contents).Where(c => c is DataContent or UriContent).ToList();
        int prompt;
        string? lacks = null;
        if (_engine is not null)
        {
            var adapters = _engine.Package.Manifest.Adapters;
            lacks = contents.OfType<DataContent>().Any(d => d.HasTopLevelMediaType("image")) && adapters?.Vision is null ? "vision"
                : contents.OfType<DataContent>().Any(d => d.HasTopLevelMediaType("audio")) && adapters?.Audio is null ? "audio"
                : null;
            var readable = contents.Count == 0 || lacks is not null
                ? messages.Select(m => new ChatMessage(m.Role, m.Contents.Where(c => c is not (DataContent or UriContent)).ToList())).ToList()
                : messages;
            var rendered = _engine.RenderPrompt(readable, options);
            prompt = rendered.Count + (readable == messages ? 0 : contents.Count * _options.MediaTokens);
            if (contents.Count == 0)
            {
                // A text prompt renders the same here and in the engine: it takes this one instead of rendering again.
                options?.SetRenderedPrompt(messages, rendered);
            }
        }
        else
        {
            prompt = messages.Sum(m => m.Text.Length) / 4 + 8 + contents.Count * _options.MediaTokens;
        }

        var maxTokens = options?.MaxOutputTokens ?? _options.DefaultMaxTokens;
        var (prefill, decode) = Speeds;
        var ms = (prompt / prefill + maxTokens / decode) * 1000;
        return new CostEstimate(prompt, maxTokens, contents.Count, ms, lacks);
    }
}
