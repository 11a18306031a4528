using System.Diagnostics;
using System.Globalization;

namespace AutoGlm.Bench;

/// <summary>Command line of the benchmark: <c>--model DIR --requests N --max-tokens N --concurrency 1,4,8</c>.</summary>
internal sealed record BenchSettings(string? ModelPath, int Requests, int MaxTokens, int[] Concurrency)
{
    public static BenchSettings Parse(string[] args)
    {
        var settings = new BenchSettings(null, 20, 64, [1, 4, 8]);
        for (var i = 0; i + 1 < args.Length; i += 2)
        {
            settings = args[i] switch
            {
                "--model" => settings with { ModelPath = args[i + 1] },
                "--requests" => settings with { Requests = Math.Clamp(int.Parse(args[i + 1], CultureInfo.InvariantCulture), 1, 1000) },
                "--max-tokens" => settings with { MaxTokens = Math.Clamp(int.Parse(args[i + 1], CultureInfo.InvariantCulture), 2, 1024) },
                "--concurrency" => settings with { Concurrency = [.. args[i + 1].Split(',').Select(c => Math.Clamp(int.Parse(c, CultureInfo.InvariantCulture), 1, 64))] },
                var other => throw new ArgumentException($"unknown option {other} (--model, --requests, --max-tokens, --concurrency)"),
            };
        }

        return settings;
    }
}

/// <summary>One request's timings: time to first text, decode speed after it, tokens generated.</summary>
internal sealed record Sample(double TtftMs, double DecodeTokensPerSecond, int Tokens)
{
    public static Sample From(long start, long first, long end, int tokens)
    {
        first = first == 0 ? end : first;
        var decodeSeconds = Stopwatch.GetElapsedTime(first, end).TotalSeconds;
        return new Sample(
            Stopwatch.GetElapsedTime(start, first).TotalMilliseconds,
            tokens > 1 && decodeSeconds > 0 ? (tokens - 1) / decodeSeconds : 0,
            tokens);
    }
}
