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

    /// <summary>The seeded vision and audio encoders to add; null builds a text-only package.</summary>
    public SyntheticAdaptersSpec? Adapters { get; init; } = SyntheticAdaptersSpec.Default;

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
        if (Adapters is { } m)
        {
            Require(m.PatchSize > 0 && m.ImageSize >= m.PatchSize && m.ImageSize % m.PatchSize == 0, $"image size ({m.ImageSize}) must be a positive multiple of the patch size ({m.PatchSize})");
            Require(m.Resize is "pad" or "tile", $"resize must be pad or tile (got '{m.Resize}')");
            Require(m.MaxTiles is >= 1 and <= 36, $"max tiles must be 1–36 (got {m.MaxTiles})");
            Require(m.MelBins > 0 && m.FramesPerToken > 0 && m.Encoder.Width > 0 && m.Encoder.Layers >= 0, "the audio adapter needs positive mel bins, frames per token and width");
        }
        return errors;
    }
}

/// <summary>Writes a synthetic GLM model package: <c>decoder.onnx</c>, its external data, and the manifest.</summary>
/// <remarks>Deterministic: the same spec writes the same bytes.</remarks>
public static class SyntheticModelBuilder
{
    public const string DecoderFileName = "decoder.onnx";
    public const string DataFileName = "decoder.onnx.data";

    /// <summary>The decoder with a float16 KV cache, over the same <see cref="DataFileName"/>.</summary>
    public const string KvFloat16DecoderFileName = "decoder.kv-float16.onnx";
    public const string VisionFileName = "vision.onnx";
    public const string AudioFileName = "audio.onnx";

    /// <summary>Builds the package into <paramref name="outputDirectory"/> (created if needed, files overwritten).</summary>
    public static ModelManifest Build(SyntheticModelSpec spec, string outputDirectory)
    {
        var graph = WriteDecoder(spec, outputDirectory, genAiInterface: false);
        var adapters = WriteAdapters(spec, outputDirectory);
        List<string> files = [DecoderFileName, KvFloat16DecoderFileName, DataFileName];
        if (adapters?.Vision is not null)
        {
            files.Add(VisionFileName);
        }

        if (adapters?.Audio is not null)
        {
            files.Add(AudioFileName);
        }

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
                KvFloat16Model = KvFloat16DecoderFileName,
                Embedding = new EmbeddingInfo
                {
                    File = DataFileName,
                    WeightOffset = graph.EmbeddingOffsets.Weight,
                    ScalesOffset = graph.EmbeddingOffsets.Scales,
                },
            },
            Adapters = adapters,
            Files = [.. files.Select(f => Describe(outputDirectory, f))],
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

    /// <summary>Writes the seeded encoders the spec asks for and describes them for the manifest.</summary>
    private static AdaptersInfo? WriteAdapters(SyntheticModelSpec spec, string outputDirectory)
    {
        if (spec.Adapters is not { } a)
        {
            return null;
        }

        var hidden = spec.Architecture.HiddenSize;
        var vision = new VisionAdapterInfo
        {
            Model = VisionFileName,
            ImageSize = a.ImageSize,
            TokensPerTile = (a.ImageSize / a.PatchSize) * (a.ImageSize / a.PatchSize),
            Resize = a.Resize,
            MaxTiles = a.MaxTiles,
            Mean = [0.48145466f, 0.4578275f, 0.40821073f],
            Std = [0.26862954f, 0.26130258f, 0.27577711f],
        };
        File.WriteAllBytes(Path.Combine(outputDirectory, VisionFileName), SyntheticEncoderGraph.Vision(vision, a.PatchSize, a.Encoder, hidden, spec.Seed));
        var audio = new AudioAdapterInfo { Model = AudioFileName, MelBins = a.MelBins, FramesPerToken = a.FramesPerToken };
        File.WriteAllBytes(Path.Combine(outputDirectory, AudioFileName), SyntheticEncoderGraph.Audio(audio, a.Encoder, hidden, spec.Seed));
        return new AdaptersInfo { Vision = vision, Audio = audio };
    }

    /// <summary>Checks the spec, then writes <c>decoder.onnx</c> and its external data.</summary>
    private static GlmDecoderGraph WriteDecoder(SyntheticModelSpec spec, string outputDirectory, bool genAiInterface)
    {
        var errors = spec.Validate();
        if (errors.Count > 0)
        {
            throw new RuntimeException(RuntimeErrorCode.InvalidRequest, "cannot build this model: " + string.Join("; ", errors));
        }

        return WriteDecoder(spec.Architecture, spec.Quantization, new SyntheticGlmWeights(spec.Architecture, spec.Seed), outputDirectory, genAiInterface);
    }

    /// <summary>
    /// Writes <c>decoder.onnx</c>, its external data and (unless <paramref name="genAiInterface"/>) the float16-KV graph
    /// over the same data from any weights; the converter's path too.
    /// </summary>
    internal static GlmDecoderGraph WriteDecoder(
        ModelArchitecture architecture,
        QuantizationInfo quantization,
        IGlmWeights weights,
        string outputDirectory,
        bool genAiInterface = false,
        Dictionary<string, (double ErrorSquares, double WeightSquares)>? errors = null,
        Int4Rule rule = Int4Rule.MaxOver7)
    {
        Directory.CreateDirectory(outputDirectory);
        GlmDecoderGraph graph;
        byte[] model;
        using (var data = new FileStream(Path.Combine(outputDirectory, DataFileName), FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
        {
            graph = new GlmDecoderGraph(architecture, quantization, data, genAiInterface) { QuantizationErrors = errors, Rule = rule };
            model = graph.Build(weights, DataFileName);
        }

        File.WriteAllBytes(Path.Combine(outputDirectory, DecoderFileName), model);
        if (!genAiInterface)
        {
            File.WriteAllBytes(Path.Combine(outputDirectory, KvFloat16DecoderFileName), graph.BuildKvFloat16());
        }

        return graph;
    }

    internal static PackageFile Describe(string directory, string name)
    {
        var path = Path.Combine(directory, name);
        return new PackageFile(name, new FileInfo(path).Length, ModelPackage.Sha256Of(path));
    }
}

/// <summary>The synthetic adapters: a vision encoder over square patches and an audio encoder over Whisper log-mel frames.</summary>
/// <param name="ImageSize">The square the vision encoder sees.</param>
/// <param name="PatchSize">Pixels per patch side; one embedding row per patch.</param>
/// <param name="Resize"><c>pad</c> or <c>tile</c> (see <see cref="VisionAdapterInfo.Resize"/>).</param>
/// <param name="MaxTiles">Grid tiles in <c>tile</c> mode.</param>
/// <param name="MelBins">Mel bands of the audio features.</param>
/// <param name="FramesPerToken">Log-mel frames (10 ms each) per audio embedding row.</param>
/// <param name="Encoder">Width and depth of both encoders.</param>
public sealed record SyntheticAdaptersSpec(int ImageSize, int PatchSize, string Resize, int MaxTiles, int MelBins, int FramesPerToken, SyntheticEncoderSpec Encoder)
{
    /// <summary>64-pixel images in 16-pixel patches (16 rows per image), 80 mel bands, 8 frames per row (12.5 rows per second).</summary>
    public static SyntheticAdaptersSpec Default { get; } = new(64, 16, "pad", 1, 80, 8, new SyntheticEncoderSpec(64, 2));
}
