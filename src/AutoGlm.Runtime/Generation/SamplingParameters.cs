using AutoGlm.Runtime.Numerics;
using System.Numerics.Tensors;

namespace AutoGlm.Runtime.Generation;

/// <summary>How the next token is chosen. Temperature 0 is greedy.</summary>
public sealed record SamplingParameters
{
    public float Temperature { get; init; } = 0.8f;

    /// <summary>Keep only the k most likely tokens; 0 keeps all.</summary>
    public int TopK { get; init; }

    /// <summary>Keep the smallest set of tokens whose probability reaches p; 1 keeps all.</summary>
    public float TopP { get; init; } = 1f;

    /// <summary>Divides positive (multiplies negative) logits of tokens already in the prompt or output; 1 is off.</summary>
    public float RepetitionPenalty { get; init; } = 1f;

    /// <summary>Subtracted from a token's logit once per time it was generated.</summary>
    public float FrequencyPenalty { get; init; }

    /// <summary>Subtracted from a token's logit if it was generated at all.</summary>
    public float PresencePenalty { get; init; }

    /// <summary>The seed; the same seed and request give the same text. Null draws one.</summary>
    public long? Seed { get; init; }

    /// <summary>Every problem with the values, each naming the field.</summary>
    public IEnumerable<string> Validate()
    {
        if (!float.IsFinite(Temperature) || Temperature < 0 || Temperature > 2)
        {
            yield return $"temperature must be between 0 and 2 (got {Temperature})";
        }

        if (TopK < 0)
        {
            yield return $"top_k must not be negative (got {TopK})";
        }

        if (!float.IsFinite(TopP) || TopP <= 0 || TopP > 1)
        {
            yield return $"top_p must be greater than 0 and at most 1 (got {TopP})";
        }

        if (!float.IsFinite(RepetitionPenalty) || RepetitionPenalty <= 0)
        {
            yield return $"repetition_penalty must be positive (got {RepetitionPenalty})";
        }

        if (!float.IsFinite(FrequencyPenalty) || FrequencyPenalty < -2 || FrequencyPenalty > 2)
        {
            yield return $"frequency_penalty must be between -2 and 2 (got {FrequencyPenalty})";
        }

        if (!float.IsFinite(PresencePenalty) || PresencePenalty < -2 || PresencePenalty > 2)
        {
            yield return $"presence_penalty must be between -2 and 2 (got {PresencePenalty})";
        }
    }
}

/// <summary>Chooses tokens from logits for one sequence.</summary>
/// <remarks>
/// Keeps the sequence's token counts for the penalties and its own seeded generator. Work per token is a few
/// vectorized passes over the vocabulary; only top-k and top-p sort, and only their candidates. Not thread-safe.
/// </remarks>
public sealed class TokenSampler
{
    private const int FirstNucleusGuess = 256;

    /// <summary>Above this many candidates, sorting every positive weight once is cheaper than a heap of them.</summary>
    private const int HeapLimit = 1024;

    private readonly SamplingParameters _p;
    private readonly SeededRandom _random;
    private readonly Dictionary<int, int> _generated = [];
    private readonly HashSet<int> _seen = [];
    private readonly int[] _forbidden;
    private float[] _weights = [];

    /// <param name="parameters">The sampling settings.</param>
    /// <param name="allowed">For each id, whether it may be sampled (undefined ids may not).</param>
    /// <param name="prompt">The prompt's tokens, seen by the repetition penalty.</param>
    public TokenSampler(SamplingParameters parameters, bool[] allowed, IEnumerable<int> prompt)
        : this(parameters, ForbiddenIds(allowed), prompt)
    {
    }

    /// <param name="parameters">The sampling settings.</param>
    /// <param name="forbidden">Ids that may never be sampled.</param>
    /// <param name="prompt">The prompt's tokens, seen by the repetition penalty.</param>
    public TokenSampler(SamplingParameters parameters, int[] forbidden, IEnumerable<int> prompt)
    {
        _p = parameters;
        _forbidden = forbidden;
        _random = new SeededRandom(unchecked((ulong)(parameters.Seed ?? Random.Shared.NextInt64())));
        if (parameters.RepetitionPenalty != 1f)
        {
            _seen.UnionWith(prompt);
        }
    }

