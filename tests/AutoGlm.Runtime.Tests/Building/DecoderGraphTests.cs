using AutoGlm.Runtime.Building;
using AutoGlm.Runtime.Generation;
using AutoGlm.Runtime.Onnx;
using AutoGlm.Runtime.Packages;
using Microsoft.Extensions.Logging.Abstractions;

namespace AutoGlm.Runtime.Tests.Building;

/// <summary>The ONNX decoder's logits against <see cref="ReferenceGlmDecoder"/>, through prefill and the KV cache.</summary>
public sealed class DecoderGraphTests : IDisposable
{
    private const int PromptLength = 20;
    private const int DecodeSteps = 8;
    private readonly string _root = Path.Combine(Path.GetTempPath(), "autoglm-tests", "graph-" + Guid.NewGuid().ToString("N")[..8]);

    public void Dispose() => Directory.Delete(_root, recursive: true);

    /// <summary>
    /// Accuracy level 0 computes in float32, so the graph must match the reference to rounding (1e-3 absolute on
    /// logits whose spread is about 3). Level 4 quantizes activations to int8 per block: about 1% error.
    /// </summary>
    [Theory]
    [InlineData(0, 64, 1e-3, 0.99999)]
    [InlineData(0, 7, 1e-3, 0.99999)]
    [InlineData(4, 64, 0.25, 0.999)]
    public void Logits_PrefillThenDecode_MatchReference(int accuracyLevel, int prefillChunk, double maxAbsError, double minCosine)
    {
        var spec = SyntheticModelSpec.Tiny with { Quantization = new QuantizationInfo { AccuracyLevel = accuracyLevel } };
        var package = Build(spec);
        var reference = new ReferenceGlmDecoder(spec.Architecture, spec.Quantization, spec.Seed);
        using var embedding = new TokenEmbedding(package);
        using var session = new DecoderSession(package, new EngineOptions { MaxBatchSize = 2, PrefillChunkSize = prefillChunk }, NullLogger.Instance);
        var hidden = spec.Architecture.HiddenSize;

        var prompt = Enumerable.Range(0, PromptLength).Select(i => (i * 7919) % 100000).ToArray();
        float[] expected = [];
        foreach (var token in prompt)
        {
            expected = reference.Step(token);
        }

        var done = 0;
        while (done < prompt.Length)
        {
            var count = Math.Min(session.PrefillChunk, prompt.Length - done);
            for (var t = 0; t < count; t++)
            {
                embedding.Lookup(prompt[done + t], session.Embeds(count).Slice(t * hidden, hidden));
            }

            session.Run(1, 1, count, [done]);
            done += count;
        }

        AssertClose(expected, session.Logits(0).ToArray(), maxAbsError, minCosine, "after the prompt");

        for (var step = 0; step < DecodeSteps; step++)
        {
            var next = ArgMax(expected);
            expected = reference.Step(next);
            embedding.Lookup(next, session.Embeds(1));
            session.Run(1, 1, 1, [PromptLength + step]);
            AssertClose(expected, session.Logits(0).ToArray(), maxAbsError, minCosine, $"at decode step {step}");
        }
    }

    [Fact]
    public void Logits_TwoSequencesDecodedTogether_EachMatchesItsReference()
    {
        var spec = SyntheticModelSpec.Tiny with { Quantization = new QuantizationInfo { AccuracyLevel = 0 } };
        var package = Build(spec);
        using var embedding = new TokenEmbedding(package);
        using var session = new DecoderSession(package, new EngineOptions { MaxBatchSize = 2 }, NullLogger.Instance);
        var hidden = spec.Architecture.HiddenSize;
        int[][] prompts = [[11, 22, 33, 44, 55], [900, 800, 700, 600, 500, 400, 300, 200, 100]];
        var references = prompts.Select(_ => new ReferenceGlmDecoder(spec.Architecture, spec.Quantization, spec.Seed)).ToArray();
        var last = new float[2][];
        for (var s = 0; s < 2; s++)
        {
            foreach (var token in prompts[s])
            {
                last[s] = references[s].Step(token);
            }

            for (var t = 0; t < prompts[s].Length; t++)
            {
                embedding.Lookup(prompts[s][t], session.Embeds(prompts[s].Length).Slice(t * hidden, hidden));
            }

            session.Run(s, 1, prompts[s].Length, [0]);
        }

        int[] lengths = [prompts[0].Length, prompts[1].Length];
        for (var step = 0; step < 4; step++)
        {
            for (var s = 0; s < 2; s++)
            {
                var next = ArgMax(last[s]);
                embedding.Lookup(next, session.Embeds(2).Slice(s * hidden, hidden));
                last[s] = references[s].Step(next);
            }

            session.Run(0, 2, 1, lengths);
            for (var s = 0; s < 2; s++)
            {
                AssertClose(last[s], session.Logits(s).ToArray(), 1e-3, 0.99999, $"sequence {s}, step {step}");
                lengths[s]++;
            }
        }
    }

    private ModelPackage Build(SyntheticModelSpec spec)
    {
        var dir = Path.Combine(_root, $"a{spec.Quantization.AccuracyLevel}-{Guid.NewGuid():N}");
        SyntheticModelBuilder.Build(spec, dir);
        return ModelPackage.Load(dir);
    }

    private static int ArgMax(float[] values) => Array.IndexOf(values, values.Max());

    private static void AssertClose(float[] expected, float[] actual, double maxAbsError, double minCosine, string where)
    {
        Assert.Equal(expected.Length, actual.Length);
        double dot = 0, ee = 0, aa = 0, worst = 0;
        for (var i = 0; i < expected.Length; i++)
        {
            dot += expected[i] * (double)actual[i];
            ee += expected[i] * (double)expected[i];
            aa += actual[i] * (double)actual[i];
            worst = Math.Max(worst, Math.Abs(expected[i] - actual[i]));
        }

        var cosine = dot / Math.Sqrt(ee * aa);
        Assert.True(worst <= maxAbsError, $"{where}: largest logit difference {worst:G4} exceeds {maxAbsError} (cosine {cosine:F6})");
        Assert.True(cosine >= minCosine, $"{where}: cosine similarity {cosine:F6} is below {minCosine}");
    }
}
