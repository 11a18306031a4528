namespace AutoGlm.Runtime.Numerics;

/// <summary>
/// The INT4 block layout that <c>MatMulNBits</c> reads and the token embedding uses: two 4-bit codes a byte, low
/// nibble first, one float scale per block of a row, value = (code − <see cref="ZeroPoint"/>) × scale. Reading it back is
/// here, where the engine (token lookup) and the builder (error measurement) both use it; writing it is the builder's
/// <c>Int4Quantizer</c>.
/// </summary>
public static class Int4Blocks
{
    /// <summary>The zero point of a block without its own: the kernel's default.</summary>
    public const int ZeroPoint = 8;

    /// <summary>Dequantizes one row of a packed matrix into <paramref name="destination"/> (length <c>cols</c>).</summary>
    public static void DequantizeRow(ReadOnlySpan<byte> packedRow, ReadOnlySpan<float> rowScales, int blockSize, Span<float> destination)
    {
        for (var i = 0; i < destination.Length; i += 2)
        {
            var b = packedRow[i / 2];
            var scale = rowScales[i / blockSize];
            destination[i] = ((b & 0x0F) - ZeroPoint) * scale;
            destination[i + 1] = ((b >> 4) - ZeroPoint) * scale;
        }
    }

    /// <summary>Dequantizes a whole <c>[rows, cols]</c> matrix.</summary>
    public static float[] Dequantize(ReadOnlySpan<byte> packed, ReadOnlySpan<float> scales, int rows, int cols, int blockSize)
    {
        var result = new float[(long)rows * cols];
        var blocksPerRow = cols / blockSize;
        for (var row = 0; row < rows; row++)
        {
            DequantizeRow(
                packed.Slice(row * cols / 2, cols / 2),
                scales.Slice(row * blocksPerRow, blocksPerRow),
                blockSize,
                result.AsSpan(row * cols, cols));
        }

        return result;
    }
}
