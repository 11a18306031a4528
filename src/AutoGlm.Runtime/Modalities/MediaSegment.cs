using AutoGlm.Runtime.Packages;

namespace AutoGlm.Runtime.Modalities;

/// <summary>One image or clip inside a prompt: where its placeholder rows are and what replaces them.</summary>
/// <remarks>Created on the caller's thread; <see cref="Embeddings"/> is written and read on the scheduler's thread only.</remarks>
internal sealed class MediaSegment
{
    public required AdapterSession Adapter { get; init; }

    /// <summary>The encoder's input, already preprocessed; empty once released.</summary>
    public required float[] Input { get; set; }

    public required long[] InputShape { get; init; }

    /// <summary>SHA-256 (first 64 bits) of the input and its shape: the prefix cache's identity for these rows.</summary>
    public ulong ContentHash { get; private init; }

    /// <summary>Further inputs of the encoder (a variable-grid image's patch positions); empty for most adapters.</summary>
    public IReadOnlyList<AdapterInput> ExtraInputs { get; private set; } = [];

    /// <summary>A variable-grid image's patch grid (its merged rows and columns place its M-RoPE positions); null otherwise.</summary>
    public PatchGrid? Grid { get; private init; }

    /// <summary>A segment whose <see cref="ContentHash"/> is that of <paramref name="input"/>.</summary>
    public static MediaSegment Create(AdapterSession adapter, float[] input, long[] shape, int rows) => new()
    {
        Adapter = adapter,
        Input = input,
        InputShape = shape,
        Rows = rows,
        ContentHash = Generation.PrefixCache.HashOf(input, shape),
    };

    /// <summary>A variable-grid image: its patches, their positions, and the grid in the hash.</summary>
    public static MediaSegment ForGrid(AdapterSession adapter, float[] patches, PatchGrid grid, SmartResizeInfo info) => new()
    {
        Adapter = adapter,
        Input = patches,
        InputShape = [grid.Patches, info.PatchValues],
        Rows = grid.Tokens,
        Grid = grid,
        ExtraInputs =
        [
            new AdapterInput(info.PositionsName, grid.Positions(), [grid.Patches, 2]),
            new AdapterInput(info.GridName, grid.SampleGrid(), [1, grid.Patches, 1, 2]),
        ],
        ContentHash = Generation.PrefixCache.HashOf(patches, [grid.Patches, info.PatchValues, grid.Rows, grid.Columns]),
    };

    /// <summary>Position of the first placeholder token in the prompt.</summary>
    public int Start { get; set; }

    /// <summary>Placeholder tokens, one per encoder output row.</summary>
    public required int Rows { get; init; }

    /// <summary>The encoder's output, <c>[rows, hidden]</c>; null until the scheduler runs the adapter.</summary>
    public float[]? Embeddings { get; private set; }

    public void Encode() => Embeddings = Adapter.Encode(Input, InputShape, Rows, ExtraInputs);

    /// <summary>Drops the pixels, features and rows once the prompt is in the KV cache (they can be tens of MB per image).</summary>
    public void Release()
    {
        Input = [];
        ExtraInputs = [];
        Embeddings = null;
    }

    /// <summary>
    /// Overwrites the rows of <paramref name="embeds"/> (the prompt positions <c>[start, start + count)</c>) that are
    /// placeholders of an encoded segment with that segment's embeddings.
    /// </summary>
    public static void Splice(IReadOnlyList<MediaSegment> segments, int start, int count, int hidden, Span<float> embeds)
    {
        foreach (var segment in segments)
        {
            var from = Math.Max(start, segment.Start);
            var to = Math.Min(start + count, segment.Start + segment.Rows);
            if (from >= to)
            {
                continue;
            }

            var rows = segment.Embeddings ?? throw new InvalidOperationException("a media segment was spliced before it was encoded");
            rows.AsSpan((from - segment.Start) * hidden, (to - from) * hidden).CopyTo(embeds[((from - start) * hidden)..]);
        }
    }
}
