using System.Diagnostics;

namespace AutoGlm.Runtime.Generation;

/// <summary>What one benchmark run measured.</summary>
public sealed record BenchmarkResult(
    string Model,
    string ExecutionProvider,
    int PromptTokens,
    int GeneratedTokens,
    int Streams,
    double PrefillTokensPerSecond,
    double DecodeTokensPerSecond,
    double AggregateDecodeTokensPerSecond,
    double TimeToFirstTokenMs,
    double PeakRssMb);

/// <summary>Measures prefill and decode speed of an engine on synthetic prompts of exact length.</summary>
/// <remarks>
/// Prompts are random ordinary tokens; generation runs through stop tokens so that every run makes exactly the
/// requested number. With several streams, they start <c>arrivalSpacingMs</c> apart (25 ms by default, as requests
/// arrive at a server; 0 sends them all at once), and the aggregate rate is all generated tokens over the wall time
/// from the first token to the last.
/// </remarks>
public static class EngineBenchmark
{
    public static async Task<BenchmarkResult> RunAsync(LocalEngine engine, int promptTokens, int generatedTokens, int streams = 1, int seed = 7, CancellationToken cancellationToken = default, double arrivalSpacingMs = 25)
    {
        var random = new Random(seed);
        var sampling = new SamplingParameters { Temperature = 0 };
        var runs = new List<Task<(GenerationCompleted Done, double FirstTokenAt, double EndAt)>>();
        var clock = Stopwatch.StartNew();
        for (var s = 0; s < streams; s++)
        {
            var prompt = Enumerable.Range(0, promptTokens).Select(_ => random.Next(0, 100000)).ToArray();
            runs.Add(Task.Run(
                async () =>
                {
                    var enqueuedAt = clock.Elapsed.TotalMilliseconds;
                    GenerationCompleted? done = null;
                    await foreach (var item in engine.GenerateAsync(prompt, generatedTokens, sampling, ignoreStopTokens: true, cancellationToken).ConfigureAwait(false))
                    {
                        done = item as GenerationCompleted ?? done;
                    }

                    if (done is null)
                    {
                        throw new InvalidOperationException("generation ended without completing");
                    }

                    var firstTokenAt = enqueuedAt + done.Timings.TimeToFirstTokenMs;
                    return (done, firstTokenAt, firstTokenAt + done.Timings.DecodeMs);
                },
                cancellationToken));
            if (streams > 1 && arrivalSpacingMs > 0)
            {
                // Requests arrive at different times, as they do at a server.
                await Task.Delay(TimeSpan.FromMilliseconds(arrivalSpacingMs), cancellationToken).ConfigureAwait(false);
            }
        }

        var results = await Task.WhenAll(runs).ConfigureAwait(false);
        var first = results[0].Done;
        var prefill = first.Timings.PrefillMs > 0 ? promptTokens / (first.Timings.PrefillMs / 1000) : 0;
        var decode = first.Timings.DecodeTokensPerSecond(first.CompletionTokens);

        // All streams' decoded tokens over the span from the first first-token to the last end.
        var span = results.Max(r => r.EndAt) - results.Min(r => r.FirstTokenAt);
        var aggregate = span > 0 ? results.Sum(r => r.Done.CompletionTokens - 1) / (span / 1000) : 0;
        return new BenchmarkResult(
            engine.Metadata.DefaultModelId ?? "model",
            engine.ExecutionProvider,
            promptTokens,
            generatedTokens,
            streams,
            prefill,
            decode,
            aggregate,
            Median(results.Select(r => r.Done.Timings.TimeToFirstTokenMs)),
            PeakRssMb());
    }

    /// <summary>The process's peak resident set (VmHWM) in MB, or 0 where /proc is not there.</summary>
    public static double PeakRssMb()
    {
        const string status = "/proc/self/status";
        if (!File.Exists(status))
        {
            return 0;
        }

        var line = File.ReadLines(status).FirstOrDefault(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
        return line is null ? 0 : double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) / 1024;
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
