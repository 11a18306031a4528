namespace AutoGlm.Runtime.Modalities;

/// <summary>What one request may carry. Bound from <c>Runtime:Media</c>.</summary>
public sealed record MediaLimits
{
    /// <summary>The most pixels an image may declare (checked before decoding). Default 40,000,000 (a 40 MP photo).</summary>
    public long MaxImagePixels { get; init; } = 40_000_000;

    /// <summary>Images per request. Default 8.</summary>
    public int MaxImages { get; init; } = 8;

    /// <summary>The longest audio clip, in seconds. Default 60.</summary>
    public double MaxAudioSeconds { get; init; } = 60;

    /// <summary>Audio clips per request. Default 4.</summary>
    public int MaxAudioClips { get; init; } = 4;

    /// <summary>How long an adapter stays loaded after its last use. Default 5 minutes; zero unloads right after each use.</summary>
    public TimeSpan AdapterIdleTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Every problem with the values, each naming its <c>Runtime:Media:</c> key.</summary>
    public IEnumerable<string> Validate()
    {
        if (MaxImagePixels < 1)
        {
            yield return $"Runtime:Media:MaxImagePixels must be positive (got {MaxImagePixels})";
        }

        if (MaxImages < 0)
        {
            yield return $"Runtime:Media:MaxImages must not be negative (got {MaxImages})";
        }

        if (MaxAudioSeconds is <= 0 or > 3600)
        {
            yield return $"Runtime:Media:MaxAudioSeconds must be above 0 and at most 3600 (got {MaxAudioSeconds})";
        }

        if (MaxAudioClips < 0)
        {
            yield return $"Runtime:Media:MaxAudioClips must not be negative (got {MaxAudioClips})";
        }

        if (AdapterIdleTimeout < TimeSpan.Zero)
        {
            yield return $"Runtime:Media:AdapterIdleTimeout must not be negative (got {AdapterIdleTimeout})";
        }
    }
}
