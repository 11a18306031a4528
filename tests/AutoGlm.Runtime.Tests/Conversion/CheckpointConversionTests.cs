using AutoGlm.Runtime.Building;
using System.Text.Json;
using System.Text.Json.Nodes;
using AutoGlm.Runtime.Conversion;
using AutoGlm.Runtime.Generation;
using AutoGlm.Runtime.Onnx;
using AutoGlm.Runtime.Packages;
using AutoGlm.Runtime.Text;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging.Abstractions;

namespace AutoGlm.Runtime.Tests.Conversion;

/// <summary>
/// Tiny random checkpoints in the exact Hugging Face layout (bf16 safetensors in two shards with an index, config.json,
/// tokenizer.json, tokenizer_config.json, generation_config.json), converted and run by the engine's decoder, against
/// an independent PyTorch forward pass written from the transformers modeling code (<c>glm_reference.py</c>).
/// </summary>
public sealed class CheckpointConversionTests : IDisposable
{
    private const int DecodeSteps = 8;
    private static readonly int[] Prompt = [302, 304, 307, 10, 104, 101, 108, 108, 111, 32, 119, 111, 114, 108, 100, 308];
    private readonly string _root = Path.Combine(Path.GetTempPath(), "autoglm-tests", "convert-" + Guid.NewGuid().ToString("N")[..8]);

    public void Dispose()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    /// <summary>
    /// fp32 weights, accuracy level 0: the engine computes in float32 what the reference computes in float64 from the
    /// same bf16 weights, so logits (spread about 3) agree to 1e-3 absolute and a cosine of 0.99999; fp16 holds every
    /// bf16 weight of these magnitudes exactly, so it is held to the same bound. INT4 (level 0)
    /// is held to the same bound against a reference whose weights are rounded by the documented INT4 rule, and to
    /// 4 absolute / cosine 0.85 against the unrounded one (measured: 3.0 and 0.90 at worst over the 9 rows): that looser bound is what 4 bits cost on these random
    /// uniform weights (about 8% relative RMS error per matrix, compounded over 3 layers, the embedding and the head).
    /// </summary>
    [Theory]
    [InlineData("Glm4ForCausalLM", "fp32", 32, 0, 1e-3, 0.99999)]
    [InlineData("Glm4vForConditionalGeneration", "fp32", 32, 0, 1e-3, 0.99999)]
    [InlineData("GlmForCausalLM", "fp32", 32, 0, 1e-3, 0.99999)]
    [InlineData("ChatGLMModel", "fp32", 32, 0, 1e-3, 0.99999)]
    [InlineData("Glm4ForCausalLM", "fp16", 32, 0, 1e-3, 0.99999)]
    [InlineData("Glm4ForCausalLM", "int4", 32, 32, 2e-3, 0.99999)]
    [InlineData("GlmForCausalLM", "int4", 32, 32, 2e-3, 0.99999)]
    [InlineData("ChatGLMModel", "int4", 32, 32, 2e-3, 0.99999)]
    [InlineData("Glm4ForCausalLM", "int4", 32, 0, 4.0, 0.85)]
    [InlineData("Glm4ForCausalLM", "int4", 32, 32, 2e-3, 0.99999, true)]
    [InlineData("ChatGLMModel", "int4", 32, 32, 2e-3, 0.99999, true)]
    public void Convert_PromptThenEightDecodeSteps_LogitsMatchPyTorch(string architecture, string weights, int blockSize, int referenceInt4Block, double maxAbsError, double minCosine, bool zeroPoints = false)
    {
        var checkpoint = Path.Combine(_root, "checkpoint");
        PyTorchReference.MakeCheckpoint(checkpoint, architecture);
        var packageDir = Path.Combine(_root, "package");
        CheckpointConverter.Convert(checkpoint, packageDir, new ConversionOptions { Weights = weights, BlockSize = blockSize, AccuracyLevel = 0, ZeroPoints = zeroPoints });

        var package = ModelPackage.Load(packageDir);
        var hidden = package.Manifest.Architecture.HiddenSize;
        using var embedding = new TokenEmbedding(package);
        using var session = new DecoderSession(package, new EngineOptions { MaxBatchSize = 1, PrefillChunkSize = 64 }, NullLogger.Instance);
        for (var t = 0; t < Prompt.Length; t++)
        {
            embedding.Lookup(Prompt[t], session.Embeds(Prompt.Length).Slice(t * hidden, hidden));
        }

        session.Run(0, 1, Prompt.Length, [0]);
        var tokens = Prompt.ToList();
        var actual = new List<float[]> { session.Logits(0).ToArray() };
        for (var step = 0; step < DecodeSteps; step++)
        {
            var next = ArgMax(actual[^1]);
            tokens.Add(next);
            embedding.Lookup(next, session.Embeds(1));
            session.Run(0, 1, 1, [tokens.Count - 1]);
            actual.Add(session.Logits(0).ToArray());
        }

        var expected = PyTorchReference.Logits(checkpoint, tokens, Prompt.Length - 1, referenceInt4Block, zeroPoints ? "asym" : "full");
        Assert.Equal(actual.Count, expected.Length);
        for (var i = 0; i < actual.Count; i++)
        {
            AssertClose(expected[i], actual[i], maxAbsError, minCosine, i == 0 ? "after the prompt" : $"at decode step {i}");
        }
    }

