using System.Text.Json;
using AutoGlm.Runtime.Packages;
using AutoGlm.Runtime.Text;

namespace AutoGlm.Runtime.Building;

/// <summary>What to build: a GLM shape, a seed, and the quantization.</summary>
public sealed record SyntheticModelSpec
{
    /// <summary>The default seed of the presets.</summary>
    public const ulong DefaultSeed = 1234;

    public required string Name { get; init; }
    public required ModelArchitecture Architecture { get; init; }
    public QuantizationInfo Quantization { get; init; } = new();
    public ulong Seed { get; init; } = DefaultSeed;

    /// <summary><c>tiny</c>: 2 layers, hidden 128 — builds in about a second, for tests and the first-run demo.</summary>
    public static SyntheticModelSpec Tiny { get; } = new()
    {
        Name = "glm-synthetic-tiny",
        Architecture = new ModelArchitecture
        {
            Layers = 2,
            HiddenSize = 128,
            NumHeads = 4,
            NumKvHeads = 2,
            HeadSize = 32,
            FfnSize = 256,
            VocabSize = GlmSpecialTokens.SyntheticVocabSize,
            ContextLength = 2048,
            RotaryDim = 16,
        },
    };

    /// <summary>
    /// <c>small</c>: 24 layers, hidden 1024, 16 heads, 2 KV heads, FFN 2816 — 367 M parameters, the shape on which
    /// llama.cpp and ONNX Runtime GenAI were measured in <c>shared/performance.md</c>, for benchmarks.
    /// </summary>
    public static SyntheticModelSpec Small { get; } = new()
    {
        Name = "glm-synthetic-small",
        Architecture = new ModelArchitecture
        {
            Layers = 24,
            HiddenSize = 1024,
            NumHeads = 16,
            NumKvHeads = 2,
            HeadSize = 64,
            FfnSize = 2816,
            VocabSize = GlmSpecialTokens.SyntheticVocabSize,
            ContextLength = 4096,
            RotaryDim = 32,
        },
    };

    /// <summary>A preset by name (<c>tiny</c>, <c>small</c>).</summary>
    public static SyntheticModelSpec Preset(string name) => name switch
    {
        "tiny" => Tiny,
        "small" => Small,
        _ => throw new RuntimeException(RuntimeErrorCode.InvalidRequest, $"unknown preset '{name}' (expected tiny or small)"),
    };

    /// <summary>Checks that the shape can be built and run; returns every problem at once.</summary>
    public IReadOnlyList<string> Validate()
    {
        var a = Architecture;
        var errors = new List<string>();
        void Require(bool ok, string message)
        {
            if (!ok)
            {
                errors.Add(message);
            }
        }

        Require(a.Layers > 0, "layers must be positive");
        Require(a.NumHeads > 0 && a.NumKvHeads > 0 && a.NumHeads % a.NumKvHeads == 0, "heads must be a positive multiple of kv-heads");
        Require(a.HeadSize > 0 && a.HeadSize % 2 == 0, "head-size must be positive and even");
        Require(a.HiddenSize == a.NumHeads * a.HeadSize, $"hidden ({a.HiddenSize}) must equal heads × head-size ({a.NumHeads * a.HeadSize})");
        Require(a.HiddenSize % Quantization.BlockSize == 0, $"hidden must be a multiple of the block size {Quantization.BlockSize}");
        Require(a.FfnSize > 0 && a.FfnSize % Quantization.BlockSize == 0, $"ffn must be a positive multiple of the block size {Quantization.BlockSize}");
        Require(a.RotaryDim > 0 && a.RotaryDim <= a.HeadSize && a.RotaryDim % 16 == 0, "rotary dim (half the head for GLM) must be a multiple of 16 no larger than the head: head-size must be at least 32");
        Require(a.ContextLength >= 16, "context must be at least 16");
        Require(a.VocabSize >= GlmSpecialTokens.DefaultIds.Values.Max() + 1, "vocabulary too small for the tokenizer");
        Require(Quantization.Bits == 4, "only 4-bit quantization is supported");
        Require(Quantization.AccuracyLevel is 0 or 1 or 2 or 3 or 4, "accuracy level must be 0–4");
        return errors;
    }
}

/// <summary>Writes a synthetic GLM model package: <c>decoder.onnx</c>, its external data, and the manifest.</summary>
/// <remarks>Deterministic: the same spec writes the same bytes.</remarks>
public static class SyntheticModelBuilder
{
    public const string DecoderFileName = "decoder.onnx";
    public const string DataFileName = "decoder.onnx.data";

