using AutoGlm.Runtime.Numerics;

namespace AutoGlm.Runtime.Building;

/// <summary>How a block of floats is rounded to 4 bits.</summary>
public enum Int4Rule
{
    /// <summary>Symmetric, scale <c>max|w| / 7</c>: codes 1..15 (the synthetic builder's rule, whose bytes its tests pin).</summary>
    MaxOver7,

    /// <summary>
    /// Symmetric over the full range, ONNX Runtime's own rule: the value of largest magnitude <c>m</c> (with its sign)
    /// gives scale <c>m / −8</c>, so it maps to code 0 exactly and codes 0..15 are all used.
    /// </summary>
    FullRange,

    /// <summary>Asymmetric: the block's range <c>[min(w, 0), max(w, 0)]</c> over 15 steps, with a per-block zero point.</summary>
    ZeroPoints,
}

/// <summary>4-bit block quantization in the layout of ONNX Runtime's <c>MatMulNBits</c>.</summary>
/// <remarks>
/// A weight <c>[N, K]</c> (N output features, K inputs) becomes bytes <c>[N, K/block, block/2]</c>, two values
/// a byte with the lower index in the low nibble, stored as <c>q + zero</c>, one float scale per block and, for
/// <see cref="Int4Rule.ZeroPoints"/>, one zero point per block (else the kernel's default 8). By default the scale is
/// <c>max|w| / 7</c> (<see cref="Int4Rule.MaxOver7"/>). Dequantized, each value is within half a scale of the original.
/// </remarks>
public static class Int4Quantizer
{
    /// <summary>The quantized value that means zero.</summary>
    public const int ZeroPoint = Int4Blocks.ZeroPoint;

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

    /// <summary>Quantizes a row-major <c>[rows, cols]</c> matrix row by row by <paramref name="rule"/>.</summary>
    public static Int4Matrix Quantize(float[] weights, int rows, int cols, int blockSize, Int4Rule rule)
    {
        if (rule == Int4Rule.MaxOver7)
        {
            var (p, s) = Quantize(weights, rows, cols, blockSize);
            return new Int4Matrix(p, s, null);
        }

        if (cols % blockSize != 0 || blockSize % 2 != 0)
        {
            throw new ArgumentException($"columns ({cols}) must be a multiple of the block size ({blockSize}), which must be even");
        }

        if (weights.Length != (long)rows * cols)
        {
            throw new ArgumentException($"expected {(long)rows * cols} weights, got {weights.Length}");
        }

        var blocksPerRow = cols / blockSize;
        var zeroBytesPerRow = (blocksPerRow + 1) / 2;
        var packed = new byte[(long)rows * cols / 2];
        var scales = new float[(long)rows * blocksPerRow];
        var zeroPoints = rule == Int4Rule.ZeroPoints ? new byte[(long)rows * zeroBytesPerRow] : null;
        Parallel.For(0, rows, row =>
        {
            for (var block = 0; block < blocksPerRow; block++)
            {
                var start = (long)row * cols + (long)block * blockSize;
                float scale;
                int zero;
                if (rule == Int4Rule.FullRange)
                {
                    var extreme = 0f;
                    for (var i = 0; i < blockSize; i++)
                    {
                        if (MathF.Abs(weights[start + i]) > MathF.Abs(extreme))
                        {
                            extreme = weights[start + i];
                        }
                    }

                    scale = extreme / -8f;
                    zero = ZeroPoint;
                }
                else
                {
                    float min = 0f, max = 0f;
                    for (var i = 0; i < blockSize; i++)
                    {
                        min = MathF.Min(min, weights[start + i]);
                        max = MathF.Max(max, weights[start + i]);
                    }

                    scale = (max - min) / 15f;
                    zero = scale == 0 ? ZeroPoint : Math.Clamp((int)MathF.Round(-min / scale), 0, 15);
                    zeroPoints![((long)row * zeroBytesPerRow) + (block / 2)] |= (byte)(block % 2 == 0 ? zero : zero << 4);
                }

                var inverse = scale == 0 ? 0 : 1f / scale;
                scales[(long)row * blocksPerRow + block] = scale;
                var outStart = start / 2;
                for (var i = 0; i < blockSize; i += 2)
                {
                    var lo = Math.Clamp((int)MathF.Round(weights[start + i] * inverse) + zero, 0, 15);
                    var hi = Math.Clamp((int)MathF.Round(weights[start + i + 1] * inverse) + zero, 0, 15);
                    packed[outStart + (i / 2)] = (byte)(lo | (hi << 4));
                }
            }
        });

        return new Int4Matrix(packed, scales, zeroPoints);
    }

    /// <summary>The sum of squared differences between a matrix and its quantized form (zero points included), and the sum of its squares.</summary>
    public static (double ErrorSquares, double WeightSquares) ErrorSquares(float[] weights, Int4Matrix matrix, int rows, int cols, int blockSize)
    {
        if (matrix.ZeroPoints is null)
        {
            return ErrorSquares(weights, matrix.Packed, matrix.Scales, rows, cols, blockSize);
        }

        var blocksPerRow = cols / blockSize;
        var zeroBytesPerRow = (blocksPerRow + 1) / 2;
        double error = 0, total = 0;
        var gate = new object();
        Parallel.For(0, rows, () => (0.0, 0.0), (row, _, acc) =>
        {
            for (var i = 0; i < cols; i++)
            {
                var block = i / blockSize;
                var b = matrix.Packed[((long)row * cols / 2) + (i / 2)];
                var code = i % 2 == 0 ? b & 0x0F : b >> 4;
                var z = matrix.ZeroPoints[((long)row * zeroBytesPerRow) + (block / 2)];
                var zero = block % 2 == 0 ? z & 0x0F : z >> 4;
                var restored = (code - zero) * matrix.Scales[((long)row * blocksPerRow) + block];
                var original = weights[((long)row * cols) + i];
                var d = (double)original - restored;
                acc.Item1 += d * d;
                acc.Item2 += (double)original * original;
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

    /// <summary>The sum of squared differences between a matrix and its quantized form, and the sum of its squares.</summary>
    public static (double ErrorSquares, double WeightSquares) ErrorSquares(float[] weights, byte[] packed, float[] scales, int rows, int cols, int blockSize)
    {
        var blocksPerRow = cols / blockSize;
        double error = 0, total = 0;
        var gate = new object();
        Parallel.For(0, rows, () => (0.0, 0.0), (row, _, acc) =>
        {
            Span<float> restored = cols <= 16384 ? stackalloc float[cols] : new float[cols];
            Int4Blocks.DequantizeRow(packed.AsSpan((int)((long)row * cols / 2), cols / 2), scales.AsSpan(row * blocksPerRow, blocksPerRow), blockSize, restored);
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
