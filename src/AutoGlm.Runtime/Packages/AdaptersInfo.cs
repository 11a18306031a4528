namespace AutoGlm.Runtime.Packages;

/// <summary>The adapters ("plugins") around the GLM trunk: encoders whose outputs replace placeholder token embeddings.</summary>
/// <remarks>The I/O contract every adapter follows is documented in <c>docs/multimodal.md</c>.</remarks>
public sealed record AdaptersInfo
{
    public VisionAdapterInfo? Vision { get; init; }
    public AudioAdapterInfo? Audio { get; init; }
}

/// <summary>
/// A vision encoder. With <c>resize</c> <c>pad</c> or <c>tile</c>: <c>float [tiles, 3, image_size, image_size]</c>
/// (RGB, normalized with <see cref="Mean"/> and <see cref="Std"/>) in, <c>float [tiles, tokens_per_tile, hidden]</c>
/// out, hidden being the trunk's. With <c>smart</c> (GLM-4.1V): a variable grid of patches per image, see
/// <see cref="SmartResizeInfo"/>.
/// </summary>
public sealed record VisionAdapterInfo
{
    /// <summary>The encoder's ONNX file, relative to the package folder.</summary>
    public required string Model { get; init; }

    public string InputName { get; init; } = "pixel_values";
    public string OutputName { get; init; } = "image_embeds";

    /// <summary>The side of the square the encoder sees, in pixels (<c>pad</c> and <c>tile</c>).</summary>
    public int ImageSize { get; init; }

    /// <summary>Embedding rows the encoder makes per tile (<c>pad</c> and <c>tile</c>).</summary>
    public int TokensPerTile { get; init; }

    /// <summary>
    /// <c>pad</c>: the whole image scaled to fit one square, aspect ratio kept, the rest filled with the mean colour.
    /// <c>tile</c>: a thumbnail like <c>pad</c>, then the image scaled (aspect kept) onto a grid of up to
    /// <see cref="MaxTiles"/> squares, each encoded as one more tile.
    /// <c>smart</c>: GLM-4.1V's processor — the image resized (PIL bicubic) so both sides are multiples of
    /// patch × merge within the pixel bounds, cut into a grid of patches (<see cref="Smart"/>).
    /// </summary>
    public string Resize { get; init; } = "pad";

    /// <summary>The most grid tiles in <c>tile</c> mode (the thumbnail not counted).</summary>
    public int MaxTiles { get; init; } = 1;

    /// <summary>Per-channel mean (RGB, 0–1 scale) subtracted before dividing by <see cref="Std"/>.</summary>
    public IReadOnlyList<float> Mean { get; init; } = [0.5f, 0.5f, 0.5f];

    public IReadOnlyList<float> Std { get; init; } = [0.5f, 0.5f, 0.5f];

    /// <summary>The patch grid's parameters with <c>resize</c> <c>smart</c>; null otherwise.</summary>
    public SmartResizeInfo? Smart { get; init; }

    /// <summary>Every problem with the values, each naming its manifest key.</summary>
    public IEnumerable<string> Validate()
    {
        if (Resize is not ("pad" or "tile" or "smart"))
        {
            yield return $"adapters.vision.resize must be pad, tile or smart (got '{Resize}')";
        }

        if (Resize == "smart")
        {
            if (Smart is null)
            {
                yield return "adapters.vision.smart is required when adapters.vision.resize is smart";
            }
            else
            {
                foreach (var problem in Smart.Validate())
                {
                    yield return problem;
                }
            }
        }
        else
        {
            if (ImageSize is < 8 or > 4096)
            {
                yield return $"adapters.vision.image_size must be between 8 and 4096 (got {ImageSize})";
            }

            if (TokensPerTile < 1)
            {
                yield return $"adapters.vision.tokens_per_tile must be positive (got {TokensPerTile})";
            }
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
/// GLM-4.1V's variable patch grid (<c>adapters.vision.smart</c>, from the checkpoint's <c>preprocessor_config.json</c>
/// and <c>vision_config</c>). The encoder's inputs: <c>pixel_values</c> <c>float [patches, 3 · temporal · patch²]</c>
/// (patches in the processor's order: 2×2 merge blocks row by row, each block's four patches row by row; a patch's
/// values channel, frame, row, column — a single image repeats its frame), <see cref="PositionsName"/>
/// <c>float [patches, 2]</c> (each patch's row and column on the grid) and <see cref="GridName"/>
/// <c>float [1, patches, 1, 2]</c> (its centre in <c>grid_sample</c>'s −1…1 coordinates, x then y). Output:
/// <c>float [patches / merge², hidden]</c>, one row per merged 2×2 block, in the same order.
/// </summary>
public sealed record SmartResizeInfo
{
    public int PatchSize { get; init; } = 14;
    public int MergeSize { get; init; } = 2;
    public int TemporalPatchSize { get; init; } = 2;

    /// <summary>The least pixels, counted over <see cref="TemporalPatchSize"/> frames (the processor's <c>size.shortest_edge</c>).</summary>
    public long MinPixels { get; init; } = 12544;

    /// <summary>The most pixels, counted over <see cref="TemporalPatchSize"/> frames (<c>size.longest_edge</c>).</summary>
    public long MaxPixels { get; init; } = 9633792;

    public string PositionsName { get; init; } = "patch_positions";
    public string GridName { get; init; } = "patch_grid";

    /// <summary>The values of one patch: channels × frames × patch².</summary>
    public int PatchValues => 3 * TemporalPatchSize * PatchSize * PatchSize;

    public IEnumerable<string> Validate()
    {
        if (PatchSize is < 1 or > 64 || MergeSize is < 1 or > 8 || TemporalPatchSize is < 1 or > 8)
        {
            yield return $"adapters.vision.smart: patch_size (1–64), merge_size (1–8) and temporal_patch_size (1–8) are out of range ({PatchSize}, {MergeSize}, {TemporalPatchSize})";
        }

        var factor = (long)PatchSize * MergeSize;
        if (MinPixels < 1 || MaxPixels < MinPixels || MaxPixels < TemporalPatchSize * factor * factor)
        {
            yield return $"adapters.vision.smart: min_pixels ({MinPixels}) and max_pixels ({MaxPixels}) must be positive, max at least min and at least one {factor}×{factor} block over {TemporalPatchSize} frames";
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
