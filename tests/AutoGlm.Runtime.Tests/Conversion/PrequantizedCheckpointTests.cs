using System.Text.Json;
using System.Text.Json.Nodes;
using AutoGlm.Runtime.Conversion;
using AutoGlm.Runtime.Generation;
using AutoGlm.Runtime.Onnx;
using AutoGlm.Runtime.Packages;
using Microsoft.Extensions.Logging.Abstractions;

namespace AutoGlm.Runtime.Tests.Conversion;

/// <summary>
/// Tiny GLM-4 checkpoints whose decoder linears are stored as AutoGPTQ (<c>qweight</c> [K/8, N], <c>qzeros</c> stored
/// minus one, <c>g_idx</c>) and AutoAWQ's GEMM layout (interleaved nibble order) store them, written by
/// <c>glm_reference.py</c>'s own packer, converted, and run against the reference forward of the weights the
/// checkpoint's own dequantization gives.
/// </summary>
public sealed class PrequantizedCheckpointTests : IDisposable
{
    private const int DecodeSteps = 8;
    private const string WideShape = """{"hidden_size": 128, "intermediate_size": 256}""";
    private static readonly int[] Prompt = [302, 304, 307, 10, 104, 101, 108, 108, 111, 32, 119, 111, 114, 108, 100, 308];
    private readonly string _root = Path.Combine(Path.GetTempPath(), "autoglm-tests", "prequant-" + Guid.NewGuid().ToString("N")[..8]);

    public void Dispose()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    /// <summary>
    /// The codes are moved, not re-rounded, so the engine's logits agree with the reference of the dequantized weights
    /// to the same 2e-3 (cosine 0.99999) as an INT4 package against its own rounding; the embedding and the head, bf16
    /// in the checkpoint, are rounded by the package's rule at the group size on both sides. A dequantize–requantize
    /// round would miss by about 4 (see the INT4 case of <see cref="CheckpointConversionTests"/>).
    /// </summary>
    [Theory]
    [InlineData("gptq-sym", 32, "{}")]
    [InlineData("gptq-asym", 64, WideShape)]
    [InlineData("awq", 128, WideShape)]
    [InlineData("awq", 32, "{}")]
    public void Convert_PrequantizedCheckpoint_LogitsMatchDequantizedReference(string quant, int group, string shape)
    {
        var checkpoint = Path.Combine(_root, "checkpoint");
        PyTorchReference.MakeQuantizedCheckpoint(checkpoint, quant, group, shape);
        var packageDir = Path.Combine(_root, "package");
        var result = CheckpointConverter.Convert(checkpoint, packageDir, new ConversionOptions { AccuracyLevel = 0 });

        Assert.Equal(group, result.Manifest.Quantization.BlockSize);
        Assert.Equal(quant.StartsWith("gptq", StringComparison.Ordinal) ? "gptq" : "awq", result.Manifest.Source!.Options["prequantized"]);

        // only the float tensors (embedding, head) were quantized by the converter
        Assert.Equal(["embed_tokens", "lm_head"], result.RelativeRmsError.Keys.Order(StringComparer.Ordinal));
        var (tokens, actual) = RunPromptAndDecode(packageDir);
        var expected = PyTorchReference.Logits(checkpoint, tokens, Prompt.Length - 1, group);
        Assert.Equal(actual.Count, expected.Length);
        for (var step = 0; step < actual.Count; step++)
        {
            AssertClose(expected[step], actual[step], 2e-3, 0.99999, step == 0 ? "after the prompt" : $"at decode step {step}");
        }
    }

    [Theory]
    [InlineData("bits", "8", "quantization_config.bits is 8; only 4-bit gptq checkpoints are repacked")]
    [InlineData("quant_method", "\"bitsandbytes\"", "quantization_config.quant_method 'bitsandbytes' is not supported")]
    [InlineData("desc_act", "true", "quantization_config.desc_act is true (act-order)")]
    [InlineData("group_size", "16", "quantization_config.group_size is 16")]
    public void Convert_UnsupportedQuantizationConfig_RefusesNamingIt(string key, string value, string expected)
    {
        var checkpoint = Path.Combine(_root, "checkpoint");
        PyTorchReference.MakeQuantizedCheckpoint(checkpoint, "gptq-sym", 32);
        var path = Path.Combine(checkpoint, "config.json");
        var config = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        config["quantization_config"]![key] = JsonNode.Parse(value);
        File.WriteAllText(path, config.ToJsonString());

        AssertRefused(checkpoint, new ConversionOptions(), expected);
    }

    [Fact]
    public void Convert_GptqGroupIndexNotSequential_RefusesNamingTensor()
    {
        var checkpoint = Path.Combine(_root, "checkpoint");
        PyTorchReference.MakeQuantizedCheckpoint(checkpoint, "gptq-asym", 32, actOrder: true);
        AssertRefused(checkpoint, new ConversionOptions(), "checkpoint tensor 'model.layers.0.self_attn.q_proj.g_idx' is not sequential (input 0 is in group 2, not 0)");
    }

    [Fact]
    public void Convert_PrequantizedToFloatWeights_RefusesNamingOption()
    {
        var checkpoint = Path.Combine(_root, "checkpoint");
        PyTorchReference.MakeQuantizedCheckpoint(checkpoint, "awq", 32);
        AssertRefused(checkpoint, new ConversionOptions { Weights = "fp32" }, "--weights fp32: the checkpoint is already awq 4-bit");
    }

    private void AssertRefused(string checkpoint, ConversionOptions options, string expected)
    {
        var packageDir = Path.Combine(_root, "package");
        var error = Assert.Throws<RuntimeException>(() => CheckpointConverter.Convert(checkpoint, packageDir, options));
        Assert.Equal(RuntimeErrorCode.InvalidRequest, error.Code);
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(packageDir), "a refused conversion left its output folder");
    }

    private static (List<int> Tokens, List<float[]> Logits) RunPromptAndDecode(string packageDir)
    {
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
        var logits = new List<float[]> { session.Logits(0).ToArray() };
        for (var step = 0; step < DecodeSteps; step++)
        {
            var next = Array.IndexOf(logits[^1], logits[^1].Max());
            tokens.Add(next);
            embedding.Lookup(next, session.Embeds(1));
            session.Run(0, 1, 1, [tokens.Count - 1]);
            logits.Add(session.Logits(0).ToArray());
        }

        return (tokens, logits);
    }

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
