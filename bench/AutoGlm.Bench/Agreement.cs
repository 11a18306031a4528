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
        var (ourLogits, ourTokens) = EngineGreedy(packageDirectory, prompt, steps);
        var (weights, parameters) = LlamaCppRun.Load(gguf, 1, promptTokens + steps, Environment.ProcessorCount);
        float[] theirLogits;
        int[] theirTokens;
        using (weights)
        {
            (theirLogits, theirTokens) = LlamaCppRun.Greedy(weights, parameters, prompt, steps);
        }

        var agreeing = 0;
        while (agreeing < steps && ourTokens[agreeing] == theirTokens[agreeing])
        {
            agreeing++;
        }

        var difference = new float[ourLogits.Length];
        TensorPrimitives.Subtract(ourLogits, theirLogits, difference);
        var maxDiff = TensorPrimitives.MaxMagnitude(difference);
        var spread = TensorPrimitives.Max(ourLogits) - TensorPrimitives.Min(ourLogits);
        var cosine = TensorPrimitives.CosineSimilarity(ourLogits, theirLogits);
        return string.Create(
            CultureInfo.InvariantCulture,
            $"agreement on a {promptTokens}-token prompt: first {agreeing} of {steps} greedy tokens identical; last-position logits cosine {cosine:F6}, max |difference| {maxDiff:F3} (logit range {spread:F1}); engine {string.Join(' ', ourTokens)}; llama.cpp {string.Join(' ', theirTokens)}");
    }

    /// <summary>The decoder session alone (as <see cref="DecodeProfile"/> drives it): the prompt's last logits and greedy tokens.</summary>
    private static (float[] Logits, int[] Tokens) EngineGreedy(string packageDirectory, int[] prompt, int steps)
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
        var logits = session.Logits(0).ToArray();
        var tokens = new int[steps];
        tokens[0] = TensorPrimitives.IndexOfMax<float>(logits);
        for (var i = 1; i < steps; i++)
        {
            embedding.Lookup(tokens[i - 1], session.Embeds(1));
            session.Run(0, 1, 1, [prompt.Length + i - 1]);
            tokens[i] = TensorPrimitives.IndexOfMax<float>(session.Logits(0));
        }

        return (logits, tokens);
    }
}
