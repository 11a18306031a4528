using System.Text.Json;
using System.Text.Json.Serialization;

namespace AutoGlm.Runtime.Packages;

/// <summary>The <c>manifest.json</c> at the root of a model package: what the model is and which files make it.</summary>
/// <remarks>Serialized with snake_case names; documented in <c>docs/model-package.md</c>.</remarks>
public sealed record ModelManifest
{
    /// <summary>The manifest format this runtime writes.</summary>
    /// <remarks>
    /// 2 added what converted checkpoints need: <see cref="ModelArchitecture.SandwichNorms"/>, an untied head,
    /// float32 weights (<see cref="QuantizationInfo.Bits"/> 32, embedding format <c>float32</c>), a Hugging Face
    /// tokenizer file and <see cref="Source"/>. A version-1 manifest means the same with every new field at its default.
    /// </remarks>
    public const int CurrentFormatVersion = 2;

    /// <summary>The oldest manifest format this runtime still reads.</summary>
    public const int OldestFormatVersion = 1;

    public int FormatVersion { get; init; } = CurrentFormatVersion;

    /// <summary>A short name for the model, shown in <c>/v1/models</c> and the status topic.</summary>
    public required string Name { get; init; }

    public required ModelArchitecture Architecture { get; init; }

    public required QuantizationInfo Quantization { get; init; }

    public required TokenizerInfo Tokenizer { get; init; }

    /// <summary>The chat template's name; <c>glm4</c> is the one this runtime knows.</summary>
    public string ChatTemplate { get; init; } = "glm4";

    public required DecoderInfo Decoder { get; init; }

    /// <summary>The vision and audio adapters, loaded on first use; absent when the package is text-only.</summary>
    public AdaptersInfo? Adapters { get; init; }

    /// <summary>Where a converted package came from; absent for synthetic packages.</summary>
    public PackageSource? Source { get; init; }

    /// <summary>Every file of the package with its SHA-256; the loader refuses anything else.</summary>
    public required IReadOnlyList<PackageFile> Files { get; init; }

    /// <summary>Serializer settings for manifests: snake_case, indented.</summary>
    public static JsonSerializerOptions JsonOptions { get; } = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        RespectRequiredConstructorParameters = true,
    };
}

/// <summary>The shape of a GLM-family decoder.</summary>
public sealed record ModelArchitecture
{
    public string Family { get; init; } = "glm4";
    public required int Layers { get; init; }
    public required int HiddenSize { get; init; }
    public required int NumHeads { get; init; }
    public required int NumKvHeads { get; init; }
    public required int HeadSize { get; init; }
    public required int FfnSize { get; init; }
    public required int VocabSize { get; init; }
    public required int ContextLength { get; init; }

    /// <summary>How many leading dimensions of each head are rotated (GLM: half the head).</summary>
    public required int RotaryDim { get; init; }

    public float RopeTheta { get; init; } = 10000f;
    public float RmsNormEps { get; init; } = 1e-5f;

    /// <summary>Whether the token embedding is also the LM head (true for the synthetic models).</summary>
    public bool TiedEmbeddings { get; init; } = true;

    /// <summary>GLM-4-0414's extra RMSNorms on the attention and MLP outputs, before each residual add.</summary>
    public bool SandwichNorms { get; init; }

    /// <summary>
    /// GLM-4.1V's multimodal rotary (M-RoPE): how many of the <c>RotaryDim / 2</c> frequencies take the temporal,
    /// height and width position (summing to <c>RotaryDim / 2</c>); null for plain rotary. A decoder built with it
    /// takes per-token <c>rotary_cos</c>/<c>rotary_sin</c> inputs instead of rotating inside GroupQueryAttention.
    /// </summary>
    public IReadOnlyList<int>? MropeSection { get; init; }

    /// <summary>Parameter count implied by the shape (embedding counted once when tied).</summary>
    [JsonIgnore]
    public long ParameterCount
    {
        get
        {
            long h = HiddenSize, q = (long)NumHeads * HeadSize, kv = (long)NumKvHeads * HeadSize;
            long attention = h * (q + 2 * kv) + (q + 2 * kv) + q * h;
            long mlp = h * 2L * FfnSize + (long)FfnSize * h;
            long perLayer = attention + mlp + 2 * h;
            return Layers * perLayer + h + (TiedEmbeddings ? 1 : 2) * (long)VocabSize * h;
        }
    }
}

