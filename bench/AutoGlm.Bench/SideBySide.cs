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
/// The engine and ONNX Runtime GenAI on the same weights, side by side: each run is a fresh process (so peak RSS
/// is its own), the two alternate, and the medians and their ratio are reported.
/// </summary>
internal static class SideBySide
{
    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    public static int Compare(string preset, string workDirectory, int promptTokens, int genTokens, int runs, int streams)
    {
        var spec = SyntheticModelSpec.Preset(preset);
        var packageDir = Path.Combine(workDirectory, preset);
        var genAiDir = Path.Combine(workDirectory, preset + "-genai");
        if (!Runtime.Packages.ModelPackage.Verify(packageDir).IsValid)
        {
            SyntheticModelBuilder.Build(spec, packageDir);
        }

        if (!File.Exists(Path.Combine(genAiDir, "genai_config.json")))
        {
            SyntheticModelBuilder.BuildGenAiVariant(spec, genAiDir, Environment.ProcessorCount);
        }

        var results = new List<EngineRun>();
        for (var run = 0; run < runs; run++)
        {
            results.Add(Child("engine", packageDir, promptTokens, genTokens, 1));
            results.Add(Child("genai", genAiDir, promptTokens, genTokens, 1));
            results.Add(Child("engine-nospin", packageDir, promptTokens, genTokens, 1));
            if (streams > 1)
            {
                results.Add(Child("engine", packageDir, promptTokens, genTokens, streams));
            }
        }

        double Median(IEnumerable<double> values)
        {
            var sorted = values.Order().ToArray();
            return sorted[sorted.Length / 2];
        }

        EngineRun Summary(string engine, IEnumerable<EngineRun> rows) => new(
            engine,
            Median(rows.Select(r => r.PrefillTokensPerSecond)),
            Median(rows.Select(r => r.DecodeTokensPerSecond)),
            Median(rows.Select(r => r.AggregateTokensPerSecond)),
            Median(rows.Select(r => r.TtftMs)),
            Median(rows.Select(r => r.PeakRssMb)));

        var ours = Summary("autoglm-edge", results.Where(r => r.Engine == "engine-1"));
        var genai = Summary("onnxruntime-genai 0.18", results.Where(r => r.Engine == "genai-1"));
        var noSpin = Summary("autoglm-edge, AllowSpinning=false", results.Where(r => r.Engine == "engine-nospin-1"));
        Console.WriteLine($"{preset} preset ({spec.Architecture.ParameterCount / 1e6:F0} M parameters), prompt {promptTokens}, generated {genTokens}, median of {runs} alternating runs, each in its own process:");
        Console.WriteLine("| engine | prefill tok/s | decode tok/s (1 stream) | TTFT ms | peak RSS MB |");
        Console.WriteLine("|---|---|---|---|---|");
        foreach (var row in new[] { ours, noSpin, genai })
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {row.Engine} | {row.PrefillTokensPerSecond:F0} | {row.DecodeTokensPerSecond:F1} | {row.TtftMs:F0} | {row.PeakRssMb:F0} |"));
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"ratio autoglm-edge / genai: prefill {ours.PrefillTokensPerSecond / genai.PrefillTokensPerSecond:F2}×, decode {ours.DecodeTokensPerSecond / genai.DecodeTokensPerSecond:F2}×, peak RSS {ours.PeakRssMb / genai.PeakRssMb:F2}×"));
        if (streams > 1)
        {
            var batched = Summary("autoglm-edge", results.Where(r => r.Engine == $"engine-{streams}"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"autoglm-edge, {streams} streams arriving 25 ms apart: {batched.AggregateTokensPerSecond:F1} tok/s aggregate = {batched.AggregateTokensPerSecond / ours.DecodeTokensPerSecond:F2}× one stream, peak RSS {batched.PeakRssMb:F0} MB"));
        }

        return 0;
    }

    /// <summary>Runs one engine once in this process and prints its figures as JSON (the child side of <see cref="Compare"/>).</summary>
    public static int RunOne(string engine, string directory, int promptTokens, int genTokens, int streams)
    {
        var run = engine switch
        {
            "engine" => RunEngine(directory, promptTokens, genTokens, streams, allowSpinning: true),
            "engine-nospin" => RunEngine(directory, promptTokens, genTokens, streams, allowSpinning: false),
            "genai" => RunGenAi(directory, promptTokens, genTokens),
            _ => throw new ArgumentException($"unknown engine '{engine}'"),
        };
        Console.WriteLine(JsonSerializer.Serialize(run, Json));
        return 0;
    }

    private static EngineRun RunEngine(string directory, int promptTokens, int genTokens, int streams, bool allowSpinning)
    {
        using var engine = LocalEngine.Load(directory, new EngineOptions { MaxBatchSize = Math.Max(1, streams), MaxSequenceLength = promptTokens + genTokens, AllowSpinning = allowSpinning });
        EngineBenchmark.RunAsync(engine, promptTokens, genTokens, streams, seed: 99).GetAwaiter().GetResult(); // warm-up
        var result = EngineBenchmark.RunAsync(engine, promptTokens, genTokens, streams).GetAwaiter().GetResult();
        return new EngineRun($"engine{(allowSpinning ? "" : "-nospin")}-{streams}", result.PrefillTokensPerSecond, result.DecodeTokensPerSecond, result.AggregateDecodeTokensPerSecond, result.TimeToFirstTokenMs, EngineBenchmark.PeakRssMb());
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

        Once(99); // warm-up
        var (p, d, t) = Once(0);
        return new EngineRun("genai-1", p, d, d, t, EngineBenchmark.PeakRssMb());
    }

    private static EngineRun Child(string engine, string directory, int promptTokens, int genTokens, int streams)
    {
        var self = Environment.ProcessPath!;
        var start = new ProcessStartInfo(self) { RedirectStandardOutput = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(self) == "dotnet")
        {
            start.ArgumentList.Add(typeof(SideBySide).Assembly.Location);
        }

        foreach (var arg in new[] { "run-one", engine, directory, promptTokens.ToString(CultureInfo.InvariantCulture), genTokens.ToString(CultureInfo.InvariantCulture), streams.ToString(CultureInfo.InvariantCulture) })
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{engine} run failed with exit code {process.ExitCode}");
        }

        return JsonSerializer.Deserialize<EngineRun>(output.Trim().Split('\n')[^1], Json)!;
    }
}
