namespace AutoGlm.Runtime.Numerics;

/// <summary>SplitMix64: a tiny generator whose output is fixed by its seed on every platform and .NET version.</summary>
/// <remarks>Used for synthetic weights so that the same arguments write the same bytes. Not thread-safe.</remarks>
public sealed class SeededRandom
{
    private ulong _state;

    public SeededRandom(ulong seed) => _state = seed;

    /// <summary>A generator for one named stream under a seed, independent of the order streams are made in.</summary>
    public static SeededRandom ForStream(ulong seed, string stream)
    {
        var hash = 14695981039346656037UL; // FNV-1a, stable across runs unlike string.GetHashCode
        foreach (var c in stream)
        {
            hash = (hash ^ c) * 1099511628211UL;
        }

        return new SeededRandom(seed ^ hash);
    }

    public ulong NextUInt64()
    {
        var z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>A uniform double in [0, 1).</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Fills <paramref name="destination"/> with values uniform in [-limit, limit).</summary>
    public void FillUniform(Span<float> destination, float limit)
    {
        for (var i = 0; i < destination.Length; i++)
        {
            destination[i] = (float)((NextDouble() * 2 - 1) * limit);
        }
    }
}
