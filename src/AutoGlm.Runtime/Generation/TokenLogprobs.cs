namespace AutoGlm.Runtime.Generation;

/// <summary>One alternative at a generated position: a token id and its log probability.</summary>
public readonly record struct TokenAlternative(int TokenId, float Logprob);

/// <summary>
/// A generated token with its log probability and the most likely alternatives at its position, most likely first;
/// sent before the token's text when a request asked for <see cref="LocalEngine.LogprobsProperty"/>.
/// </summary>
/// <remarks>
/// The distribution is the model's own: a log-softmax over the raw logits row, before temperature, top-p and the
/// penalties (vLLM's default, <c>raw_logprobs</c>). Ids the model can never sample (vocabulary padding) have no mass.
/// </remarks>
public sealed record TokenScored(int TokenId, float Logprob, IReadOnlyList<TokenAlternative> Top) : GenerationEvent;

/// <summary>Log probabilities from a logits row.</summary>
public static class TokenLogprobs
{
    /// <summary>Most alternatives a request may ask for (OpenAI's limit on <c>logprobs</c>).</summary>
    public const int MaxTop = 20;

    /// <summary>Scores <paramref name="chosen"/> and picks the <paramref name="top"/> most likely ids of a row.</summary>
    /// <param name="logits">The raw row; ids that can never be sampled must already be negative infinity.</param>
    /// <param name="chosen">The id that was sampled.</param>
    /// <param name="top">How many alternatives to list (0 to the row's length).</param>
    public static TokenScored Score(ReadOnlySpan<float> logits, int chosen, int top)
    {
        // log p(i) = x(i) - (max + log Σ exp(x - max)): stable for any logit scale.
        var max = float.NegativeInfinity;
        foreach (var x in logits)
        {
            max = Math.Max(max, x);
        }

        double sum = 0;
        foreach (var x in logits)
        {
            sum += Math.Exp(x - max);
        }

        var logZ = max + (float)Math.Log(sum);

        // Partial selection: a sorted window of the best `top` seen so far; most rows never touch it after a few hundred ids.
        top = Math.Clamp(top, 0, logits.Length);
        var ids = new int[top];
        var values = new float[top];
        var filled = 0;
        for (var i = 0; i < logits.Length && top > 0; i++)
        {
            var x = logits[i];
            if (filled == top && !(x > values[top - 1]))
            {
                continue;
            }

            var at = filled < top ? filled++ : top - 1;
            while (at > 0 && values[at - 1] < x)
            {
                values[at] = values[at - 1];
                ids[at] = ids[at - 1];
                at--;
            }

            values[at] = x;
            ids[at] = i;
        }

        var alternatives = new TokenAlternative[filled];
        for (var i = 0; i < filled; i++)
        {
            alternatives[i] = new TokenAlternative(ids[i], values[i] - logZ);
        }

        return new TokenScored(chosen, logits[chosen] - logZ, alternatives);
    }
}
