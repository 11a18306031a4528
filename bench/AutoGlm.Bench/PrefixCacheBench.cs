using System.Globalization;
using AutoGlm.Runtime.Building;
using AutoGlm.Runtime.Generation;
using AutoGlm.Runtime.Packages;
using Microsoft.Extensions.AI;

namespace AutoGlm.Bench;

/// <summary>
/// What prefix KV reuse wins: the time to first token of a request whose ~1,000-token system prompt is already in a
/// slot against the first request with it, and a 10-turn agent loop (each prompt = the previous turns + a short
/// step) with <c>Runtime:PrefixCache</c> on and off. One engine of each kind, used in alternation; medians.
/// </summary>
internal static class PrefixCacheBench
{
    private const int SystemTokens = 1000;
    private const int Turns = 10;

    public static async Task<int> RunAsync(string[] args)
    {
        var preset = Option(args, "--preset") ?? "tiny";
        var rounds = int.Parse(Option(args, "--rounds") ?? "3", CultureInfo.InvariantCulture);
        var spec = SyntheticModelSpec.Preset(preset);
        var directory = Path.Combine(Path.GetTempPath(), "autoglm-bench-prefix", preset);
        if (!ModelPackage.Verify(directory).IsValid)
        {
            SyntheticModelBuilder.Build(spec, directory);
        }

        EngineOptions Options(bool cache) => new() { MaxBatchSize = 2, MaxSequenceLength = 2048, PrefixCache = cache };
        using var on = LocalEngine.Load(directory, Options(cache: true));
        using var off = LocalEngine.Load(directory, Options(cache: false));
        Console.WriteLine($"preset {preset}, {Environment.ProcessorCount} cores, {rounds} alternating rounds, medians");

        List<double> coldOn = [], warmOn = [], coldOff = [], warmOff = [], loopOn = [], loopOff = [], loopTtftOn = [], loopTtftOff = [];
        var cachedSecond = 0L;
        var cachedLoop = 0L;
        for (var round = 0; round < rounds; round++)
        {
            // A new system prompt each round, so the first request with it always starts cold.
            var system = SystemPrompt(on, round);
            foreach (var (engine, cold, warm) in new[] { (on, coldOn, warmOn), (off, coldOff, warmOff) })
            {
                cold.Add((await Ask(engine, [new(ChatRole.System, system), new(ChatRole.User, "What is at the gate?")], 1)).TtftMs);
                var second = await Ask(engine, [new(ChatRole.System, system), new(ChatRole.User, "Is the stove still on?")], 1);
                warm.Add(second.TtftMs);
                cachedSecond = engine == on ? second.Cached : cachedSecond;
            }

            foreach (var (engine, total, ttft) in new[] { (on, loopOn, loopTtftOn), (off, loopOff, loopTtftOff) })
            {
                var messages = new List<ChatMessage> { new(ChatRole.System, system + " (agent " + round + ")") };
                var started = System.Diagnostics.Stopwatch.GetTimestamp();
                var ttfts = 0.0;
                for (var turn = 0; turn < Turns; turn++)
                {
                    messages.Add(new ChatMessage(ChatRole.User, $"Observation {turn}: the screen shows button {turn * 7 % 13} next to field {turn}. Next action?"));
                    var answer = await Ask(engine, messages, 16);
                    ttfts += answer.TtftMs;
                    cachedLoop = engine == on ? answer.Cached : cachedLoop;
                    messages.Add(new ChatMessage(ChatRole.Assistant, answer.Text));
                }

                total.Add(System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                ttft.Add(ttfts);
            }

            // Each round as it ends, so a run cut short still says something.
            Console.WriteLine($"round {round}: TTFT first {coldOn[^1]:F0} / second {warmOn[^1]:F0} ms (cache off {coldOff[^1]:F0} / {warmOff[^1]:F0}); agent loop on {loopOn[^1]:F0} ms, off {loopOff[^1]:F0} ms");
        }

        Console.WriteLine($"TTFT, first request with a {SystemTokens}-token system prompt: {Median(coldOn):F0} ms (cache off: {Median(coldOff):F0} ms)");
        Console.WriteLine($"TTFT, second request with the same system prompt: cache on {Median(warmOn):F0} ms ({Median(warmOn) / Median(coldOn):P1} of the first; {cachedSecond} prompt tokens cached), cache off {Median(warmOff):F0} ms");
        Console.WriteLine($"agent loop, {Turns} turns × 16 tokens: cache on {Median(loopOn):F0} ms (TTFT sum {Median(loopTtftOn):F0} ms; last turn {cachedLoop} tokens cached), cache off {Median(loopOff):F0} ms (TTFT sum {Median(loopTtftOff):F0} ms): {Median(loopOff) / Median(loopOn):F2}× faster");
        return 0;
    }

    /// <summary>A system prompt of about <see cref="SystemTokens"/> tokens, different for each <paramref name="seed"/>.</summary>
    private static string SystemPrompt(LocalEngine engine, int seed)
    {
        var words = new List<string>();
        var rule = 0;
        while (engine.RenderPrompt([new ChatMessage(ChatRole.System, string.Join(' ', words))]).Count < SystemTokens)
        {
            words.Add($"Rule {seed}.{rule++}: keep the door closed unless a known face is at it.");
        }

        return string.Join(' ', words);
    }

    private static async Task<(double TtftMs, long Cached, string Text)> Ask(LocalEngine engine, IEnumerable<ChatMessage> messages, int maxTokens)
    {
        var text = new System.Text.StringBuilder();
        GenerationTimings? timings = null;
        long cached = 0;
        await foreach (var update in engine.GetStreamingResponseAsync([.. messages], new ChatOptions { Temperature = 0, MaxOutputTokens = maxTokens }))
        {
            text.Append(update.Text);
            timings = update.AdditionalProperties?["timings"] as GenerationTimings ?? timings;
            cached = update.Contents.OfType<UsageContent>().FirstOrDefault()?.Details.CachedInputTokenCount ?? cached;
        }

        return (timings?.TimeToFirstTokenMs ?? throw new InvalidOperationException("the engine reported no timings"), cached, text.ToString());
    }

    private static string? Option(string[] args, string name)
    {
        var at = Array.IndexOf(args, name);
        return at >= 0 && at + 1 < args.Length ? args[at + 1] : null;
    }

    private static double Median(List<double> samples)
    {
        var sorted = samples.Order().ToList();
        return sorted[sorted.Count / 2];
    }
}
