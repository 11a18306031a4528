using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using AutoGlm.Runtime.Modalities;

namespace AutoGlm.Runtime.Generation;

/// <summary>
/// What each KV-cache slot holds: one key per valid position (a token id, or a media row's content key), so a new
/// prompt can find the slot whose cache starts like it (llama.cpp's <c>cache_prompt</c>, vLLM's automatic prefix
/// caching).
/// </summary>
/// <remarks>
/// A key is the token id (never negative) at a text position, and a negative number derived from the SHA-256 of the
/// prepared encoder input and the row index at an image or audio placeholder, so a different frame never matches
/// and the same frame matches row for row. Used by the scheduler's thread only; not thread-safe.
/// </remarks>
internal sealed class PrefixCache
{
    private readonly long[][] _keys;
    private readonly int[] _lengths;
    private readonly long[] _lastUsed;
    private long _clock;

    public PrefixCache(int slots, int maxLength)
    {
        _keys = [.. Enumerable.Range(0, slots).Select(_ => new long[maxLength])];
        _lengths = new int[slots];
        _lastUsed = new long[slots];
    }

    /// <summary>Positions of slot <paramref name="slot"/> whose rows are valid and known.</summary>
    public int LengthOf(int slot) => _lengths[slot];

    /// <summary>The keys of a prompt: its token ids, with each media placeholder row replaced by that row's content key.</summary>
    public static long[] KeysOf(GenerationRequest request)
    {
        var keys = new long[request.PromptTokens.Count];
        for (var i = 0; i < keys.Length; i++)
        {
            keys[i] = request.PromptTokens[i];
        }

        foreach (var segment in request.Media)
        {
            for (var row = 0; row < segment.Rows && segment.Start + row < keys.Length; row++)
            {
                keys[segment.Start + row] = MediaKey(segment.ContentHash, row);
            }
        }

        return keys;
    }

    /// <summary>The SHA-256 of an encoder input and its shape, reduced to the 64 bits the keys use.</summary>
    public static ulong HashOf(float[] input, long[] shape)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(MemoryMarshal.AsBytes(shape.AsSpan()));
        sha.AppendData(MemoryMarshal.AsBytes(input.AsSpan()));
        Span<byte> digest = stackalloc byte[32];
        sha.GetHashAndReset(digest);
        return BinaryPrimitives.ReadUInt64LittleEndian(digest);
    }

    /// <summary>How many leading keys of <paramref name="keys"/> slot <paramref name="slot"/> holds.</summary>
    public int Match(int slot, ReadOnlySpan<long> keys)
    {
        var held = _keys[slot].AsSpan(0, _lengths[slot]);
        return held.CommonPrefixLength(keys);
    }

    /// <summary>
    /// The free slot a prompt should take: among those whose cache it mostly continues (the common prefix is at least
    /// half of what the slot holds), the one with the longest common prefix; else an empty slot, else the least
    /// recently used. A shorter match elsewhere (a shared system prompt) is copied from there, not evicted.
    /// </summary>
    public int Choose(IEnumerable<int> freeSlots, ReadOnlySpan<long> keys)
    {
        int continued = -1, continuedMatch = 0, oldest = -1;
        foreach (var slot in freeSlots)
        {
            var match = Match(slot, keys);
            if (match > continuedMatch && match * 2 >= _lengths[slot])
            {
                (continued, continuedMatch) = (slot, match);
            }

            if (oldest < 0 || _lastUsed[slot] < _lastUsed[oldest])
            {
                oldest = slot;
            }
        }

        return continued >= 0 ? continued : oldest;
    }

    /// <summary>Records the keys written at positions <c>[start, start + keys.Length)</c> of a slot; later positions are dropped.</summary>
    public void Write(int slot, int start, ReadOnlySpan<long> keys)
    {
        keys.CopyTo(_keys[slot].AsSpan(start));
        _lengths[slot] = start + keys.Length;
        _lastUsed[slot] = ++_clock;
    }

    /// <summary>Copies the first <paramref name="length"/> keys of one slot into another (its KV rows are copied alongside).</summary>
    public void Copy(int from, int to, int length)
    {
        _keys[from].AsSpan(0, length).CopyTo(_keys[to]);
        _lengths[to] = length;
        _lastUsed[to] = ++_clock;
    }

    /// <summary>Keeps only the first <paramref name="length"/> positions of a slot (0: forget it).</summary>
    public void Truncate(int slot, int length) => _lengths[slot] = Math.Min(_lengths[slot], length);

    private static long MediaKey(ulong hash, int row)
    {
        // SplitMix64 of hash and row; the top bit set keeps media keys apart from token ids.
        var z = hash + ((ulong)(row + 1) * 0x9E3779B97F4A7C15UL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return (long)(z | 0x8000_0000_0000_0000UL);
    }
}
