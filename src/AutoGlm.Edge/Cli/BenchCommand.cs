using System.CommandLine;
using System.Text.Json;
using AutoGlm.Runtime.Generation;

namespace AutoGlm.Edge.Cli;

/// <summary><c>bench</c>: prefill and decode speed, time to first token and peak memory of a model package.</summary>
internal static class BenchCommand
{
    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, WriteIndented = true };

    public static Command Create()
    {
        var model = CliSupport.ModelOption();
        var provider = CliSupport.ExecutionProviderOption();
        var promptTokens = new Option<int>("--prompt-tokens") { Description = "Prompt length.", DefaultValueFactory = _ => 128 };
        var genTokens = new Option<int>("--gen-tokens") { Description = "Tokens to generate (through stop tokens).", DefaultValueFactory = _ => 64 };
        var streams = new Option<int>("--streams") { Description = "Concurrent streams, arriving 25 ms apart.", DefaultValueFactory = _ => 1 };
        var runs = new Option<int>("--runs") { Description = "Measured runs after one warm-up; the median is reported.", DefaultValueFactory = _ => 3 };
        var json = new Option<bool>("--json") { Description = "Print JSON (prefill_tokens_per_s, decode_tokens_per_s, ttft_ms, peak_rss_mb, execution_provider, …)." };
        var command = new Command("bench", "Measure the engine on a model package.") { model, provider, promptTokens, genTokens, streams, runs, json };
        command.SetAction((parse, cancellationToken) => CliSupport.GuardAsync(parse, async () =>
        {
            var output = parse.InvocationConfiguration.Output;
            using var logging = CliSupport.StderrLogging();
            var streamCount = parse.GetValue(streams);
            using var engine = LocalEngine.Load(
                CliSupport.ResolveModel(parse.GetValue(model), parse.InvocationConfiguration.Error),
                new EngineOptions { ExecutionProvider = parse.GetValue(provider)!, MaxBatchSize = Math.Max(4, streamCount), PrefixCache = false }, // it measures prefill: nothing may come from the cache
                logging);
            var p = parse.GetValue(promptTokens);
            var g = parse.GetValue(genTokens);
            await EngineBenchmark.RunAsync(engine, p, g, streamCount, cancellationToken: cancellationToken).ConfigureAwait(false); // warm-up
            var results = new List<BenchmarkResult>();
            for (var i = 0; i < Math.Max(1, parse.GetValue(runs)); i++)
            {
                results.Add(await EngineBenchmark.RunAsync(engine, p, g, streamCount, seed: i, cancellationToken: cancellationToken).ConfigureAwait(false));
            }

            double Median(Func<BenchmarkResult, double> pick)
            {
                var sorted = results.Select(pick).Order().ToArray();
                return sorted[sorted.Length / 2];
            }

            var summary = new
            {
                model = engine.Metadata.DefaultModelId,
                execution_provider = engine.ExecutionProvider,
                prompt_tokens = p,
                gen_tokens = g,
                streams = streamCount,
                runs = results.Count,
                prefill_tokens_per_s = Math.Round(Median(r => r.PrefillTokensPerSecond), 1),
                decode_tokens_per_s = Math.Round(Median(r => r.DecodeTokensPerSecond), 1),
                aggregate_decode_tokens_per_s = Math.Round(Median(r => r.AggregateDecodeTokensPerSecond), 1),
                ttft_ms = Math.Round(Median(r => r.TimeToFirstTokenMs), 1),
                peak_rss_mb = Math.Round(EngineBenchmark.PeakRssMb(), 1),
            };
            if (parse.GetValue(json))
            {
                await output.WriteLineAsync(JsonSerializer.Serialize(summary, Json)).ConfigureAwait(false);
            }
            else
            {
                await output.WriteLineAsync($"{summary.model} on {summary.execution_provider}, prompt {p} tokens, {g} generated, {streamCount} stream(s), median of {results.Count}:").ConfigureAwait(false);
                await output.WriteLineAsync($"  prefill   {summary.prefill_tokens_per_s,8:F1} tokens/s").ConfigureAwait(false);
                await output.WriteLineAsync($"  decode    {summary.decode_tokens_per_s,8:F1} tokens/s (one stream)").ConfigureAwait(false);
                if (streamCount > 1)
                {
                    await output.WriteLineAsync($"  aggregate {summary.aggregate_decode_tokens_per_s,8:F1} tokens/s ({streamCount} streams)").ConfigureAwait(false);
                }

                await output.WriteLineAsync($"  TTFT      {summary.ttft_ms,8:F1} ms").ConfigureAwait(false);
                await output.WriteLineAsync($"  peak RSS  {summary.peak_rss_mb,8:F1} MB").ConfigureAwait(false);
            }

            return 0;
        }));
        return command;
    }
}