    /// <summary>The ids whose flag is false.</summary>
    public static int[] ForbiddenIds(bool[] allowed) => [.. Enumerable.Range(0, allowed.Length).Where(i => !allowed[i])];

    /// <summary>Chooses the next token; <paramref name="logits"/> is modified.</summary>
    public int Next(Span<float> logits)
    {
        foreach (var id in _forbidden)
        {
            logits[id] = float.NegativeInfinity;
        }

        ApplyPenalties(logits);
        var token = _p.Temperature == 0 ? TensorPrimitives.IndexOfMax<float>(logits) : Sample(logits);
        _generated[token] = _generated.GetValueOrDefault(token) + 1;
        if (_p.RepetitionPenalty != 1f)
        {
            _seen.Add(token);
        }

        return token;
    }

    private void ApplyPenalties(Span<float> logits)
    {
        if (_p.RepetitionPenalty != 1f)
        {
            foreach (var id in _seen)
            {
                logits[id] = logits[id] > 0 ? logits[id] / _p.RepetitionPenalty : logits[id] * _p.RepetitionPenalty;
            }
        }

        if (_p.FrequencyPenalty != 0 || _p.PresencePenalty != 0)
        {
            foreach (var (id, count) in _generated)
            {
                logits[id] -= (_p.FrequencyPenalty * count) + _p.PresencePenalty;
            }
        }
    }

    private int Sample(ReadOnlySpan<float> logits)
    {
        // Unnormalized probabilities exp((logit - max) / T), computed once, vectorized.
        if (_weights.Length < logits.Length)
        {
            _weights = new float[logits.Length];
        }

        var weights = _weights.AsSpan(0, logits.Length);
        var max = logits[TensorPrimitives.IndexOfMax(logits)];
        TensorPrimitives.Subtract(logits, max, weights);
        TensorPrimitives.Multiply(weights, 1f / _p.Temperature, weights);
        TensorPrimitives.Exp(weights, weights);

        if (_p.TopK == 0 && _p.TopP >= 1)
        {
            return Draw(weights, _random.NextDouble() * TensorPrimitives.Sum<float>(weights));
        }

        var total = _p.TopP < 1 ? TensorPrimitives.Sum<float>(weights) : 0;
        var limit = _p.TopK > 0 ? Math.Min(_p.TopK, logits.Length) : Math.Min(FirstNucleusGuess, logits.Length);
        while (true)
        {
            var candidates = Top(weights, limit);
            var kept = candidates.Length;
            double mass = 0;
            if (_p.TopP < 1)
            {
                // Keep the smallest prefix whose probability reaches top_p; grow the candidates if they hold too little.
                kept = 0;
                while (kept < candidates.Length && mass < _p.TopP * total)
                {
                    mass += weights[candidates[kept++]];
                }

                if (mass < _p.TopP * total && limit < logits.Length && _p.TopK == 0)
                {
                    // A flat distribution: one sort of the whole vocabulary costs less than growing heaps (same prefix).
                    limit = logits.Length;
                    continue;
                }
            }
            else
            {
                foreach (var id in candidates)
                {
                    mass += weights[id];
                }
            }

            var draw = _random.NextDouble() * mass;
            for (var i = 0; i < kept; i++)
            {
                draw -= weights[candidates[i]];
                if (draw < 0)
                {
                    return candidates[i];
                }
            }

            return candidates[kept - 1];
        }
    }

