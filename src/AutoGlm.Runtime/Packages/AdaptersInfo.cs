namespace AutoGlm.Runtime.Packages;

/// <summary>The adapters ("plugins") around the GLM trunk: encoders whose outputs replace placeholder token embeddings.</summary>
/// <remarks>The I/O contract every adapter follows is documented in <c>docs/multimodal.md</c>.</remarks>
public sealed record AdaptersInfo
{
    public VisionAdapterInfo? Vision { get; init; }
    public AudioAdapterInfo? Audio { get; init; }
}

/// <summary>
/// A vision encoder: <c>float [tiles, 3, image_size, image_size]</c> (RGB, normalized with <see cref="Mean"/> and
/// <see cref="Std"/>) in, <c>float [tiles, tokens_per_tile, hidden]</c> out, hidden being the trunk's.
/// </summary>
public sealed record VisionAdapterInfo
{
    /// <summary>The encoder's ONNX file, relative to the package folder.</summary>
    public required string Model { get; init; }

    public string InputName { get; init; } = "pixel_values";
    public string OutputName { get; init; } = "image_embeds";

    /// <summary>The side of the square the encoder sees, in pixels.</summary>
    public required int ImageSize { get; init; }

    /// <summary>Embedding rows the encoder makes per tile.</summary>
    public required int TokensPerTile { get; init; }

    /// <summary>
    /// <c>pad</c>: the whole image scaled to fit one square, aspect ratio kept, the rest filled with the mean colour.
    /// <c>tile</c>: a thumbnail like <c>pad</c>, then the image scaled (aspect kept) onto a grid of up to
    /// <see cref="MaxTiles"/> squares, each encoded as one more tile.
    /// </summary>
    public string Resize { get; init; } = "pad";

    /// <summary>The most grid tiles in <c>tile</c> mode (the thumbnail not counted).</summary>
    public int MaxTiles { get; init; } = 1;

    /// <summary>Per-channel mean (RGB, 0–1 scale) subtracted before dividing by <see cref="Std"/>.</summary>
    public IReadOnlyList<float> Mean { get; init; } = [0.5f, 0.5f, 0.5f];

    public IReadOnlyList<float> Std { get; init; } = [0.5f, 0.5f, 0.5f];

    /// <summary>Every problem with the values, each naming its manifest key.</summary>
    public IEnumerable<string> Validate()
    {
        if (ImageSize is < 8 or > 4096)
        {
            yield return $"adapters.vision.image_size must be between 8 and 4096 (got {ImageSize})";
        }

        if (TokensPerTile < 1)
        {
            yield return $"adapters.vision.tokens_per_tile must be positive (got {TokensPerTile})";
        }

        if (Resize is not ("pad" or "tile"))
        {
            yield return $"adapters.vision.resize must be pad or tile (got '{Resize}')";
        }

        if (MaxTiles is < 1 or > 36)
        {
            yield return $"adapters.vision.max_tiles must be between 1 and 36 (got {MaxTiles})";
        }

        if (Mean.Count != 3 || Std.Count != 3 || Std.Any(s => s <= 0))
        {
            yield return "adapters.vision.mean and std must hold three values each, std positive";
        }
    }
}

/// <summary>
/// An audio encoder: features of one mono clip in, <c>float [1, tokens, hidden]</c> out. With <c>log_mel</c>
/// features the input is <c>float [1, mel_bins, frames]</c> (Whisper's log-mel: Hann window, power spectrum,
/// Slaney mel filters, log10, floor at max − 8, then (x + 4) / 4); with <c>waveform</c> it is
/// <c>float [1, samples]</c>. Frames (or samples) are a multiple of <see cref="FramesPerToken"/> and the encoder
/// makes one row per <see cref="FramesPerToken"/>.
/// </summary>
public sealed record AudioAdapterInfo
{
    public required string Model { get; init; }

    public string InputName { get; init; } = "input_features";
    public string OutputName { get; init; } = "audio_embeds";

    /// <summary>The rate clips are resampled to, in Hz.</summary>
    public int SampleRate { get; init; } = 16000;

    /// <summary><c>log_mel</c> or <c>waveform</c>.</summary>
    public string Features { get; init; } = "log_mel";

    public int MelBins { get; init; } = 80;
    public int FftSize { get; init; } = 400;
    public int HopLength { get; init; } = 160;

    /// <summary>Feature frames (or samples, for <c>waveform</c>) per embedding row.</summary>
    public required int FramesPerToken { get; init; }

    public IEnumerable<string> Validate()
    {
        if (SampleRate is < 1000 or > 192_000)
        {
            yield return $"adapters.audio.sample_rate must be between 1000 and 192000 (got {SampleRate})";
        }

        if (Features is not ("log_mel" or "waveform"))
        {
            yield return $"adapters.audio.features must be log_mel or waveform (got '{Features}')";
        }

        if (Features == "log_mel" && (MelBins < 1 || FftSize < 8 || HopLength < 1 || HopLength > FftSize))
        {
            yield return "adapters.audio: mel_bins, fft_size and hop_length must be positive, hop_length at most fft_size";
        }

        if (FramesPerToken < 1)
        {
            yield return $"adapters.audio.frames_per_token must be positive (got {FramesPerToken})";
        }
    }
}