    [Fact]
    public void Convert_ShardedCheckpoint_WritesVerifiedPackageWithCheckpointTokensAndProvenance()
    {
        var checkpoint = Path.Combine(_root, "checkpoint");
        PyTorchReference.MakeCheckpoint(checkpoint, "Glm4ForCausalLM");
        var packageDir = Path.Combine(_root, "package");
        var result = CheckpointConverter.Convert(checkpoint, packageDir, new ConversionOptions { Name = "tiny-glm4" });

        var report = ModelPackage.Verify(packageDir);
        Assert.True(report.IsValid, string.Join("; ", report.Problems));
        var manifest = report.Manifest!;
        Assert.Equal(ModelManifest.CurrentFormatVersion, manifest.FormatVersion);
        Assert.Equal("tiny-glm4", manifest.Name);
        var a = manifest.Architecture;
        Assert.Equal((3, 96, 4, 2, 32, 160, 320, 256, 16), (a.Layers, a.HiddenSize, a.NumHeads, a.NumKvHeads, a.HeadSize, a.FfnSize, a.VocabSize, a.ContextLength, a.RotaryDim));
        Assert.True(a.SandwichNorms);
        Assert.False(a.TiedEmbeddings);
        Assert.Equal(GlmChatTemplate.Glm4_0414, manifest.ChatTemplate);
        Assert.Equal(TokenizerInfo.HuggingFaceType, manifest.Tokenizer.Type);
        Assert.Equal(302, manifest.Tokenizer.SpecialTokens["[gMASK]"]);
        Assert.Equal(308, manifest.Tokenizer.SpecialTokens["<|assistant|>"]);
        Assert.Equal(["<|endoftext|>", "<|user|>", "<|observation|>"], manifest.Tokenizer.StopTokens);
        Assert.Contains(manifest.Files, f => f.Path == "tokenizer.json");

        var source = manifest.Source!;
        Assert.Equal("Glm4ForCausalLM", source.Architecture);
        Assert.Equal("int4", source.Options["weights"]);
        foreach (var name in new[] { "config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "model.safetensors.index.json", "tokenizer.json", "generation_config.json" })
        {
            var file = Assert.Single(source.Files, f => f.Path == name);
            Assert.Equal(ModelPackage.Sha256Of(Path.Combine(checkpoint, name)), file.Sha256);
        }

        foreach (var kind in new[] { "qkv", "o_proj", "gate_up", "down", "embed_tokens", "lm_head" })
        {
            Assert.InRange(result.RelativeRmsError[kind], 0.01, 0.2);
        }

        Assert.Empty(Directory.GetDirectories(_root, ".package.converting-*"));
    }

    [Fact]
    public async Task LocalEngine_ConvertedPackage_RendersCheckpointTemplateAndAnswers()
    {
        var checkpoint = Path.Combine(_root, "checkpoint");
        PyTorchReference.MakeCheckpoint(checkpoint, "Glm4ForCausalLM");
        var packageDir = Path.Combine(_root, "package");
        CheckpointConverter.Convert(checkpoint, packageDir, new ConversionOptions());
        var vocab = JsonNode.Parse(File.ReadAllText(Path.Combine(checkpoint, "tokenizer.json")))!["model"]!["vocab"]!.AsObject();
        int Id(string token) => vocab[token]!.GetValue<int>();

        using var engine = LocalEngine.Load(packageDir, new EngineOptions { MaxBatchSize = 1 });
        var prompt = engine.RenderPrompt([new ChatMessage(ChatRole.User, "hello world <|assistant|>")]);

        // [gMASK]<sop><|user|> "\n" "hello" "Ġworld" " <|assistant|>" spelled as text, then <|assistant|> "\n".
        int[] head = [302, 304, 307, Id("Ċ"), Id("hello"), Id("\u0120world")];
        Assert.Equal(head, prompt.Take(head.Length));
        Assert.Equal([308, Id("Ċ")], prompt.TakeLast(2));
        Assert.Single(prompt, id => id == 308); // user text never forges a role marker
        Assert.Equal([308], engine.Tokenizer.EncodeWithSpecialTokens("<|assistant|>"));

        var response = await engine.GetResponseAsync([new ChatMessage(ChatRole.User, "hello")], new ChatOptions { MaxOutputTokens = 4, Temperature = 0 });
        Assert.NotNull(response.FinishReason);
        Assert.True(response.Usage?.OutputTokenCount > 0, "the converted model generated nothing");
    }

    [Fact]
    public void GlmTokenizer_CheckpointTokenizerJson_EncodesByMergesAndDecodesBytesBack()
    {
        var checkpoint = Path.Combine(_root, "checkpoint");
        PyTorchReference.MakeCheckpoint(checkpoint, "GlmForCausalLM");
        var vocab = JsonNode.Parse(File.ReadAllText(Path.Combine(checkpoint, "tokenizer.json")))!["model"]!["vocab"]!.AsObject();
        var info = CheckpointTokenizer.Read(checkpoint, CheckpointConfig.Read(checkpoint)).Info;
        var tokenizer = new GlmTokenizer(info, 320, checkpoint);

        var ids = new List<int>();
        tokenizer.EncodeText("hello world the", ids);
        // "Ġthe" is in the vocabulary, but merge priority decides: "h e" (rank 0) is applied before "Ġt h" can be,
        // so " the" ends as "Ġt" + "he", as the Hugging Face BPE does.
        int Id(string token) => vocab[token]!.GetValue<int>();
        Assert.Equal([Id("hello"), Id("\u0120world"), Id("\u0120t"), Id("he")], ids);

        foreach (var text in new[] { "你好，世界", "emoji 🙂 ok", "  two\n\nlines\t tab", "x = f(1, 2) // code" })
        {
            var encoded = new List<int>();
            tokenizer.EncodeText(text, encoded);
            var stream = tokenizer.CreateStreamDecoder();
            var decoded = string.Concat(encoded.Select(stream.Push)) + stream.Flush();
            Assert.Equal(text, decoded);
            Assert.Equal(text, tokenizer.Decode(encoded));
        }

        var forged = new List<int>();
        tokenizer.EncodeText("<|user|>", forged);
        Assert.DoesNotContain(307, forged);
        Assert.Equal([300, 307, 309], tokenizer.StopTokenIds);
    }

    [Fact]
    public async Task Convert_ChatGlmWithTiktokenRankFile_CarriesItAndEncodesByRank()
    {
        var checkpoint = Path.Combine(_root, "glm-4-9b-chat-tiny");
        PyTorchReference.MakeCheckpoint(checkpoint, "ChatGLMModel", tokenizer: "tiktoken");
        Assert.False(File.Exists(Path.Combine(checkpoint, "tokenizer.json")));
        var packageDir = Path.Combine(_root, "package");
        CheckpointConverter.Convert(checkpoint, packageDir, new ConversionOptions());

        var manifest = ModelPackage.Load(packageDir).Manifest;
        Assert.Equal((TokenizerInfo.TiktokenType, "tokenizer.model"), (manifest.Tokenizer.Type, manifest.Tokenizer.File));
        Assert.Equal(302, manifest.Tokenizer.SpecialTokens["[gMASK]"]);
        Assert.Contains(manifest.Files, f => f.Path == "tokenizer.model");

        using var engine = LocalEngine.Load(packageDir, new EngineOptions { MaxBatchSize = 1 });
        var ranks = File.ReadLines(Path.Combine(checkpoint, "tokenizer.model"))
            .Select(l => l.Split(' '))
            .ToDictionary(p => p[0], p => int.Parse(p[1], System.Globalization.CultureInfo.InvariantCulture));
        int Rank(string token) => ranks[Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(token))];
        var ids = new List<int>();
        engine.Tokenizer.EncodeText("hello world the", ids);

        // tiktoken merges by rank, so " the" (a rank of its own) is one token here, where tokenizer.json's merge list splits it.
        Assert.Equal([Rank("hello"), Rank(" world"), Rank(" the")], ids);
        var mixed = new List<int>();
        engine.Tokenizer.EncodeText("你好 🙂 <|user|>", mixed);
        var stream = engine.Tokenizer.CreateStreamDecoder();
        Assert.Equal("你好 🙂 <|user|>", string.Concat(mixed.Select(stream.Push)) + stream.Flush());
        Assert.DoesNotContain(307, mixed);
        Assert.Equal([302, 304, 307], engine.RenderPrompt([new ChatMessage(ChatRole.User, "hi")]).Take(3));
        var response = await engine.GetResponseAsync([new ChatMessage(ChatRole.User, "hello")], new ChatOptions { MaxOutputTokens = 3, Temperature = 0 });
        Assert.True(response.Usage?.OutputTokenCount > 0, "the converted model generated nothing");
    }

    /// <summary>
    /// The converter's INT4 rules against the synthetic builder's max|w|/7 on the same checkpoint, per kind, from the
    /// converter's own report: symmetric over the full range (scale m/−8) and --zero-points (min/max over 15 steps)
    /// both round with a finer step than m/7, so both must lose less.
    /// </summary>
    [Fact]
    public void Convert_FullRangeAndZeroPointRules_LoseLessThanMaxOver7()
    {
        var checkpoint = Path.Combine(_root, "checkpoint");
        PyTorchReference.MakeCheckpoint(checkpoint, "Glm4ForCausalLM");
        var full = CheckpointConverter.Convert(checkpoint, Path.Combine(_root, "full"), new ConversionOptions()).RelativeRmsError;
        var asym = CheckpointConverter.Convert(checkpoint, Path.Combine(_root, "asym"), new ConversionOptions { ZeroPoints = true }).RelativeRmsError;
        Assert.Equal("true", ModelPackage.Load(Path.Combine(_root, "asym")).Manifest.Source!.Options["zero_points"]);

        var config = CheckpointConfig.Read(checkpoint);
        var a = config.Architecture;
        var baseline = new Dictionary<string, (double E, double W)>(StringComparer.Ordinal);
        using (var tensors = new SafetensorsCheckpoint(checkpoint))
        {
            var weights = new CheckpointGlmWeights(tensors, config);
            void Add(string kind, float[] w, int rows, int cols)
            {
                var m = Int4Quantizer.Quantize(w, rows, cols, 32, Int4Rule.MaxOver7);
                var (e, s) = Int4Quantizer.ErrorSquares(w, m, rows, cols, 32);
                baseline[kind] = baseline.TryGetValue(kind, out var sum) ? (sum.E + e, sum.W + s) : (e, s);
            }

            Add("embed_tokens", weights.Embedding(), a.VocabSize, a.HiddenSize);
            Add("lm_head", weights.LmHead()!, a.VocabSize, a.HiddenSize);
            for (var layer = 0; layer < a.Layers; layer++)
            {
                var l = weights.Layer(layer);
                Add("qkv", l.QkvWeight, (a.NumHeads + 2 * a.NumKvHeads) * a.HeadSize, a.HiddenSize);
                Add("o_proj", l.OutputWeight, a.HiddenSize, a.NumHeads * a.HeadSize);
                Add("gate_up", l.GateUpWeight, 2 * a.FfnSize, a.HiddenSize);
                Add("down", l.DownWeight, a.HiddenSize, a.FfnSize);
            }
        }

        var report = string.Join("; ", baseline.Keys.Order(StringComparer.Ordinal).Select(k => $"{k}: max/7 {Math.Sqrt(baseline[k].E / baseline[k].W):P2}, full {full[k]:P2}, zero points {asym[k]:P2}"));
        foreach (var (kind, (e, w)) in baseline)
        {
            var maxOver7 = Math.Sqrt(e / w);
            Assert.True(full[kind] < maxOver7, $"{kind}: full-range error {full[kind]:P2} is not below max/7's {maxOver7:P2} ({report})");
            Assert.True(asym[kind] < maxOver7, $"{kind}: zero-point error {asym[kind]:P2} is not below max/7's {maxOver7:P2} ({report})");
        }

        Console.WriteLine(report);
    }

    [Fact]
    public void Convert_ZeroPointsWithFloatWeights_RefusesNamingOption()
    {
        var checkpoint = Path.Combine(_root, "checkpoint");
        PyTorchReference.MakeCheckpoint(checkpoint, "Glm4ForCausalLM");
        var error = Assert.Throws<RuntimeException>(() => CheckpointConverter.Convert(checkpoint, Path.Combine(_root, "package"), new ConversionOptions { Weights = "fp16", ZeroPoints = true }));
        Assert.Contains("--zero-points applies to --weights int4 only (got --weights fp16)", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Convert_UnknownArchitecture_RefusesNamingIt()
    {
        var checkpoint = MakeAndEdit(config => config["architectures"] = new JsonArray("LlamaForCausalLM"));
        AssertRefused(checkpoint, "'LlamaForCausalLM' is not supported");
    }

    [Fact]
    public void Convert_MissingShard_RefusesNamingIt()
    {
        var checkpoint = MakeAndEdit(_ => { });
        File.Delete(Path.Combine(checkpoint, "model-00002-of-00002.safetensors"));
        AssertRefused(checkpoint, "shard 'model-00002-of-00002.safetensors' named by model.safetensors.index.json is missing");
    }

    [Fact]
    public void Convert_TensorOfWrongShape_RefusesNamingTensor()
    {
        // config.json says 192 where the tensors hold 160: the first MLP tensor read is the one that disagrees.
        var checkpoint = MakeAndEdit(config => config["intermediate_size"] = 192);
        AssertRefused(checkpoint, "checkpoint tensor 'model.layers.0.mlp.gate_up_proj.weight' has shape [320, 96]; config.json implies [384, 96]");
    }

    [Fact]
    public void Convert_ConfigKeyMissing_RefusesNamingKey()
    {
        var checkpoint = MakeAndEdit(config => config.Remove("rms_norm_eps"));
        AssertRefused(checkpoint, "config.json has no 'rms_norm_eps'");
        var vision = Path.Combine(_root, "vision");
        PyTorchReference.MakeCheckpoint(vision, "Glm4vForConditionalGeneration");
        Edit(vision, config => config["text_config"]!.AsObject().Remove("num_key_value_heads"));
        AssertRefused(vision, "config.json has no 'text_config.num_key_value_heads'", "vision-package");
    }

    [Fact]
    public void Load_FormatVersions_ReadsOneAndTwoRefusesNewer()
    {
        var checkpoint = Path.Combine(_root, "checkpoint");
        PyTorchReference.MakeCheckpoint(checkpoint, "Glm4ForCausalLM", shards: 1);
        var packageDir = Path.Combine(_root, "package");
        CheckpointConverter.Convert(checkpoint, packageDir, new ConversionOptions { Weights = "fp32" });
        Assert.Equal(2, ModelPackage.Load(packageDir).Manifest.FormatVersion);

        var synthetic = Path.Combine(_root, "synthetic");
        AutoGlm.Runtime.Building.SyntheticModelBuilder.Build(AutoGlm.Runtime.Building.SyntheticModelSpec.Tiny with { Adapters = null }, synthetic);
        var manifestPath = Path.Combine(synthetic, ModelPackage.ManifestFileName);
        var manifest = JsonNode.Parse(File.ReadAllText(manifestPath))!;
        manifest["format_version"] = 1;
        File.WriteAllText(manifestPath, manifest.ToJsonString());
        Assert.Equal(1, ModelPackage.Load(synthetic).Manifest.FormatVersion);

        manifest["format_version"] = 3;
        File.WriteAllText(manifestPath, manifest.ToJsonString());
        var error = Assert.Throws<RuntimeException>(() => ModelPackage.Load(synthetic));
        Assert.Contains("format_version 3", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Convert_DetailProgress_ReportsEachStepWithBytesReadGrowingToTheCheckpointsTensorBytes()
    {
        var checkpoint = Path.Combine(_root, "checkpoint");
        PyTorchReference.MakeCheckpoint(checkpoint, "Glm4ForCausalLM");
        var steps = new List<ConversionProgress>();
        CheckpointConverter.Convert(checkpoint, Path.Combine(_root, "package"), new ConversionOptions(), detail: new Collect(steps.Add));

        Assert.Equal(["embedding", "lm_head", "layer 1/3", "layer 2/3", "layer 3/3"], steps.Select(s => s.Step));
        long tensorBytes;
        using (var tensors = new SafetensorsCheckpoint(checkpoint))
        {
            tensorBytes = tensors.TensorNames.Sum(n => tensors.Describe(n).End - tensors.Describe(n).Begin);
        }

        Assert.All(steps, s => Assert.Equal(tensorBytes, s.TotalBytes));
        Assert.Equal(0, steps[0].BytesRead);
        for (var i = 1; i < steps.Count; i++)
        {
            Assert.True(steps[i].BytesRead > steps[i - 1].BytesRead, $"step {steps[i].Step} read no bytes since {steps[i - 1].Step}");
        }
    }

    [Fact]
    public void Convert_Cancelled_LeavesNothingBehind()
    {
        var checkpoint = Path.Combine(_root, "checkpoint");
        PyTorchReference.MakeCheckpoint(checkpoint, "Glm4ForCausalLM");
        var packageDir = Path.Combine(_root, "package");
        using var cancel = new CancellationTokenSource();
        var progress = new Steps(step =>
        {
            if (step.StartsWith("layer 2/", StringComparison.Ordinal))
            {
                cancel.Cancel();
            }
        });

        Assert.ThrowsAny<OperationCanceledException>(() => CheckpointConverter.Convert(checkpoint, packageDir, new ConversionOptions(), progress, cancel.Token));

        Assert.False(Directory.Exists(packageDir));
        Assert.Empty(Directory.GetDirectories(_root, ".package.converting-*"));
    }

    [Fact]
    public void EnsurePackage_UnchangedCheckpoint_ConvertsOnceThenReuses()
    {
        var checkpoint = Path.Combine(_root, "glm4-tiny");
        PyTorchReference.MakeCheckpoint(checkpoint, "Glm4ForCausalLM");
        var models = Path.Combine(_root, "models");
        Directory.CreateDirectory(models);
        Assert.True(CheckpointImport.IsCheckpoint(checkpoint));
        var reports = new List<string>();

        var first = CheckpointImport.EnsurePackage(checkpoint, models, report: reports.Add);
        var converted = reports.Count;
        var second = CheckpointImport.EnsurePackage(checkpoint, models, report: reports.Add);

        Assert.True(converted > 0);
        Assert.Equal(first, second);
        Assert.Equal(converted, reports.Count); // the second call converted nothing
        Assert.False(CheckpointImport.IsCheckpoint(first));
        Assert.Equal("glm4-tiny", ModelPackage.Load(first).Manifest.Name);

        File.SetLastWriteTimeUtc(Path.Combine(checkpoint, "model-00001-of-00002.safetensors"), DateTime.UtcNow.AddMinutes(1));
        var third = CheckpointImport.EnsurePackage(checkpoint, models, report: reports.Add);

        Assert.NotEqual(first, third);
        Assert.True(reports.Count > converted);
        Assert.False(Directory.Exists(first), "the import of the old checkpoint was kept");
        Assert.True(ModelPackage.Verify(third).IsValid);
    }

    private sealed class Steps(Action<string> report) : IProgress<string>
    {
        public void Report(string value) => report(value);
    }

    private string MakeAndEdit(Action<JsonObject> edit)
    {
        var checkpoint = Path.Combine(_root, "checkpoint");
        PyTorchReference.MakeCheckpoint(checkpoint, "Glm4ForCausalLM");
        Edit(checkpoint, edit);
        return checkpoint;
    }

    private sealed class Collect(Action<ConversionProgress> add) : IProgress<ConversionProgress>
    {
        public void Report(ConversionProgress value) => add(value);
    }

    private static void Edit(string checkpoint, Action<JsonObject> edit)
    {
        var path = Path.Combine(checkpoint, "config.json");
        var config = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        edit(config);
        File.WriteAllText(path, config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    private void AssertRefused(string checkpoint, string expected, string packageName = "package")
    {
        var packageDir = Path.Combine(_root, packageName);
        var error = Assert.Throws<RuntimeException>(() => CheckpointConverter.Convert(checkpoint, packageDir, new ConversionOptions()));
        Assert.Equal(RuntimeErrorCode.InvalidRequest, error.Code);
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(packageDir), "a refused conversion left its output folder");
        Assert.Empty(Directory.GetDirectories(_root, $".{packageName}.converting-*"));
    }

    private static int ArgMax(float[] values) => Array.IndexOf(values, values.Max());

    private static void AssertClose(double[] expected, float[] actual, double maxAbsError, double minCosine, string where)
    {
        Assert.Equal(expected.Length, actual.Length);
        double dot = 0, ee = 0, aa = 0, worst = 0;
        for (var i = 0; i < expected.Length; i++)
        {
            dot += expected[i] * actual[i];
            ee += expected[i] * expected[i];
            aa += actual[i] * (double)actual[i];
            worst = Math.Max(worst, Math.Abs(expected[i] - actual[i]));
        }

        var cosine = dot / Math.Sqrt(ee * aa);
        Assert.True(worst <= maxAbsError, $"{where}: largest logit difference {worst:G4} exceeds {maxAbsError} (cosine {cosine:F6})");
        Assert.True(cosine >= minCosine, $"{where}: cosine similarity {cosine:F6} is below {minCosine}");
    }
}
