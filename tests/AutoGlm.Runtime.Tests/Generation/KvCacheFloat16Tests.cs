using AutoGlm.Runtime.Building;
using AutoGlm.Runtime.Generation;
using AutoGlm.Runtime.Onnx;
using AutoGlm.Runtime.Packages;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging.Abstractions;

namespace AutoGlm.Runtime.Tests.Generation;

/// <summary><c>Runtime:KvCacheType=float16</c>: the package's float16-KV graph, run on the CPU, against the float32 one.</summary>
[Collection(TinyModelCollection.Name)]
public sealed class KvCacheFloat16Tests(TinyModelFixture model)
{
    private static readonly ChatOptions Greedy = new() { Temperature = 0, MaxOutputTokens = 24 };

    [Fact]
    public void Run_Float16Cache_LogitsCloseToFloat32ThroughPrefillAndDecode()
    {
        var package = ModelPackage.Load(model.Directory);
        using var embedding = new TokenEmbedding(package);
        using var full = new DecoderSession(package, new EngineOptions { MaxBatchSize = 2, MaxSequenceLength = 256 }, NullLogger.Instance);
        using var half = new DecoderSession(package, new EngineOptions { MaxBatchSize = 2, MaxSequenceLength = 256, KvCacheType = "float16" }, NullLogger.Instance);
        var hidden = embedding.HiddenSize;
        var prompt = Enumerable.Range(0, 40).Select(i => (i * 7919) % 100000).ToArray();
        var worst = 1.0;
        var agreed = 0;
        foreach (var session in new[] { full, half })
        {
            for (var t = 0; t < prompt.Length; t++)
            {
                embedding.Lookup(prompt[t], session.Embeds(prompt.Length).Slice(t * hidden, hidden));
            }

            session.Run(1, 1, prompt.Length, [0]);
        }

        var token = 0;
        for (var step = 0; step < 16; step++)
        {
            var (a, b) = (full.Logits(0).ToArray(), half.Logits(0).ToArray());
            worst = Math.Min(worst, Cosine(a, b));
            token = ArgMax(a);
            agreed += token == ArgMax(b) ? 1 : 0;
            foreach (var session in new[] { full, half })
            {
                embedding.Lookup(token, session.Embeds(1));
                session.Run(1, 1, 1, [prompt.Length + step]);
            }
        }

        Assert.Equal("float16", half.KvCacheType);
        Assert.True(worst > 0.999, $"logits cosine between the float16 and float32 caches fell to {worst}");
        Assert.True(agreed >= 14, $"greedy choices agreed at {agreed} of 16 steps");
    }

    [Fact]
    public async Task GetResponseAsync_Float16Cache_SameGreedyTextAsFloat32()
    {
        using var half = LocalEngine.Load(model.Directory, new EngineOptions { MaxBatchSize = 2, PrefillChunkSize = 64, KvCacheType = "float16" });
        var same = 0;
        string[] prompts = ["Describe the shelf.", "What time is it?", "Count to five."];
        foreach (var prompt in prompts)
        {
            var expected = await model.Engine.GetResponseAsync([new ChatMessage(ChatRole.User, prompt)], Greedy);
            var actual = await half.GetResponseAsync([new ChatMessage(ChatRole.User, prompt)], Greedy);
            Assert.Equal(expected.Usage?.OutputTokenCount, actual.Usage?.OutputTokenCount);
            same += expected.Text == actual.Text ? 1 : 0;
        }

        // Rounding keys and values to float16 may flip a near tie of the random model's flat logits; most answers match.
        Assert.True(same >= 2, $"{same} of {prompts.Length} greedy answers were the same with a float16 cache");
    }

    [Fact]
    public void KvCacheBytes_Float16_HalfOfFloat32()
    {
        var options = new EngineOptions { MaxBatchSize = 3, MaxSequenceLength = 512, KvCacheType = "float16" };
        using var engine = LocalEngine.Load(model.Directory, options);
        var a = model.Manifest.Architecture;

        Assert.Equal("float16", engine.KvCacheType);
        Assert.Equal(3L * 512 * a.Layers * 2 * a.NumKvHeads * a.HeadSize * 2, engine.KvCacheBytes);
        Assert.Equal(engine.KvCacheBytes, options.KvCacheBytes(a));
        Assert.Equal(options.KvCacheBytes(a) * 2, (options with { KvCacheType = "float32" }).KvCacheBytes(a));
    }

    [Fact]
    public void Load_Float16CacheOnPackageWithoutItsGraph_ModelUnavailableNamingTheKey()
    {
        var root = Path.Combine(Path.GetTempPath(), "autoglm-tests", "nokv16-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            var manifest = SyntheticModelBuilder.Build(SyntheticModelSpec.Tiny, root);
            var older = manifest with
            {
                Decoder = manifest.Decoder with { KvFloat16Model = null },
                Files = [.. manifest.Files.Where(f => f.Path != SyntheticModelBuilder.KvFloat16DecoderFileName)],
            };
            File.Delete(Path.Combine(root, SyntheticModelBuilder.KvFloat16DecoderFileName));
            File.WriteAllBytes(Path.Combine(root, ModelPackage.ManifestFileName), System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(older, ModelManifest.JsonOptions));

            var error = Assert.Throws<RuntimeException>(() => LocalEngine.Load(root, new EngineOptions { KvCacheType = "float16" }));

            Assert.Equal(RuntimeErrorCode.ModelUnavailable, error.Code);
            Assert.Contains("Runtime:KvCacheType", error.Message);
            Assert.Contains("float16-KV decoder graph", error.Message);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    private static int ArgMax(float[] values) => Array.IndexOf(values, values.Max());

    private static double Cosine(float[] a, float[] b)
    {
        double dot = 0, na = 0, nb = 0;
        for (var i = 0; i < a.Length; i++)
        {
            dot += (double)a[i] * b[i];
            na += (double)a[i] * a[i];
            nb += (double)b[i] * b[i];
        }

        return dot / Math.Sqrt(na * nb);
    }
}
