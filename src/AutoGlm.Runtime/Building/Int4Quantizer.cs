namespace AutoGlm.Runtime.Building;

/// <summary>Symmetric 4-bit block quantization in the layout of ONNX Runtime's <c>MatMulNBits</c>.</summary>
/// <remarks>
/// A weight <c>[N, K]</c> (N output features, K inputs) becomes bytes <c>[N, K/block, block/2]</c>, two values
/// a byte with the lower index in the low nibble, stored as <c>q + 8</c> (the kernel's default zero point), and
/// one float scale per block, <c>max|w| / 7</c>. Dequantized, each value is within half a scale of the original.
/// </remarks>
public static class Int4Quantizer
{
    /// <summary>The quantized value that means zero.</summary>
    public const int ZeroPoint = 8;

    /// <summary>Quantizes a row-major <c>[rows, cols]</c> matrix row by row.</summary>
    public static (byte[] Packed, float[] Scales) Quantize(ReadOnlySpan<float> weights, int rows, int cols, int blockSize) =>
        Quantize(weights.ToArray(), rows, cols, blockSize);

    /// <summary>Quantizes a row-major <c>[rows, cols]</c> matrix row by row, without copying it.</summary>
    public static (byte[] Packed, float[] Scales) Quantize(float[] weights, int rows, int cols, int blockSize)
    {
        if (cols % blockSize != 0 || blockSize % 2 != 0)
        {
            throw new ArgumentException($"columns ({cols}) must be a multiple of the block size ({blockSize}), which must be even");
        }

        if (weights.Length != (long)rows * cols)
        {
            throw new ArgumentException($"expected {(long)rows * cols} weights, got {weights.Length}");
        }

        var blocksPerRow = cols / blockSize;
        var packed = new byte[(long)rows * cols / 2];
        var scales = new float[(long)rows * blocksPerRow];
        var source = weights;
        Parallel.For(0, rows, row =>
        {
            for (var block = 0; block < blocksPerRow; block++)
            {
                var start = (long)row * cols + (long)block * blockSize;
                var max = 0f;
                for (var i = 0; i < blockSize; i++)
                {
                    max = MathF.Max(max, MathF.Abs(source[start + i]));
                }

                var scale = max / 7f;
                var inverse = scale == 0 ? 0 : 1f / scale;
                scales[(long)row * blocksPerRow + block] = scale;
                var outStart = start / 2;
                for (var i = 0; i < blockSize; i += 2)
                {
                    var lo = Code(source[start + i], inverse);
                    var hi = Code(source[start + i + 1], inverse);
                    packed[outStart + (i / 2)] = (byte)(lo | (hi << 4));
                }
            }
        });

        return (packed, scales);
    }

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

    /// <summary>The sum of squared differences between a matrix and its quantized form, and the sum of its squares.</summary>
    public static (double ErrorSquares, double WeightSquares) ErrorSquares(float[] weights, byte[] packed, float[] scales, int rows, int cols, int blockSize)
    {
        var blocksPerRow = cols / blockSize;
        double error = 0, total = 0;
        var gate = new object();
        Parallel.For(0, rows, () => (0.0, 0.0), (row, _, acc) =>
        {
            Span<float> restored = cols <= 16384 ? stackalloc float[cols] : new float[cols];
            DequantizeRow(packed.AsSpan((int)((long)row * cols / 2), cols / 2), scales.AsSpan(row * blocksPerRow, blocksPerRow), blockSize, restored);
            var original = weights.AsSpan((int)((long)row * cols), cols);
            for (var i = 0; i < cols; i++)
            {
                var d = (double)original[i] - restored[i];
                acc.Item1 += d * d;
                acc.Item2 += (double)original[i] * original[i];
            }

            return acc;
        }, acc =>
        {
            lock (gate)
            {
                error += acc.Item1;
                total += acc.Item2;
            }
        });
        return (error, total);
    }

    private static int Code(float value, float inverseScale) =>
        Math.Clamp((int)MathF.Round(value * inverseScale) + ZeroPoint, 0, 15);
}
