using System.Diagnostics;
using System.Numerics.Tensors;
using LLama;
using LLama.Common;
using LLama.Native;

namespace AutoGlm.Bench;

/// <summary>
/// llama.cpp (through LLamaSharp's CPU backend) on the GGUF export of a package: greedy generation of random prompts
/// with the same arrival pattern as the engine's benchmark — streams arrive <c>spacingMs</c> apart, each is
/// prefilled as it arrives, and all running streams decode together in one batch per step (what llama.cpp's
/// server does with <c>--parallel</c>).
/// </summary>
internal static class LlamaCppRun
{
    private static bool _quiet;

    /// <summary>Loads the GGUF with <paramref name="threads"/> threads and a cache for <paramref name="streams"/> sequences.</summary>
    public static (LLamaWeights Weights, ModelParams Parameters) Load(string gguf, int streams, int sequenceLength, int threads)
    {
        if (!_quiet)
        {
            NativeLibraryConfig.All.WithLogCallback((level, message) =>
            {
                if (level >= LLamaLogLevel.Error)
                {
                    Console.Error.Write(message);
                }
            });
            _quiet = true;
        }

        var parameters = new ModelParams(gguf)
        {
            ContextSize = (uint)(streams * sequenceLength),
            SeqMax = (uint)streams,
            BatchSize = (uint)Math.Max(512, sequenceLength),
            UBatchSize = 512,
            Threads = threads,
            BatchThreads = threads,
            GpuLayerCount = 0,
        };
        return (LLamaWeights.LoadFromFile(parameters), parameters);
    }

    /// <summary>One measured run: the same figures as the engine's <c>EngineBenchmark</c>.</summary>
    public static EngineRun Run(LLamaWeights weights, ModelParams parameters, int promptTokens, int genTokens, int streams, double spacingMs, int seed, string label)
    {
        using var context = weights.CreateContext(parameters);
        var random = new Random(seed);
        var prompts = Enumerable.Range(0, streams).Select(_ => Enumerable.Range(0, promptTokens).Select(_ => random.Next(0, 100000)).ToArray()).ToArray();
        var clock = Stopwatch.StartNew();
        var arrival = Enumerable.Range(0, streams).Select(s => s * spacingMs).ToArray();
        var firstAt = new double[streams];
        var endAt = new double[streams];
        var made = new int[streams];
        var last = new int[streams];
        var prefillMs = 0.0;
        var admitted = 0;
        var running = new List<int>();
        var batch = new LLamaBatch();
        while (admitted < streams || running.Count > 0)
        {
            // Admit every stream that has arrived: prefill its prompt, take its first token.
            while (admitted < streams && clock.Elapsed.TotalMilliseconds >= arrival[admitted])
            {
                var s = admitted++;
                var began = clock.Elapsed.TotalMilliseconds;
                batch.Clear();
                var tokens = prompts[s].Select(t => (LLamaToken)t).ToArray();
                batch.AddRange(tokens, 0, (LLamaSeqId)s, true);
                Decode(context, batch);
                last[s] = ArgMax(context.NativeHandle.GetLogitsIth(batch.TokenCount - 1));
                var now = clock.Elapsed.TotalMilliseconds;
                if (s == 0)
                {
                    prefillMs = now - began;
                }

                firstAt[s] = now;
                made[s] = 1;
                running.Add(s);
            }

            if (running.Count == 0)
            {
                Thread.Sleep(TimeSpan.FromMilliseconds(Math.Max(0, arrival[admitted] - clock.Elapsed.TotalMilliseconds)));
                continue;
            }

            batch.Clear();
            foreach (var s in running)
            {
                batch.Add(last[s], promptTokens + made[s] - 1, (LLamaSeqId)s, true);
            }

            Decode(context, batch);
            for (var i = 0; i < running.Count; i++)
            {
                var s = running[i];
                last[s] = ArgMax(context.NativeHandle.GetLogitsIth(i));
                made[s]++;
            }

            var at = clock.Elapsed.TotalMilliseconds;
            foreach (var s in running.Where(s => made[s] >= genTokens).ToArray())
            {
                endAt[s] = at;
                running.Remove(s);
            }
        }

        var decode = (genTokens - 1) / ((endAt[0] - firstAt[0]) / 1000);
        var span = endAt.Max() - firstAt.Min();
        var aggregate = streams * (genTokens - 1) / (span / 1000);
        var ttft = Enumerable.Range(0, streams).Select(s => firstAt[s] - arrival[s]).Order().ToArray();
        return new EngineRun(label, promptTokens / (prefillMs / 1000), decode, aggregate, ttft[ttft.Length / 2], Runtime.Generation.EngineBenchmark.PeakRssMb());
    }

    /// <summary>
    /// The logits after the prompt and after each of <paramref name="steps"/> − 1 further tokens: its own greedy
    /// choices, or <paramref name="forced"/> ones (teacher forcing, to compare step by step with another engine).
    /// </summary>
    public static float[][] Greedy(LLamaWeights weights, ModelParams parameters, int[] prompt, int steps, int[]? forced = null)
    {
        using var context = weights.CreateContext(parameters);
        var batch = new LLamaBatch();
        batch.AddRange(prompt.Select(t => (LLamaToken)t).ToArray(), 0, LLamaSeqId.Zero, true);
        Decode(context, batch);
        var logits = new float[steps][];
        logits[0] = context.NativeHandle.GetLogitsIth(batch.TokenCount - 1).ToArray();
        for (var i = 1; i < steps; i++)
        {
            batch.Clear();
            batch.Add(forced?[i - 1] ?? ArgMax(logits[i - 1]), prompt.Length + i - 1, LLamaSeqId.Zero, true);
            Decode(context, batch);
            logits[i] = context.NativeHandle.GetLogitsIth(0).ToArray();
        }

        return logits;
    }

    private static void Decode(LLamaContext context, LLamaBatch batch)
    {
        var result = context.Decode(batch);
        if (result != DecodeResult.Ok)
        {
            throw new InvalidOperationException($"llama.cpp decode failed: {result}");
        }
    }

    private static int ArgMax(ReadOnlySpan<float> logits) => TensorPrimitives.IndexOfMax(logits);
}