    /// <summary>Builds the package into <paramref name="outputDirectory"/> (created if needed, files overwritten).</summary>
    public static ModelManifest Build(SyntheticModelSpec spec, string outputDirectory)
    {
        var graph = WriteDecoder(spec, outputDirectory, genAiInterface: false);
        var manifest = new ModelManifest
        {
            Name = spec.Name,
            Architecture = spec.Architecture,
            Quantization = spec.Quantization,
            Tokenizer = new TokenizerInfo
            {
                SpecialTokens = GlmSpecialTokens.DefaultIds,
                StopTokens = GlmSpecialTokens.DefaultStopTokens,
            },
            Decoder = new DecoderInfo
            {
                Model = DecoderFileName,
                Embedding = new EmbeddingInfo
                {
                    File = DataFileName,
                    WeightOffset = graph.EmbeddingOffsets.Weight,
                    ScalesOffset = graph.EmbeddingOffsets.Scales,
                },
            },
            Files =
            [
                Describe(outputDirectory, DecoderFileName),
                Describe(outputDirectory, DataFileName),
            ],
        };
        File.WriteAllBytes(Path.Combine(outputDirectory, ModelPackage.ManifestFileName), JsonSerializer.SerializeToUtf8Bytes(manifest, ModelManifest.JsonOptions));
        return manifest;
    }

    /// <summary>
    /// Writes the same model (same weights, same layers) with ONNX Runtime GenAI's decoder interface and a
    /// <c>genai_config.json</c>, so that GenAI can be measured side by side with the engine. Not a model package.
    /// </summary>
    public static void BuildGenAiVariant(SyntheticModelSpec spec, string outputDirectory, int intraOpThreads)
    {
        WriteDecoder(spec, outputDirectory, genAiInterface: true);
        var a = spec.Architecture;
        var eos = GlmSpecialTokens.DefaultIds[GlmSpecialTokens.EndOfText];
        var config = new
        {
            model = new
            {
                bos_token_id = eos,
                context_length = a.ContextLength,
                decoder = new
                {
                    session_options = new { log_id = "onnxruntime-genai", provider_options = Array.Empty<object>(), intra_op_num_threads = intraOpThreads },
                    filename = DecoderFileName,
                    head_size = a.HeadSize,
                    hidden_size = a.HiddenSize,
                    inputs = new { input_ids = "input_ids", attention_mask = "attention_mask", past_key_names = "past_key_values.%d.key", past_value_names = "past_key_values.%d.value" },
                    outputs = new { logits = "logits", present_key_names = "present.%d.key", present_value_names = "present.%d.value" },
                    num_attention_heads = a.NumHeads,
                    num_hidden_layers = a.Layers,
                    num_key_value_heads = a.NumKvHeads,
                },
                eos_token_id = eos,
                pad_token_id = eos,
                type = "llama",
                vocab_size = a.VocabSize,
            },
            search = new
            {
                do_sample = false,
                max_length = a.ContextLength,
                min_length = 0,
                num_beams = 1,
                num_return_sequences = 1,
                past_present_share_buffer = true,
                temperature = 1.0,
                top_k = 1,
                top_p = 1.0,
                repetition_penalty = 1.0,
            },
        };
        File.WriteAllBytes(Path.Combine(outputDirectory, "genai_config.json"), JsonSerializer.SerializeToUtf8Bytes(config, new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>Checks the spec, then writes <c>decoder.onnx</c> and its external data.</summary>
    private static GlmDecoderGraph WriteDecoder(SyntheticModelSpec spec, string outputDirectory, bool genAiInterface)
    {
        var errors = spec.Validate();
        if (errors.Count > 0)
        {
            throw new RuntimeException(RuntimeErrorCode.InvalidRequest, "cannot build this model: " + string.Join("; ", errors));
        }

        Directory.CreateDirectory(outputDirectory);
        GlmDecoderGraph graph;
        byte[] model;
        using (var data = new FileStream(Path.Combine(outputDirectory, DataFileName), FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
        {
            graph = new GlmDecoderGraph(spec.Architecture, spec.Quantization, data, genAiInterface);
            model = graph.Build(new SyntheticGlmWeights(spec.Architecture, spec.Seed), DataFileName);
        }

        File.WriteAllBytes(Path.Combine(outputDirectory, DecoderFileName), model);
        return graph;
    }

    private static PackageFile Describe(string directory, string name)
    {
        var path = Path.Combine(directory, name);
        return new PackageFile(name, new FileInfo(path).Length, ModelPackage.Sha256Of(path));
    }
}
