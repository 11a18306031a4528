using AutoGlm.Runtime.Numerics;
using System.Numerics.Tensors;
using AutoGlm.Runtime.Building;
using AutoGlm.Runtime.Generation;

namespace AutoGlm.Runtime.Tests.Generation;

public sealed class TokenSamplerTests
{
    private static readonly bool[] AllAllowed = Enumerable.Repeat(true, 8).ToArray();

    [Fact]
    public void Next_TemperatureZero_PicksTheLargestLogit()
    {
        var sampler = new TokenSampler(new SamplingParameters { Temperature = 0 }, AllAllowed, []);

        Assert.Equal(3, sampler.Next(new float[] { 0, 1, 2, 5, 4, 3, 2, 1 }));
    }

    [Fact]
    public void Next_DisallowedToken_NeverChosen()
    {
        var allowed = AllAllowed.ToArray();
        allowed[3] = false;
        var sampler = new TokenSampler(new SamplingParameters { Temperature = 0 }, allowed, []);

        Assert.Equal(4, sampler.Next(new float[] { 0, 1, 2, 5, 4, 3, 2, 1 }));
    }

    [Fact]
    public void Next_TopK1_IsGreedyEvenAtHighTemperature()
    {
        var sampler = new TokenSampler(new SamplingParameters { Temperature = 2, TopK = 1, Seed = 5 }, AllAllowed, []);

        for (var i = 0; i < 20; i++)
        {
            Assert.Equal(3, sampler.Next(new float[] { 0, 1, 2, 5, 4, 3, 2, 1 }));
        }
    }

    [Fact]
    public void Next_TopP_OnlyDrawsFromTheNucleus()
    {
        // Probabilities ~ 0.64, 0.24, 0.09, ...: top_p 0.8 keeps exactly the first two.
        var sampler = new TokenSampler(new SamplingParameters { Temperature = 1, TopP = 0.8f, Seed = 11 }, AllAllowed, []);
        var seen = new HashSet<int>();
        for (var i = 0; i < 300; i++)
        {
            seen.Add(sampler.Next(new float[] { 3, 2, 1, 0, -1, -2, -3, -4 }));
        }

        Assert.Equal([0, 1], seen.Order());
    }

    [Fact]
    public void Next_SameSeed_SameDraws()
    {
        int[] Draw(long seed)
        {
            var sampler = new TokenSampler(new SamplingParameters { Temperature = 1, Seed = seed }, AllAllowed, []);
            return [.. Enumerable.Range(0, 50).Select(_ => sampler.Next(new float[] { 1, 1, 1, 1, 1, 1, 1, 1 }))];
        }

        Assert.Equal(Draw(3), Draw(3));
        Assert.NotEqual(Draw(3), Draw(4));
    }

    [Fact]
    public void Next_FrequencyPenalty_StopsRepeatingTheSameToken()
    {
        var sampler = new TokenSampler(new SamplingParameters { Temperature = 0, FrequencyPenalty = 1.5f }, AllAllowed, []);
        float[] Logits() => [0, 0, 0, 2, 1, 0, 0, 0];

        Assert.Equal(3, sampler.Next(Logits()));
        Assert.Equal(4, sampler.Next(Logits()));  // 2 - 1.5 < 1
    }

    [Fact]
    public void Next_RepetitionPenalty_AppliesToPromptTokens()
    {
        var sampler = new TokenSampler(new SamplingParameters { Temperature = 0, RepetitionPenalty = 3f }, AllAllowed, [3]);

        Assert.Equal(4, sampler.Next(new float[] { 0, 0, 0, 2, 1, 0, 0, 0 }));  // 2 / 3 < 1
    }

    [Theory]
    [InlineData(-1f, 1f, "temperature")]
    [InlineData(1f, 0f, "top_p")]
    [InlineData(1f, 1.5f, "top_p")]
    [InlineData(float.NaN, 1f, "temperature")]
    public void Validate_BadValues_NameTheField(float temperature, float topP, string field)
    {
        var problems = new SamplingParameters { Temperature = temperature, TopP = topP }.Validate().ToList();

        Assert.Contains(problems, p => p.StartsWith(field, StringComparison.Ordinal));
    }

