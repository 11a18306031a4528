using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using AutoGlm.Runtime.Building;
using AutoGlm.Runtime.Generation;
using Microsoft.ML.OnnxRuntimeGenAI;

namespace AutoGlm.Bench;

/// <summary>One engine's figures from one run in its own process.</summary>
internal sealed record EngineRun(string Engine, double PrefillTokensPerSecond, double DecodeTokensPerSecond, double AggregateTokensPerSecond, double TtftMs, double PeakRssMb);

/// <summary>
/// The engine, ONNX Runtime GenAI and llama.cpp on the same weights, side by side: each run is a fresh process (so
/// peak RSS is its own), the engines alternate, the memory bandwidth is measured in the same run, and medians are
/// reported with each figure as a share of the bandwidth bound.
/// </summary>
internal static class SideBySide
{
    /// <summary>The arrival patterns every engine that can take several streams is run with: all at once, and 25 ms apart.</summary>
    private static readonly double[] Spacings = [0, 25];

    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    public static int Compare(string preset, string workDirectory, int promptTokens, int genTokens, int runs, int[] streamCounts)
    {
        var spec = SyntheticModelSpec.Preset(preset);
        var packageDir = Path.Combine(workDirectory, preset);
        var genAiDir = Path.Combine(workDirectory, preset + "-genai");
        var gguf = Path.Combine(workDirectory, preset + "-q4_0.gguf");
        if (!Runtime.Packages.ModelPackage.Verify(packageDir).IsValid)
        {
            SyntheticModelBuilder.Build(spec, packageDir);
        }

        if (!File.Exists(Path.Combine(genAiDir, "genai_config.json")))
        {
            SyntheticModelBuilder.BuildGenAiVariant(spec, genAiDir, Environment.ProcessorCount);
        }

        if (!File.Exists(gguf))
        {
            GgufExport.Export(spec, packageDir, gguf + ".tmp");
            File.Move(gguf + ".tmp", gguf);
        }

        Console.WriteLine(Child("agree", packageDir, gguf, 16, 16, 1, 0).Engine);

        // Bytes read per forward pass: every weight once (the LM head is the embedding). The rotary tables are not weights.
        var a = spec.Architecture;
        var ortBytes = new FileInfo(Path.Combine(packageDir, SyntheticModelBuilder.DataFileName)).Length - (2L * a.ContextLength * (a.RotaryDim / 2) * sizeof(float));
        var ggufBytes = GgufExport.TensorBytes(spec);

        var results = new List<EngineRun>();
        var bandwidth = new List<double>();
        void Report(int rounds)
        {
            var gbPerSecond = Median(bandwidth);
            EngineRun Summary(string label) => results.Where(r => r.Engine == label).ToArray() is { Length: > 0 } rows
                ? new(label, Median(rows.Select(r => r.PrefillTokensPerSecond)), Median(rows.Select(r => r.DecodeTokensPerSecond)), Median(rows.Select(r => r.AggregateTokensPerSecond)), Median(rows.Select(r => r.TtftMs)), Median(rows.Select(r => r.PeakRssMb)))
                : throw new InvalidOperationException($"no runs of {label}");

            static string F(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
            var engines = new (string Key, string Name, long Bytes)[]
            {
                ("engine", "autoglm-edge", ortBytes),
                ("genai", "onnxruntime-genai 0.18", ortBytes),
                ("llama", "llama.cpp (LLamaSharp 0.30, GGUF Q4_0)", ggufBytes),
            };
            Console.WriteLine(F($"{preset} preset ({a.ParameterCount / 1e6:F0} M parameters), prompt {promptTokens}, generated {genTokens}, greedy, median of {rounds} alternating rounds, each run in its own process, {Environment.ProcessorCount} threads"));
            Console.WriteLine(F($"memory read bandwidth in this run: {gbPerSecond:F1} GB/s (median of {bandwidth.Count}: {string.Join(", ", bandwidth.Select(b => b.ToString("F1", CultureInfo.InvariantCulture)))}); weights read per forward pass: ONNX {ortBytes / 1e6:F0} MB, GGUF {ggufBytes / 1e6:F0} MB"));
            Console.WriteLine();
            Console.WriteLine("| engine | decode tok/s, 1 stream | % of bound | prefill tok/s | % of bound | TTFT ms | peak RSS MB |");
            Console.WriteLine("|---|---|---|---|---|---|---|");
            var one = new Dictionary<string, EngineRun>();
            foreach (var (key, name, bytes) in engines)
            {
                var row = one[key] = Summary($"{key}-1-0");
                var bound = gbPerSecond * 1e9 / bytes; // forward passes per second the memory allows
                Console.WriteLine(F($"| {name} | {row.DecodeTokensPerSecond:F1} | {100 * row.DecodeTokensPerSecond / bound:F0} % | {row.PrefillTokensPerSecond:F0} | {100 * row.PrefillTokensPerSecond / (bound * promptTokens):F1} % | {row.TtftMs:F0} | {row.PeakRssMb:F0} |"));
            }

            Console.WriteLine();
            Console.WriteLine(F($"ratios: decode engine/llama.cpp {one["engine"].DecodeTokensPerSecond / one["llama"].DecodeTokensPerSecond:F2}×, engine/GenAI {one["engine"].DecodeTokensPerSecond / one["genai"].DecodeTokensPerSecond:F2}×; prefill engine/llama.cpp {one["engine"].PrefillTokensPerSecond / one["llama"].PrefillTokensPerSecond:F2}×, engine/GenAI {one["engine"].PrefillTokensPerSecond / one["genai"].PrefillTokensPerSecond:F2}×; peak RSS engine/llama.cpp {one["engine"].PeakRssMb / one["llama"].PeakRssMb:F2}×"));
            Console.WriteLine();
            Console.WriteLine("| engine | streams | arrival | aggregate tok/s | × its 1 stream | % of bound | median TTFT ms | peak RSS MB |");
            Console.WriteLine("|---|---|---|---|---|---|---|---|");
            foreach (var streams in streamCounts.Where(n => n > 1))
            {
                foreach (var spacing in Spacings)
                {
                    foreach (var (key, name, bytes) in engines.Where(e => e.Key != "genai"))
                    {
                        var row = Summary(F($"{key}-{streams}-{spacing}"));
                        var bound = gbPerSecond * 1e9 / bytes * streams; // one pass over the weights serves every stream in the batch
                        Console.WriteLine(F($"| {name} | {streams} | {(spacing == 0 ? "all at once" : $"{spacing} ms apart")} | {row.AggregateTokensPerSecond:F1} | {row.AggregateTokensPerSecond / one[key].DecodeTokensPerSecond:F2}× | {100 * row.AggregateTokensPerSecond / bound:F0} % | {row.TtftMs:F0} | {row.PeakRssMb:F0} |"));
                    }
                }
            }

        }

        for (var run = 0; run < runs; run++)
        {
            bandwidth.Add(MemoryBandwidth.MeasureReadGbPerSecond());
            results.Add(Child("engine", packageDir, null, promptTokens, genTokens, 1, 0));
            results.Add(Child("genai", genAiDir, null, promptTokens, genTokens, 1, 0));
            results.Add(Child("llama", gguf, null, promptTokens, genTokens, 1, 0));
            foreach (var streams in streamCounts.Where(n => n > 1))
            {
                foreach (var spacing in Spacings)
                {
                    results.Add(Child("engine", packageDir, null, promptTokens, genTokens, streams, spacing));
                    results.Add(Child("llama", gguf, null, promptTokens, genTokens, streams, spacing));
                }
            }

            Report(run + 1); // after every round, so that a run cut short still leaves its table
        }

        return 0;
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted[sorted.Length / 2];
    }

    /// <summary>Runs one engine once in this process and prints its figures as JSON (the child side of <see cref="Compare"/>).</summary>
    public static int RunOne(string engine, string path, int promptTokens, int genTokens, int streams, double spacingMs)
    {
        var run = engine switch
        {
            "engine" or "engine-nospin" or "engine-kv16" => RunEngine(engine, path, promptTokens, genTokens, streams, spacingMs),
            "genai" => RunGenAi(path, promptTokens, genTokens),
            "llama" => RunLlama(path, promptTokens, genTokens, streams, spacingMs),
            _ => throw new ArgumentException($"unknown engine '{engine}' (engine, engine-nospin, engine-kv16, genai, llama)"),
        };
        Console.WriteLine(JsonSerializer.Serialize(run, Json));
        return 0;
    }

    /// <summary>The child side of the agreement check: its one line travels as the run's name.</summary>
    public static int Agree(string packageDirectory, string gguf)
    {
        Console.WriteLine(JsonSerializer.Serialize(new EngineRun(Agreement.Check(packageDirectory, gguf), 0, 0, 0, 0, 0), Json));
        return 0;
    }

    private static string Label(string engine, int streams, double spacingMs) =>
        string.Create(CultureInfo.InvariantCulture, $"{engine}-{streams}-{(streams > 1 ? spacingMs : 0)}");

    // variant: engine; engine-nospin (Runtime:AllowSpinning=false); engine-kv16 (Runtime:KvCacheType=float16).
    private static EngineRun RunEngine(string variant, string directory, int promptTokens, int genTokens, int streams, double spacingMs)
    {
        var options = new EngineOptions
        {
            MaxBatchSize = Math.Max(1, streams),
            MaxSequenceLength = promptTokens + genTokens,
            AllowSpinning = variant != "engine-nospin",
            KvCacheType = variant == "engine-kv16" ? "float16" : "float32",
        };
        using var engine = LocalEngine.Load(directory, options);
        Console.Error.WriteLine($"loaded: {DecodeProfile.Memory()}");
        EngineBenchmark.RunAsync(engine, promptTokens, 8, 1, seed: 99).GetAwaiter().GetResult(); // warm-up: one short stream (loads, JIT)
        Console.Error.WriteLine($"warmed up: {DecodeProfile.Memory()}");
        var result = EngineBenchmark.RunAsync(engine, promptTokens, genTokens, streams, arrivalSpacingMs: spacingMs).GetAwaiter().GetResult();
        Console.Error.WriteLine($"measured: {DecodeProfile.Memory()}; session alone {engine.MeasuredSpeed.DecodeTokensPerSecond:F1} decode tok/s");
        return new EngineRun(Label(variant, streams, spacingMs), result.PrefillTokensPerSecond, result.DecodeTokensPerSecond, result.AggregateDecodeTokensPerSecond, result.TimeToFirstTokenMs, EngineBenchmark.PeakRssMb());
    }

    private static EngineRun RunLlama(string gguf, int promptTokens, int genTokens, int streams, double spacingMs)
    {
        var (weights, parameters) = LlamaCppRun.Load(gguf, streams, promptTokens + genTokens, Environment.ProcessorCount);
        using (weights)
        {
            var label = Label("llama", streams, spacingMs);
            LlamaCppRun.Run(weights, parameters, promptTokens, 8, 1, 0, seed: 99, label); // warm-up: one short stream, as for the engine
            return LlamaCppRun.Run(weights, parameters, promptTokens, genTokens, streams, spacingMs, seed: 7, label);
        }
    }

    private static EngineRun RunGenAi(string directory, int promptTokens, int genTokens)
    {
        using var model = new Model(directory);
        (double Prefill, double Decode, double Ttft) Once(int seed)
        {
            var random = new Random(seed);
            var prompt = Enumerable.Range(0, promptTokens).Select(_ => random.Next(0, 100000)).ToArray();
            using var parameters = new GeneratorParams(model);
            parameters.SetSearchOption("max_length", promptTokens + genTokens);
            parameters.SetSearchOption("min_length", promptTokens + genTokens);
            using var generator = new Generator(model, parameters);
            var clock = Stopwatch.StartNew();
            generator.AppendTokens(prompt);
            var prefill = clock.Elapsed.TotalSeconds;
            generator.GenerateNextToken();
            var first = clock.Elapsed.TotalSeconds;
            var made = 1;
            while (!generator.IsDone() && made < genTokens)
            {
                generator.GenerateNextToken();
                made++;
            }

            var decode = clock.Elapsed.TotalSeconds - first;
            return (promptTokens / prefill, (made - 1) / decode, first * 1000);
        }

        Once(99); // warm-up (GenAI's generator here always runs to the full length)
        var (p, d, t) = Once(0);
        return new EngineRun("genai-1-0", p, d, d, t, EngineBenchmark.PeakRssMb());
    }

    private static EngineRun Child(string engine, string path, string? gguf, int promptTokens, int genTokens, int streams, double spacingMs)
    {
        var self = Environment.ProcessPath!;
        var start = new ProcessStartInfo(self) { RedirectStandardOutput = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(self) == "dotnet")
        {
            start.ArgumentList.Add(typeof(SideBySide).Assembly.Location);
        }

        string[] args = engine == "agree"
            ? ["agree", path, gguf!]
            : ["run-one", engine, path, promptTokens.ToString(CultureInfo.InvariantCulture), genTokens.ToString(CultureInfo.InvariantCulture), streams.ToString(CultureInfo.InvariantCulture), spacingMs.ToString(CultureInfo.InvariantCulture)];
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{engine} run ({streams} streams) failed with exit code {process.ExitCode}");
        }

        var line = output.Trim().Split('\n')[^1];
        Console.Error.WriteLine(line); // each run as it ends, so that a cut-short run still leaves its figures
        return JsonSerializer.Deserialize<EngineRun>(line, Json)!;
    }
}
