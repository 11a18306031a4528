namespace AutoGlm.Runtime.Modalities;

/// <summary>One token's three M-RoPE positions: temporal, height, width (all equal for text).</summary>
public readonly record struct MropePosition(int Temporal, int Height, int Width)
{
    /// <summary>A text token at sequence position <paramref name="p"/>.</summary>
    public static MropePosition Text(int p) => new(p, p, p);
}

/// <summary>
/// GLM-4.1V's position ids (<c>Glm4vModel.get_rope_index</c>, images only): text counts on from the last position + 1;
/// an image whose merged grid is rows × columns, starting after position s − 1, gives its tokens (s, s + row,
/// s + column) in row-major order, so the text after it resumes at s + max(rows, columns). Decode positions are the
/// sequence index plus <see cref="Delta"/> (largest position + 1 − prompt length), as the modeling code's
/// <c>rope_deltas</c>.
/// </summary>
/// <remarks>Immutable; thread-safe.</remarks>
public sealed class MropePositions
{
    private readonly MropePosition[] _prompt;

    private MropePositions(MropePosition[] prompt, int delta)
    {
        _prompt = prompt;
        Delta = delta;
    }

    /// <summary>What decode positions add to the sequence index (0 for text alone; negative after an image).</summary>
    public int Delta { get; }

    /// <summary>The positions of a prompt of <paramref name="length"/> tokens whose images start at the given indices.</summary>
    /// <param name="length">Prompt tokens.</param>
    /// <param name="images">Each image's first placeholder index and its merged grid, in prompt order, not overlapping.</param>
    public static MropePositions For(int length, IEnumerable<(int Start, int Rows, int Columns)> images)
    {
        var positions = new MropePosition[length];
        var next = 0;
        var at = 0;
        foreach (var (start, rows, columns) in images.OrderBy(i => i.Start))
        {
            if (start < at || start + (rows * columns) > length)
            {
                throw new ArgumentException($"an image at {start} with {rows}×{columns} rows overlaps another or the prompt's end ({length})", nameof(images));
            }

            for (; at < start; at++)
            {
                positions[at] = MropePosition.Text(next++);
            }

            var s = next;
            for (var r = 0; r < rows; r++)
            {
                for (var c = 0; c < columns; c++)
                {
                    positions[at++] = new MropePosition(s, s + r, s + c);
                }
            }

            next = s + Math.Max(rows, columns);
        }

        for (; at < length; at++)
        {
            positions[at] = MropePosition.Text(next++);
        }

        return new MropePositions(positions, next - length);
    }

    /// <summary>Prompt tokens covered.</summary>
    public int Length => _prompt.Length;

    /// <summary>The position of token <paramref name="index"/>: a prompt token's own, or a generated one's index + <see cref="Delta"/>.</summary>
    public MropePosition this[int index] => index < _prompt.Length ? _prompt[index] : MropePosition.Text(index + Delta);
}

/// <summary>
/// Fills an M-RoPE decoder's per-token <c>rotary_cos</c>/<c>rotary_sin</c> rows: frequency <c>i</c> of the
/// <c>rotary_dim / 2</c> (θ^(−2i/rotary_dim), as the plain tables) turns by the temporal position in the first
/// section, the height in the second, the width in the third (<c>apply_multimodal_rotary_pos_emb</c>).
/// </summary>
internal sealed class MropeRotary
{
    private readonly double[] _invFreq;
    private readonly int _heightFrom, _widthFrom;

    public MropeRotary(int rotaryDim, double theta, IReadOnlyList<int> section)
    {
        Half = rotaryDim / 2;
        _invFreq = new double[Half];
        for (var i = 0; i < Half; i++)
        {
            _invFreq[i] = Math.Pow(theta, -2.0 * i / rotaryDim);
        }

        _heightFrom = section[0];
        _widthFrom = section[0] + section[1];
    }

    /// <summary>Values per row: rotary_dim / 2.</summary>
    public int Half { get; }

    public void Fill(MropePosition position, Span<float> cos, Span<float> sin)
    {
        for (var i = 0; i < Half; i++)
        {
            var p = i < _heightFrom ? position.Temporal : i < _widthFrom ? position.Height : position.Width;
            var angle = p * _invFreq[i];
            cos[i] = (float)Math.Cos(angle);
            sin[i] = (float)Math.Sin(angle);
        }
    }
}
