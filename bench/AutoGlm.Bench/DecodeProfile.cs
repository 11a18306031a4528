using System.Diagnostics;
using AutoGlm.Runtime.Generation;
using AutoGlm.Runtime.Onnx;
using AutoGlm.Runtime.Packages;
using Microsoft.Extensions.Logging.Abstractions;

namespace AutoGlm.Bench;

/// <summary>Times the decoder session alone (no sampling, no scheduler): where the time of a token goes.</summary>
internal static class DecodeProfile
{
    /// <param name="packageDirectory">The package.</param>
    /// <param name="promptTokens">Prompt rows prefilled per slot before decoding.</param>
    /// <param name="steps">Decode steps timed.</param>
    /// <param name="maxSequenceLength">KV positions per slot.</param>
    /// <param name="batch">Sequences decoded together.</param>
    /// <param name="extra">
    /// A profile prefix (turns ONNX Runtime profiling on), <c>--no-arena</c> (no CPU memory arena), <c>--huge-pages</c> (<c>Runtime:HugePages=true</c>), <c>--kv16</c> (<c>Runtime:KvCacheType=float16</c>), <c>--threads=N</c>
    /// (intra-op threads; 1 makes the CPU time per step a measure of work that other load on the machine hardly moves), or
    /// <c>key=value</c> session configuration entries (<c>session.disable_prepacking=1</c>): each variant's speed and
    /// memory can be measured alone.
    /// </param>
    public static void Run(string packageDirectory, int promptTokens, int steps, int maxSequenceLength, int batch, string[] extra)
    {
        var package = ModelPackage.Load(packageDirectory);
        using var embedding = new TokenEmbedding(package);
        var profilePrefix = extra.FirstOrDefault(e => !e.Contains('=', StringComparison.Ordinal) && !e.StartsWith("--", StringComparison.Ordinal));
        var threads = extra.FirstOrDefault(e => e.StartsWith("--threads=", StringComparison.Ordinal)) is { } th ? int.Parse(th["--threads=".Length..], System.Globalization.CultureInfo.InvariantCulture) : 0;
        var loadClock = Stopwatch.StartNew();
        using var session = new DecoderSession(
            package,
            new EngineOptions { MaxBatchSize = batch, MaxSequenceLength = maxSequenceLength, IntraOpThreads = threads, HugePages = extra.Contains("--huge-pages"), KvCacheType = extra.Contains("--kv16") ? "float16" : "float32" },
            NullLogger.Instance,
            o =>
            {
                if (profilePrefix is not null)
                {
                    o.EnableProfiling = true;
                    o.ProfileOutputPathPrefix = profilePrefix;
                }

                if (extra.Contains("--no-arena"))
                {
                    o.EnableCpuMemArena = false;
                }

                foreach (var entry in extra.Where(e => e.Contains('=', StringComparison.Ordinal) && !e.StartsWith("--", StringComparison.Ordinal)))
                {
                    var (key, value) = (entry[..entry.IndexOf('=', StringComparison.Ordinal)], entry[(entry.IndexOf('=', StringComparison.Ordinal) + 1)..]);
                    o.AddSessionConfigEntry(key, value);
                }
            });
        Console.WriteLine($"session loaded in {loadClock.Elapsed.TotalSeconds:F1} s; {Memory()}");
        var hidden = package.Manifest.Architecture.HiddenSize;
        var lengths = new int[batch];
        for (var s = 0; s < batch; s++)
        {
            var clock = Stopwatch.StartNew();
            for (var done = 0; done < promptTokens;)
            {
                var count = Math.Min(session.PrefillChunk, promptTokens - done);
                for (var t = 0; t < count; t++)
                {
                    embedding.Lookup(done + t + 100, session.Embeds(count).Slice(t * hidden, hidden));
                }

                session.Run(s, 1, count, [done]);
                done += count;
            }

            Console.WriteLine($"prefill slot {s}: {promptTokens / clock.Elapsed.TotalSeconds:F1} tokens/s");
            lengths[s] = promptTokens;
        }

        var times = new List<double>();
        var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        for (var step = 0; step < steps; step++)
        {
            for (var s = 0; s < batch; s++)
            {
                embedding.Lookup(200 + step, session.Embeds(batch).Slice(s * hidden, hidden));
            }

            var clock = Stopwatch.StartNew();
            session.Run(0, batch, 1, lengths);
            times.Add(clock.Elapsed.TotalMilliseconds);
            for (var s = 0; s < batch; s++)
            {
                lengths[s]++;
            }
        }

        var cpuPerStep = (Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalMilliseconds / steps;
        times.Sort();
        var median = times[times.Count / 2];
        Console.WriteLine($"decode batch {batch}, cache {session.MaxLength}: median {median:F2} ms/step = {batch * 1000 / median:F1} tokens/s, {cpuPerStep:F2} CPU ms/step; {Memory()}");
        if (profilePrefix is not null)
        {
            Console.WriteLine($"profile: {session.EndProfiling()}");
        }
    }

    /// <summary>Peak and current resident set, split into anonymous and file-backed pages (Linux), in MB.</summary>
    public static string Memory()
    {
        const string status = "/proc/self/status";
        if (!File.Exists(status))
        {
            return "memory: n/a";
        }

        var fields = File.ReadLines(status)
            .Select(l => l.Split(':', 2))
            .Where(p => p.Length == 2 && p[0] is "VmHWM" or "VmRSS" or "RssAnon" or "RssFile")
            .Select(p => $"{p[0]} {long.Parse(p[1].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture) / 1024} MB");
        var huge = File.ReadLines("/proc/self/smaps_rollup").FirstOrDefault(l => l.StartsWith("AnonHugePages:", StringComparison.Ordinal))?.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1];
        return string.Join(", ", fields) + $", huge pages {long.Parse(huge ?? "0", System.Globalization.CultureInfo.InvariantCulture) / 1024} MB, managed heap {GC.GetTotalMemory(false) / (1 << 20)} MB";
    }
}
