using System.Globalization;
using System.Numerics.Tensors;
using AutoGlm.Runtime.Generation;
using AutoGlm.Runtime.Onnx;
using AutoGlm.Runtime.Packages;
using Microsoft.Extensions.Logging.Abstractions;

namespace AutoGlm.Bench;

/// <summary>Do the engine's decoder and llama.cpp on the GGUF export compute the same model? Logits of a short prompt and greedy tokens, compared.</summary>
internal static class Agreement
{
    public static string Check(string packageDirectory, string gguf, int promptTokens = 16, int steps = 16)
    {
        var random = new Random(5);
        var prompt = Enumerable.Range(0, promptTokens).Select(_ => random.Next(0, 100000)).ToArray();
        var (ours, ourTokens) = EngineGreedy(packageDirectory, prompt, steps);
        var (weights, parameters) = LlamaCppRun.Load(gguf, 1, promptTokens + steps, Environment.ProcessorCount);
        float[][] free, forced;
        using (weights)
        {
            free = LlamaCppRun.Greedy(weights, parameters, prompt, steps);
            forced = LlamaCppRun.Greedy(weights, parameters, prompt, steps, ourTokens);
        }

        var theirTokens = free.Select(l => TensorPrimitives.IndexOfMax<float>(l)).ToArray();
        var agreeing = 0;
        while (agreeing < steps && ourTokens[agreeing] == theirTokens[agreeing])
        {
            agreeing++;
        }

        // Step by step on the engine's own tokens: the same argmax, how close the logits are, and the engine's margin
        // between its first and second choice where the two disagree (a near tie that fp16 scales can flip).
        var sameArgMax = 0;
        var minCosine = 1f;
        var maxDiff = 0f;
        var tieMargins = new List<float>();
        for (var i = 0; i < steps; i++)
        {
            var theirs = TensorPrimitives.IndexOfMax<float>(forced[i]);
            if (theirs == ourTokens[i])
            {
                sameArgMax++;
            }
            else
            {
                tieMargins.Add(ours[i][ourTokens[i]] - ours[i][theirs]);
            }

            minCosine = MathF.Min(minCosine, TensorPrimitives.CosineSimilarity(ours[i], forced[i]));
            var difference = new float[ours[i].Length];
            TensorPrimitives.Subtract(ours[i], forced[i], difference);
            maxDiff = MathF.Max(maxDiff, TensorPrimitives.MaxMagnitude<float>(difference));
        }

        var spread = TensorPrimitives.Max<float>(ours[0]) - TensorPrimitives.Min<float>(ours[0]);
        return string.Create(
            CultureInfo.InvariantCulture,
            $"agreement, engine against llama.cpp on a {promptTokens}-token prompt, {steps} greedy steps: free-running, the first {agreeing} tokens identical; fed the engine's tokens, the same argmax at {sameArgMax} of {steps} steps{(tieMargins.Count > 0 ? $" (where not, the engine's own margin was {string.Join(", ", tieMargins.Select(m => m.ToString("F3", CultureInfo.InvariantCulture)))})" : "")}, logits cosine ≥ {minCosine:F5}, max |difference| {maxDiff:F3} against a logit range of {spread:F1}");
    }

    /// <summary>The decoder session alone (as <see cref="DecodeProfile"/> drives it): the prompt's last logits and greedy tokens.</summary>
    private static (float[][] Logits, int[] Tokens) EngineGreedy(string packageDirectory, int[] prompt, int steps)
    {
        var package = ModelPackage.Load(packageDirectory);
        using var embedding = new TokenEmbedding(package);
        using var session = new DecoderSession(package, new EngineOptions { MaxBatchSize = 1, MaxSequenceLength = prompt.Length + steps }, NullLogger.Instance);
        var hidden = package.Manifest.Architecture.HiddenSize;
        for (var t = 0; t < prompt.Length; t++)
        {
            embedding.Lookup(prompt[t], session.Embeds(prompt.Length).Slice(t * hidden, hidden));
        }

        session.Run(0, 1, prompt.Length, [0]);
        var logits = new float[steps][];
        var tokens = new int[steps];
        for (var i = 0; i < steps; i++)
        {
            if (i > 0)
            {
                embedding.Lookup(tokens[i - 1], session.Embeds(1));
                session.Run(0, 1, 1, [prompt.Length + i - 1]);
            }

            logits[i] = session.Logits(0).ToArray();
            tokens[i] = TensorPrimitives.IndexOfMax<float>(logits[i]);
        }

        return (logits, tokens);
    }
}