/// <summary>Block quantization of the linear layers.</summary>
public sealed record QuantizationInfo
{
    /// <summary>4: INT4 blocks run by <c>MatMulNBits</c>; 32: float32 weights run by <c>MatMul</c> (no quantization); 16: the same stored as float16.</summary>
    public int Bits { get; init; } = 4;
    public int BlockSize { get; init; } = 32;

    /// <summary><c>MatMulNBits</c>'s <c>accuracy_level</c>: 0 computes in float, 4 quantizes activations to int8 (fastest on CPU).</summary>
    public int AccuracyLevel { get; init; } = 4;
}

/// <summary>The tokenizer and its special tokens.</summary>
public sealed record TokenizerInfo
{
    /// <summary>The type for a bundled tiktoken encoding.</summary>
    public const string TiktokenType = "tiktoken";

    /// <summary>The type for a Hugging Face <c>tokenizer.json</c> (byte-level BPE) carried in the package.</summary>
    public const string HuggingFaceType = "huggingface";

    /// <summary>
    /// <c>tiktoken</c>: a BPE whose ranks come from <see cref="File"/> when set (a checkpoint's <c>tokenizer.model</c>),
    /// else from the bundled <see cref="Encoding"/>; <c>huggingface</c>: the <c>tokenizer.json</c> in <see cref="File"/>.
    /// </summary>
    public string Type { get; init; } = TiktokenType;
    public string Encoding { get; init; } = "cl100k_base";

    /// <summary>The tokenizer file carried in the package, relative to its folder (<c>tokenizer.json</c> or a tiktoken rank file).</summary>
    public string? File { get; init; }
    public required IReadOnlyDictionary<string, int> SpecialTokens { get; init; }

    /// <summary>Tokens that end generation.</summary>
    public required IReadOnlyList<string> StopTokens { get; init; }
}

/// <summary>Where the decoder and its token embedding live.</summary>
public sealed record DecoderInfo
{
    /// <summary>The ONNX decoder, relative to the package folder.</summary>
    public required string Model { get; init; }

    /// <summary>
    /// The same decoder over the same weights with a float16 KV cache (<c>Runtime:KvCacheType=float16</c>), relative to
    /// the package folder; null in packages built before it existed.
    /// </summary>
    public string? KvFloat16Model { get; init; }

    /// <summary>The token embedding table (shared with the LM head when tied).</summary>
    public required EmbeddingInfo Embedding { get; init; }
}

/// <summary>An INT4 embedding table stored inside a package file, read by the engine for token lookup.</summary>
/// <remarks>Layout: <c>[vocab, hidden/block, block/2]</c> bytes (low nibble first, zero point 8) at
/// <see cref="WeightOffset"/>, then float32 scales <c>[vocab * hidden/block]</c> at <see cref="ScalesOffset"/>.</remarks>
public sealed record EmbeddingInfo
{
    public required string File { get; init; }
    public required long WeightOffset { get; init; }
    public required long ScalesOffset { get; init; }

    /// <summary><c>int4_block</c> (the layout above), <c>float32</c> or <c>float16</c> (<c>[vocab, hidden]</c> at <see cref="WeightOffset"/>, no scales).</summary>
    public string Format { get; init; } = Int4Format;

    public const string Int4Format = "int4_block";
    public const string Float32Format = "float32";
    public const string Float16Format = "float16";
}

/// <summary>The checkpoint a package was converted from, and how.</summary>
/// <param name="Architecture">The checkpoint's <c>architectures[0]</c> in <c>config.json</c>.</param>
/// <param name="Converter">The converter's name and version.</param>
/// <param name="Options">The converter's options, as given on the command line.</param>
/// <param name="Files">Every file of the checkpoint folder that was read, with its size and SHA-256.</param>
public sealed record PackageSource(string Architecture, string Converter, IReadOnlyDictionary<string, string> Options, IReadOnlyList<PackageFile> Files);

/// <summary>One file of a package with its size and SHA-256 (lower-case hex).</summary>
public sealed record PackageFile(string Path, long Size, string Sha256);
