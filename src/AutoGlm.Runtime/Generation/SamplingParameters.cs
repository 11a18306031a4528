using AutoGlm.Runtime.Building;

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
/// <remarks>Keeps the sequence's token counts for the penalties and its own seeded generator. Not thread-safe.</remarks>
public sealed class TokenSampler
{
    private readonly SamplingParameters _p;
    private readonly SeededRandom _random;
    private readonly Dictionary<int, int> _generated = [];
    private readonly HashSet<int> _seen = [];
    private readonly bool[] _allowed;
    private int[] _order = [];
    private float[] _probs = [];

    /// <param name="parameters">The sampling settings.</param>
    /// <param name="allowed">For each id, whether it may be sampled (undefined ids may not).</param>
    /// <param name="prompt">The prompt's tokens, seen by the repetition penalty.</param>
    public TokenSampler(SamplingParameters parameters, bool[] allowed, IEnumerable<int> prompt)
    {
        _p = parameters;
        _allowed = allowed;
        _random = new SeededRandom(unchecked((ulong)(parameters.Seed ?? Random.Shared.NextInt64())));
        if (parameters.RepetitionPenalty != 1f)
        {
            _seen.UnionWith(prompt);
        }
    }

    /// <summary>Chooses the next token; <paramref name="logits"/> is modified.</summary>
    public int Next(Span<float> logits)
    {
        for (var i = 0; i < logits.Length; i++)
        {
            if (!_allowed[i])
            {
                logits[i] = float.NegativeInfinity;
            }
        }

        ApplyPenalties(logits);
        var token = _p.Temperature == 0 ? ArgMax(logits) : Sample(logits);
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

    private static int ArgMax(ReadOnlySpan<float> logits)
    {
        var best = 0;
        for (var i = 1; i < logits.Length; i++)
        {
            if (logits[i] > logits[best])
            {
                best = i;
            }
        }

        return best;
    }

    private int Sample(ReadOnlySpan<float> logits)
    {
        // Candidates: the top-k (or, for top-p alone, a first guess of 256 that grows if it holds too little mass).
        var max = logits[ArgMax(logits)];
        var inverseTemperature = 1f / _p.Temperature;
        double total = 0;
        for (var i = 0; i < logits.Length; i++)
        {
            total += Math.Exp((logits[i] - max) * inverseTemperature);
        }

        var limit = _p.TopK > 0 ? Math.Min(_p.TopK, logits.Length) : (_p.TopP < 1 ? Math.Min(256, logits.Length) : logits.Length);
        while (true)
        {
            var count = SelectTop(logits, limit);
            double mass = 0;
            var kept = 0;
            for (; kept < count; kept++)
            {
                var p = Math.Exp((logits[_order[kept]] - max) * inverseTemperature) / total;
                _probs[kept] = (float)p;
                mass += p;
                if (_p.TopP < 1 && mass >= _p.TopP)
                {
                    kept++;
                    break;
                }
            }

            var exhausted = _p.TopK > 0 || _p.TopP >= 1 || mass >= _p.TopP || limit == logits.Length;
            if (!exhausted)
            {
                limit = Math.Min(limit * 8, logits.Length);
                continue;
            }

            var draw = _random.NextDouble() * mass;
            for (var i = 0; i < kept; i++)
            {
                draw -= _probs[i];
                if (draw < 0)
                {
                    return _order[i];
                }
            }

            return _order[kept - 1];
        }
    }

    /// <summary>Puts the <paramref name="k"/> largest logits' ids, largest first, in <see cref="_order"/>.</summary>
    private int SelectTop(ReadOnlySpan<float> logits, int k)
    {
        if (_order.Length < logits.Length)
        {
            _order = new int[logits.Length];
            _probs = new float[logits.Length];
        }

        for (var i = 0; i < logits.Length; i++)
        {
            _order[i] = i;
        }

        var keys = logits.ToArray();
        if (k == logits.Length)
        {
            for (var i = 0; i < keys.Length; i++)
            {
                keys[i] = -keys[i];
            }

            Array.Sort(keys, _order, 0, keys.Length);
            return k;
        }

        // Partial selection: a min-heap of size k over (logit, id), then sorted descending.
        var heap = new PriorityQueue<int, (float, int)>(k);
        for (var i = 0; i < logits.Length; i++)
        {
            if (float.IsNegativeInfinity(logits[i]))
            {
                continue;
            }

            if (heap.Count < k)
            {
                heap.Enqueue(i, (logits[i], -i));
            }
            else if (heap.TryPeek(out _, out var smallest) && (logits[i], -i).CompareTo(smallest) > 0)
            {
                heap.DequeueEnqueue(i, (logits[i], -i));
            }
        }

        var count = heap.Count;
        for (var i = count - 1; i >= 0; i--)
        {
            _order[i] = heap.Dequeue();
        }

        return count;
    }
}
