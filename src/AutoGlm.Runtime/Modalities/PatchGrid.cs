namespace AutoGlm.Runtime.Modalities;

/// <summary>
/// The patch grid of one image with a variable-grid (GLM-4.1V) encoder: <see cref="Rows"/>×<see cref="Columns"/>
/// patches, merged <see cref="Merge"/>×<see cref="Merge"/> into one embedding row each.
/// </summary>
/// <param name="Rows">Patches down (the resized height / patch size).</param>
/// <param name="Columns">Patches across.</param>
/// <param name="Merge">The spatial merge size.</param>
public sealed record PatchGrid(int Rows, int Columns, int Merge)
{
    /// <summary>Rows of the merged grid: the image tokens down.</summary>
    public int TokenRows => Rows / Merge;

    /// <summary>Columns of the merged grid: the image tokens across.</summary>
    public int TokenColumns => Columns / Merge;

    /// <summary>Image tokens (encoder output rows).</summary>
    public int Tokens => TokenRows * TokenColumns;

    public int Patches => Rows * Columns;

    /// <summary>The grid cell of patch <paramref name="index"/> in the processor's order (merge blocks row by row, then within each block).</summary>
    public (int Row, int Column) PatchAt(int index)
    {
        var block = index / (Merge * Merge);
        var within = index % (Merge * Merge);
        var blocksAcross = Columns / Merge;
        return (((block / blocksAcross) * Merge) + (within / Merge), ((block % blocksAcross) * Merge) + (within % Merge));
    }

    /// <summary>Each patch's (row, column), <c>float [patches, 2]</c>: the encoder's 2-D rotary positions.</summary>
    public float[] Positions()
    {
        var result = new float[Patches * 2];
        for (var i = 0; i < Patches; i++)
        {
            var (row, column) = PatchAt(i);
            result[i * 2] = row;
            result[(i * 2) + 1] = column;
        }

        return result;
    }

    /// <summary>
    /// Each patch's centre in <c>grid_sample</c> coordinates, <c>float [1, patches, 1, 2]</c> as x, y: where the
    /// learned position embeddings are sampled. Computed in float32 exactly as <c>Glm4vVisionEmbeddings</c> does,
    /// <c>((c + 0.5) / size) · 2 − 1</c>.
    /// </summary>
    public float[] SampleGrid()
    {
        var result = new float[Patches * 2];
        for (var i = 0; i < Patches; i++)
        {
            var (row, column) = PatchAt(i);
            result[i * 2] = (((column + 0.5f) / Columns) * 2f) - 1f;
            result[(i * 2) + 1] = (((row + 0.5f) / Rows) * 2f) - 1f;
        }

        return result;
    }
}
