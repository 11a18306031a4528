using System.Diagnostics;
using AutoGlm.Runtime.Generation;
using AutoGlm.Runtime.Onnx;
using AutoGlm.Runtime.Packages;
using Microsoft.Extensions.Logging.Abstractions;

namespace AutoGlm.Bench;

/// <summary>Times the decoder session alone (no sampling, no scheduler): where the time of a token goes.</summary>
internal static class DecodeProfile
{
    public static void Run(string packageDirectory, int promptTokens, int steps, int maxSequenceLength, int batch, string? profilePrefix)
    {
        var package = ModelPackage.Load(packageDirectory);
        using var embedding = new TokenEmbedding(package);
        using var session = new DecoderSession(
            package,
            new EngineOptions { MaxBatchSize = batch, MaxSequenceLength = maxSequenceLength },
            NullLogger.Instance,
            profilePrefix is null ? null : o =>
            {
                o.EnableProfiling = true;
                o.ProfileOutputPathPrefix = profilePrefix;
            });
        var hidden = package.Manifest.Architecture.HiddenSize;
        var lengths = new int[batch];
        for (var s = 0; s < batch; s++)
        {
            for (var t = 0; t < promptTokens; t++)
            {
                embedding.Lookup(t + 100, session.Embeds(promptTokens).Slice(t * hidden, hidden));
            }

            var clock = Stopwatch.StartNew();
            session.Run(s, 1, promptTokens, [0]);
            Console.WriteLine($"prefill slot {s}: {promptTokens / clock.Elapsed.TotalSeconds:F1} tokens/s");
            lengths[s] = promptTokens;
        }

        var times = new List<double>();
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

        times.Sort();
        var median = times[times.Count / 2];
        Console.WriteLine($"decode batch {batch}, cache {session.MaxLength}: median {median:F2} ms/step = {batch * 1000 / median:F1} tokens/s");
        if (profilePrefix is not null)
        {
            Console.WriteLine($"profile: {session.EndProfiling()}");
        }
    }
}