    /// <summary>Walks the distribution until the cumulative weight passes <paramref name="draw"/>.</summary>
    /// <remarks>
    /// Whole blocks the draw clears are skipped by their sum (vectorized, accumulated in double), and only the block
    /// it lands in is walked one weight at a time. The block sums round differently from the weight-by-weight walk
    /// (by about 1e-16 of the total), so a draw that close to a boundary between two tokens could pick the other:
    /// the same seed gives the same draws with that exception.
    /// </remarks>
    private static int Draw(ReadOnlySpan<float> weights, double draw)
    {
        const int block = 2048;
        var start = 0;
        while (start + block < weights.Length)
        {
            var sum = SumAsDouble(weights.Slice(start, block));
            if (draw - sum < sum * 1e-9)
            {
                break;
            }

            draw -= sum;
            start += block;
        }

        for (var i = start; i < weights.Length; i++)
        {
            if (weights[i] <= 0)
            {
                continue;
            }

            draw -= weights[i];
            if (draw < 0)
            {
                return i;
            }
        }

        // Rounding left the draw just past the total: the last token that has weight.
        for (var i = weights.Length - 1; i > 0; i--)
        {
            if (weights[i] > 0)
            {
                return i;
            }
        }

        return 0;
    }

    private static double SumAsDouble(ReadOnlySpan<float> values)
    {
        var vectors = System.Runtime.InteropServices.MemoryMarshal.Cast<float, System.Numerics.Vector<float>>(values);
        var low = System.Numerics.Vector<double>.Zero;
        var high = System.Numerics.Vector<double>.Zero;
        foreach (var v in vectors)
        {
            System.Numerics.Vector.Widen(v, out var a, out var b);
            low += a;
            high += b;
        }

        double sum = System.Numerics.Vector.Sum(low + high);
        for (var i = vectors.Length * System.Numerics.Vector<float>.Count; i < values.Length; i++)
        {
            sum += values[i];
        }

        return sum;
    }

    /// <summary>The ids of the <paramref name="k"/> largest positive weights, largest first (ties: lower id first).</summary>
    /// <remarks>
    /// One pass with a heap of the k best so far. Ids come in ascending order, so a weight equal to the heap's
    /// smallest never displaces it (the earlier id wins the tie): a plain float comparison rejects all but a few
    /// weights. For more than <see cref="HeapLimit"/> candidates, one sort of all positive weights does instead.
    /// </remarks>
    private static int[] Top(ReadOnlySpan<float> weights, int k)
    {
        if (k > HeapLimit)
        {
            var all = SortAllPositive(weights);
            return all.Length <= k ? all : all[..k];
        }

        var heap = new PriorityQueue<int, (float, int)>(k);
        var smallest = 0f; // the heap's smallest weight once it is full
        for (var i = 0; i < weights.Length; i++)
        {
            var w = weights[i];
            if (w <= 0)
            {
                continue;
            }

            if (heap.Count < k)
            {
                heap.Enqueue(i, (w, -i));
                if (heap.Count == k)
                {
                    heap.TryPeek(out _, out var least);
                    smallest = least.Item1;
                }
            }
            else if (w > smallest)
            {
                heap.DequeueEnqueue(i, (w, -i));
                heap.TryPeek(out _, out var least);
                smallest = least.Item1;
            }
        }

        var result = new int[heap.Count];
        for (var i = result.Length - 1; i >= 0; i--)
        {
            result[i] = heap.Dequeue();
        }

        return result;
    }

    /// <summary>Every id with a positive weight, largest weight first, ties by lower id: one sort of packed keys.</summary>
    private static int[] SortAllPositive(ReadOnlySpan<float> weights)
    {
        // A positive float's bits order like the float; (int.MaxValue - bits, id) ascending is (weight descending, id ascending).
        var keys = new long[weights.Length];
        var count = 0;
        for (var i = 0; i < weights.Length; i++)
        {
            if (weights[i] > 0)
            {
                keys[count++] = ((long)(int.MaxValue - BitConverter.SingleToInt32Bits(weights[i])) << 32) | (uint)i;
            }
        }

        var sorted = keys.AsSpan(0, count);
        sorted.Sort();
        var result = new int[count];
        for (var i = 0; i < count; i++)
        {
            result[i] = (int)(sorted[i] & 0xFFFFFFFF);
        }

        return result;
    }
}
