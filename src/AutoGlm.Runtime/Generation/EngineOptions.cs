namespace AutoGlm.Runtime.Generation;

/// <summary>How the local engine runs a model package. Bound from the <c>Runtime</c> configuration section.</summary>
public sealed record EngineOptions
{
    /// <summary><c>cpu</c> (default), <c>cuda</c> or <c>tensorrt</c>; an unavailable one falls back toward CPU.</summary>
    public string ExecutionProvider { get; init; } = "cpu";

    /// <summary>GPU ordinal for CUDA and TensorRT. Default 0.</summary>
    public int DeviceId { get; init; }

    /// <summary>ONNX Runtime intra-op threads; 0 (default) uses one per core, which measured fastest here.</summary>
    public int IntraOpThreads { get; init; }

    /// <summary>
    /// Whether ONNX Runtime's worker threads spin between operators instead of sleeping. Spinning saves wake-ups on a
    /// dedicated device; on a machine shared with other busy processes it burns their CPU. Default true.
    /// </summary>
    public bool AllowSpinning { get; init; } = true;

    /// <summary>
    /// Whether, on Linux with the CPU provider, the decoder's packed weights are moved onto transparent huge pages once
    /// the session is loaded (<c>MADV_COLLAPSE</c>): fewer TLB misses while every step streams the weights. Where the
    /// kernel refuses (no free huge pages), nothing changes. Default false: on the development machine the kernel
    /// collapsed between 16 and 158 MB of the small preset's 275 MB and no speed-up showed (docs/benchmarks.md).
    /// </summary>
    public bool HugePages { get; init; }

    /// <summary>Sequences decoded together (continuous batching). Default 4.</summary>
    public int MaxBatchSize { get; init; } = 4;

    /// <summary>Requests waiting for a slot before new ones are refused as overloaded. Default 64.</summary>
    public int MaxQueueLength { get; init; } = 64;

    /// <summary>Prompt tokens run per prefill step, so a long prompt does not stall other streams. Default 512.</summary>
    public int PrefillChunkSize { get; init; } = 512;

    /// <summary>KV-cache length per sequence; 0 (default) uses the model's context length.</summary>
    public int MaxSequenceLength { get; init; }

    /// <summary>
    /// Whether finished sequences keep their KV rows so a later prompt that starts the same way (the same system
    /// prompt, the next turn of a conversation, the same image) prefills only the rest. Default true.
    /// </summary>
    public bool PrefixCache { get; init; } = true;

    /// <summary>
    /// Element type of the KV cache: <c>float32</c> (default) or <c>float16</c> (half the memory; the package's
    /// float16-KV decoder graph runs attention in float16, the rest of the model stays float32).
    /// </summary>
    public string KvCacheType { get; init; } = "float32";

    /// <summary>Whether <see cref="KvCacheType"/> is <c>float16</c>.</summary>
    public bool KvCacheFloat16 => string.Equals(KvCacheType?.Trim(), "float16", StringComparison.OrdinalIgnoreCase);

    /// <summary>Bytes per KV-cache element: 4 for float32, 2 for float16.</summary>
    public int KvCacheElementBytes => KvCacheFloat16 ? 2 : sizeof(float);

    /// <summary>Default <c>max_tokens</c> when a request names none. Default 256.</summary>
    public int DefaultMaxTokens { get; init; } = 256;

    /// <summary>
    /// The SHA-256 the package's <c>manifest.json</c> must have (lower- or upper-case hex); the manifest pins every
    /// other file, so this pins the whole package. Empty (default): any intact package loads.
    /// </summary>
    public string? ModelManifestSha256 { get; init; }

    /// <summary>Limits on images and audio per request, and how long adapters stay loaded (<c>Runtime:Media</c>).</summary>
    public Modalities.MediaLimits Media { get; init; } = new();

    /// <summary>Where TensorRT caches built engines; null disables the cache.</summary>
    public string? TensorRtCacheDirectory { get; init; }

    /// <summary>
    /// Bytes the KV cache of a model of shape <paramref name="architecture"/> takes with these settings: slots ×
    /// context × layers × 2 (keys and values) × KV heads × head size × 4 (float32) or 2 (float16), reserved at load.
    /// </summary>
    public long KvCacheBytes(Packages.ModelArchitecture architecture)
    {
        var context = MaxSequenceLength > 0 ? Math.Min(MaxSequenceLength, architecture.ContextLength) : architecture.ContextLength;
        return (long)MaxBatchSize * context * architecture.Layers * 2 * architecture.NumKvHeads * architecture.HeadSize * KvCacheElementBytes;
    }

    /// <summary>Every problem with the values, each naming its <c>Runtime:</c> key.</summary>
    public IEnumerable<string> Validate()
    {
        if (IntraOpThreads < 0)
        {
            yield return $"Runtime:IntraOpThreads must be 0 (one per core) or positive (got {IntraOpThreads})";
        }

        if (MaxBatchSize is < 1 or > 64)
        {
            yield return $"Runtime:MaxBatchSize must be between 1 and 64 (got {MaxBatchSize})";
        }

        if (MaxQueueLength < 0)
        {
            yield return $"Runtime:MaxQueueLength must not be negative (got {MaxQueueLength})";
        }

        if (PrefillChunkSize < 1)
        {
            yield return $"Runtime:PrefillChunkSize must be positive (got {PrefillChunkSize})";
        }

        if (MaxSequenceLength < 0)
        {
            yield return $"Runtime:MaxSequenceLength must be 0 (the model's context) or positive (got {MaxSequenceLength})";
        }

        if (DefaultMaxTokens < 1)
        {
            yield return $"Runtime:DefaultMaxTokens must be positive (got {DefaultMaxTokens})";
        }

        if (!string.IsNullOrWhiteSpace(ModelManifestSha256) && (ModelManifestSha256.Trim().Length != 64 || !ModelManifestSha256.Trim().All(char.IsAsciiHexDigit)))
        {
            yield return $"Runtime:ModelManifestSha256 must be 64 hexadecimal digits (got '{ModelManifestSha256}')";
        }

        if (!KvCacheFloat16 && !string.Equals(KvCacheType?.Trim(), "float32", StringComparison.OrdinalIgnoreCase))
        {
            yield return $"Runtime:KvCacheType must be float32 or float16 (got '{KvCacheType}')";
        }

        foreach (var problem in Media.Validate())
        {
            yield return problem;
        }

        if (!Onnx.ExecutionProviderSelector.KnownProviders.Contains(ExecutionProvider.Trim().ToLowerInvariant()))
        {
            yield return $"Runtime:ExecutionProvider must be one of {string.Join(", ", Onnx.ExecutionProviderSelector.KnownProviders)} (got '{ExecutionProvider}')";
        }
    }
}
