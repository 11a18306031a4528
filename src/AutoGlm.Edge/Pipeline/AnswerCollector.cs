using AutoGlm.Runtime.Text;
using System.Text;
using AutoGlm.Cluster.Routing;
using AutoGlm.Runtime.Generation;
using Microsoft.Extensions.AI;

namespace AutoGlm.Edge.Pipeline;

/// <summary>
/// Collects one answer from the pipeline's update stream: its text and reasoning, usage, finish reason, timings and
/// where it ran. A restart marker from the router voids what came before it.
/// </summary>
/// <remarks>Not thread-safe: one per request, fed in stream order. Every front door (MQTT, HTTP, CLI) and the metrics read answers through it.</remarks>
public sealed class AnswerCollector
{
    private readonly StringBuilder _text = new();
    private StringBuilder? _reasoning;

    /// <summary>The answer so far.</summary>
    public string Text => _text.ToString();

    /// <summary>The reasoning so far; null when the model gave none.</summary>
    public string? Reasoning => _reasoning?.ToString();

    /// <summary>The finish reason, once the engine gave it.</summary>
    public ChatFinishReason? FinishReason { get; private set; }

    /// <summary>The token counts, once the engine gave them (at the end of a complete answer).</summary>
    public UsageDetails? Usage { get; private set; }

    /// <summary>The local engine's timings of the finished answer.</summary>
    public GenerationTimings? Timings { get; private set; }

    /// <summary>Where the answer runs, once the router said so; null when it did not (no heavy nodes configured).</summary>
    public string? ServedBy { get; private set; }

    /// <summary>Why it runs there.</summary>
    public string? RouteReason { get; private set; }

    /// <summary>Updates that carried text or reasoning (the engine sends one per token that completes text).</summary>
    public int TextUpdates { get; private set; }

    /// <summary>Updates that carried a scored token (requests asking for log probabilities).</summary>
    public int ScoredUpdates { get; private set; }

    /// <summary>Whether the update last added was the router's restart marker: everything before it is void.</summary>
    public bool RestartedNow { get; private set; }

    /// <summary>Whether the answer has said anything yet (since the last restart).</summary>
    public bool HasText => TextUpdates > 0;

    /// <summary>Takes in one update; returns the answer text and the reasoning text it carried.</summary>
    public (string Text, string Reasoning) Add(ChatResponseUpdate update)
    {
        RestartedNow = update.IsRestart();
        if (RestartedNow)
        {
            _text.Clear();
            _reasoning = null;
            (FinishReason, Usage, Timings) = (null, null, null);
            TextUpdates = 0;
            ScoredUpdates = 0;
        }

        string text = "", reasoning = "";
        foreach (var content in update.Contents)
        {
            switch (content)
            {
                case TextReasoningContent thought:
                    reasoning += thought.Text;
                    break;
                case TextContent answer:
                    text += answer.Text;
                    break;
                case UsageContent usage:
                    Usage = usage.Details;
                    break;
            }
        }

        _text.Append(text);
        if (reasoning.Length > 0)
        {
            (_reasoning ??= new StringBuilder()).Append(reasoning);
        }

        if (text.Length > 0 || reasoning.Length > 0)
        {
            TextUpdates++;
        }

        if (update.GetScored() is not null)
        {
            ScoredUpdates++;
        }

        FinishReason = update.FinishReason ?? FinishReason;
        Timings = update.GetTimings() ?? Timings;
        if (update.GetServedBy() is { } servedBy)
        {
            ServedBy = servedBy;
            RouteReason = update.GetRouteReason();
        }

        return (text, reasoning);
    }

    /// <summary>The AutoGLM action the answer is (<c>do(action="Tap", element=[x,y])</c>, <c>finish(message="…")</c>), parsed; null for any other answer.</summary>
    public AutoGlmAction? Action => AutoGlmActionParser.ActionOf(Text);

    /// <summary>Tokens generated: the engine's count, or for an answer cut short the updates that carried text or a scored token.</summary>
    public int CompletionTokens => (int)(Usage?.OutputTokenCount ?? Math.Max(TextUpdates, ScoredUpdates));

    /// <summary>
    /// Prompt tokens: the engine's count, or for an answer cut short after it began, <paramref name="prompt"/> (asked only
    /// then: a count the door knows, or the local engine's count of the rendered prompt); 0 when nothing was generated.
    /// </summary>
    public int PromptTokens(Func<int> prompt) =>
        (int)(Usage?.InputTokenCount ?? (TextUpdates > 0 || ScoredUpdates > 0 ? prompt() : 0));
}
