using System.Diagnostics;
using System.Globalization;
using AutoGlm.Runtime.Generation;
using AutoGlm.Runtime.Onnx;
using AutoGlm.Runtime.Packages;

namespace AutoGlm.Bench;

/// <summary>
/// The per-token work around the decoder session, each piece alone on one thread: choosing the token over the whole
/// vocabulary with common sampling settings, and the embedding lookup of the token. Medians in microseconds.
/// </summary>
internal static class HotPathBench
{
    public static int Run(string packageDirectory, int iterations)
    {
        var package = ModelPackage.Load(packageDirectory);
        var vocab = package.Manifest.Architecture.VocabSize;
        var random = new Random(3);

        // Logits shaped like the synthetic model's: a spread of a few units around zero.
        var logits = new float[vocab];
        for (var i = 0; i < logits.Length; i++)
        {
            logits[i] = (float)((random.NextDouble() * 6) - 3);
        }

        var allowed = Enumerable.Repeat(true, vocab).ToArray();
        var settings = new (string Name, SamplingParameters Parameters)[]
        {
            ("greedy", new SamplingParameters { Temperature = 0 }),
            ("temperature 0.8", new SamplingParameters { Temperature = 0.8f, Seed = 1 }),
            ("temperature 0.8, top_p 0.9", new SamplingParameters { Temperature = 0.8f, TopP = 0.9f, Seed = 1 }),
            ("temperature 0.8, top_k 40", new SamplingParameters { Temperature = 0.8f, TopK = 40, Seed = 1 }),
            ("temperature 0.8, top_k 40, top_p 0.95, repetition 1.1", new SamplingParameters { Temperature = 0.8f, TopK = 40, TopP = 0.95f, RepetitionPenalty = 1.1f, Seed = 1 }),
        };
        var scratch = new float[vocab];
        foreach (var (name, parameters) in settings)
        {
            var sampler = new TokenSampler(parameters, allowed, Enumerable.Range(0, 128));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"sample, {name}: {Median(iterations, () =>
            {
                logits.CopyTo(scratch, 0);
                sampler.Next(scratch);
            }):F1} µs"));
        }

        using var embedding = new TokenEmbedding(package);
        var row = new float[embedding.HiddenSize];
        var token = 0;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"embedding lookup: {Median(iterations, () => embedding.Lookup(token++ % vocab, row)):F1} µs"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"copy of one logits row ({vocab} floats, the floor the sample rows include): {Median(iterations, () => logits.CopyTo(scratch, 0)):F1} µs"));
        return 0;
    }

    private static double Median(int iterations, Action action)
    {
        for (var i = 0; i < 20; i++)
        {
            action();
        }

        var times = new double[iterations];
        for (var i = 0; i < iterations; i++)
        {
            var start = Stopwatch.GetTimestamp();
            action();
            times[i] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
        }

        Array.Sort(times);
        return times[iterations / 2];
    }
}