    // Sampling over the vocabulary has fast paths (block sums for the plain draw; a heap with a float reject and one
    // sort of the whole vocabulary for top-k/top-p). Over a full-size vocabulary, with and without many tied logits,
    // seeded draws must be those of the definition: without top-k/top-p, a walk of the weights in id order; with
    // them, every token sorted by weight (ties: lower id first), cut at k and at the smallest prefix holding top_p
    // of the mass, drawn in that order.
    [Theory]
    [InlineData(0.8f, 0, 1f, false)]     // the whole distribution, walked in id order
    [InlineData(1.5f, 0, 1f, true)]
    [InlineData(0.8f, 0, 0.9f, false)]   // flat: the nucleus is most of the vocabulary
    [InlineData(0.8f, 40, 1f, false)]
    [InlineData(0.8f, 40, 0.95f, true)]
    [InlineData(0.8f, 5000, 1f, true)]   // more candidates than the heap takes
    [InlineData(0.3f, 0, 0.5f, true)]
    public void Next_FullVocabulary_DrawsWhatTheDefinitionDraws(float temperature, int topK, float topP, bool ties)
    {
        const int vocab = 100352;
        const long seed = 42;
        var logits = new float[vocab];
        SeededRandom.ForStream(7, "logits").FillUniform(logits, 3f);
        if (ties)
        {
            for (var i = 0; i < vocab; i++)
            {
                logits[i] = MathF.Round(logits[i] * 4) / 4; // 25 distinct values: thousands of ties each
            }
        }

        var parameters = new SamplingParameters { Temperature = temperature, TopK = topK, TopP = topP, Seed = seed };
        var sampler = new TokenSampler(parameters, Enumerable.Repeat(true, vocab).ToArray(), []);
        var reference = new SeededRandom(unchecked((ulong)seed));
        var drawn = new List<int>();
        var expected = new List<int>();
        for (var step = 0; step < 12; step++)
        {
            drawn.Add(sampler.Next(logits.ToArray()));
            expected.Add(ByDefinition(logits, parameters, reference));
        }

        Assert.Equal(expected, drawn);
        Assert.True(drawn.Distinct().Count() > 1, "the draws should vary");
    }

    private static int ByDefinition(float[] logits, SamplingParameters p, SeededRandom random)
    {
        var weights = new float[logits.Length];
        TensorPrimitives.Subtract(logits, logits[TensorPrimitives.IndexOfMax<float>(logits)], weights);
        TensorPrimitives.Multiply(weights, 1f / p.Temperature, weights);
        TensorPrimitives.Exp(weights, weights);
        var total = TensorPrimitives.Sum<float>(weights);
        if (p.TopK == 0 && p.TopP >= 1)
        {
            var left = random.NextDouble() * total;
            for (var i = 0; i < weights.Length; i++)
            {
                left -= weights[i];
                if (weights[i] > 0 && left < 0)
                {
                    return i;
                }
            }

            return Array.FindLastIndex(weights, w => w > 0);
        }

        var order = Enumerable.Range(0, weights.Length).Where(i => weights[i] > 0).OrderByDescending(i => weights[i]).ThenBy(i => i).ToList();
        if (p.TopK > 0)
        {
            order = [.. order.Take(p.TopK)];
        }

        double mass = 0;
        var kept = 0;
        if (p.TopP < 1)
        {
            while (kept < order.Count && mass < p.TopP * total)
            {
                mass += weights[order[kept++]];
            }
        }
        else
        {
            kept = order.Count;
            foreach (var id in order)
            {
                mass += weights[id];
            }
        }

        var draw = random.NextDouble() * mass;
        for (var i = 0; i < kept; i++)
        {
            draw -= weights[order[i]];
            if (draw < 0)
            {
                return order[i];
            }
        }

        return order[kept - 1];
    }
}
