using System.Text.Json;
using System.Text.Json.Serialization;

namespace AutoGlm.Runtime.Packages;

/// <summary>The <c>manifest.json</c> at the root of a model package: what the model is and which files make it.</summary>
/// <remarks>Serialized with snake_case names; documented in <c>docs/model-package.md</c>.</remarks>
public sealed record ModelManifest
{
    /// <summary>The manifest format this runtime reads.</summary>
    public const int CurrentFormatVersion = 1;

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
    public int Bits { get; init; } = 4;
    public int BlockSize { get; init; } = 32;

    /// <summary><c>MatMulNBits</c>'s <c>accuracy_level</c>: 0 computes in float, 4 quantizes activations to int8 (fastest on CPU).</summary>
    public int AccuracyLevel { get; init; } = 4;
}

/// <summary>The tokenizer and its special tokens.</summary>
public sealed record TokenizerInfo
{
    /// <summary><c>tiktoken</c>: a BPE whose ranks come from <see cref="Encoding"/>.</summary>
    public string Type { get; init; } = "tiktoken";
    public string Encoding { get; init; } = "cl100k_base";
    public required IReadOnlyDictionary<string, int> SpecialTokens { get; init; }

    /// <summary>Tokens that end generation.</summary>
    public required IReadOnlyList<string> StopTokens { get; init; }
}

/// <summary>Where the decoder and its token embedding live.</summary>
public sealed record DecoderInfo
{
    /// <summary>The ONNX decoder, relative to the package folder.</summary>
    public required string Model { get; init; }

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
    public string Format { get; init; } = "int4_block";
}

/// <summary>One file of a package with its size and SHA-256 (lower-case hex).</summary>
public sealed record PackageFile(string Path, long Size, string Sha256);
