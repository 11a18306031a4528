using AutoGlm.Runtime.Numerics;
using AutoGlm.Runtime.Building;

namespace AutoGlm.Runtime.Tests.Building;

public sealed class Int4QuantizerTests
{
    [Fact]
    public void Dequantize_AfterQuantize_EachValueWithinHalfAScaleOfTheOriginal()
    {
        const int rows = 64, cols = 256, block = 32;
        var weights = new float[rows * cols];
        new SeededRandom(42).FillUniform(weights, 2f);

        var (packed, scales) = Int4Quantizer.Quantize(weights, rows, cols, block);
        var restored = Int4Blocks.Dequantize(packed, scales, rows, cols, block);

        Assert.Equal(rows * cols / 2, packed.Length);
        Assert.Equal(rows * cols / block, scales.Length);
        for (var i = 0; i < weights.Length; i++)
        {
            var scale = scales[i / block];
            var max = weights.AsSpan(i / block * block, block).ToArray().Max(MathF.Abs);
            Assert.Equal(max / 7f, scale, 1e-6f);
            Assert.True(MathF.Abs(weights[i] - restored[i]) <= (scale / 2) + 1e-6f, $"value {i}: {weights[i]} came back as {restored[i]} (scale {scale})");
        }
    }

    [Fact]
    public void Quantize_RelativeError_MatchesUniformRoundingNoise()
    {
        // Uniform rounding noise in [-s/2, s/2] has RMS s/sqrt(12); the measured RMS must be close to it.
        const int rows = 128, cols = 512, block = 32;
        var weights = new float[rows * cols];
        new SeededRandom(7).FillUniform(weights, 1f);
        var (packed, scales) = Int4Quantizer.Quantize(weights, rows, cols, block);
        var restored = Int4Blocks.Dequantize(packed, scales, rows, cols, block);

        double error = 0, expected = 0;
        for (var i = 0; i < weights.Length; i++)
        {
            error += Math.Pow(weights[i] - restored[i], 2);
            expected += Math.Pow(scales[i / block], 2) / 12;
        }

        Assert.InRange(Math.Sqrt(error / expected), 0.9, 1.1);
    }

    [Fact]
    public void Quantize_PacksLowerIndexInLowNibbleWithZeroPointEight()
    {
        var weights = new float[32];
        weights[0] = 7f;   // +7 → code 15
        weights[1] = -7f;  // -7 → code 1
        weights[2] = 0f;   //  0 → code 8

        var (packed, scales) = Int4Quantizer.Quantize(weights, 1, 32, 32);

        Assert.Equal(1f, scales[0]);
        Assert.Equal(0x1F, packed[0]);
        Assert.Equal(0x08, packed[1] & 0x0F);
    }

    [Fact]
    public void Quantize_ColumnsNotAMultipleOfTheBlock_Throws()
    {
        var error = Assert.Throws<ArgumentException>(() => Int4Quantizer.Quantize(new float[40], 1, 40, 32));
        Assert.Contains("multiple of the block size", error.Message);
    }

    [Fact]
    public void Quantize_FullRange_ExtremeMapsToCodeZeroAndAllSixteenCodesAreUsed()
    {
        const int rows = 16, cols = 256, block = 32;
        var weights = new float[rows * cols];
        new SeededRandom(3).FillUniform(weights, 1f);

        var m = Int4Quantizer.Quantize(weights, rows, cols, block, Int4Rule.FullRange);

        Assert.Null(m.ZeroPoints);
        var used = new HashSet<int>();
        for (var b = 0; b < rows * cols / block; b++)
        {
            var values = weights.AsSpan(b * block, block).ToArray();
            var extremeIndex = Array.IndexOf(values, values.MaxBy(MathF.Abs));
            Assert.Equal(values[extremeIndex] / -8f, m.Scales[b]);
            var index = (b * block) + extremeIndex;
            var code = index % 2 == 0 ? m.Packed[index / 2] & 0x0F : m.Packed[index / 2] >> 4;
            Assert.Equal(0, code);
        }

        foreach (var bytePair in m.Packed)
        {
            used.Add(bytePair & 0x0F);
            used.Add(bytePair >> 4);
        }

        Assert.Equal(16, used.Count);
    }

    [Fact]
    public void Quantize_ZeroPoints_PacksTwoZerosAByteAndRestoresWithinHalfAStep()
    {
        const int rows = 8, cols = 96, block = 32; // 3 blocks a row: the last byte of each row holds one zero point
        var weights = new float[rows * cols];
        new SeededRandom(5).FillUniform(weights, 1f);
        for (var i = 0; i < weights.Length; i++)
        {
            weights[i] += 0.6f; // mostly positive: an asymmetric range
        }

        var m = Int4Quantizer.Quantize(weights, rows, cols, block, Int4Rule.ZeroPoints);

        Assert.Equal(rows * 2, m.ZeroPoints!.Length);
        for (var i = 0; i < weights.Length; i++)
        {
            var row = i / cols;
            var b = (i % cols) / block;
            var z = m.ZeroPoints[(row * 2) + (b / 2)];
            var zero = b % 2 == 0 ? z & 0x0F : z >> 4;
            var code = i % 2 == 0 ? m.Packed[i / 2] & 0x0F : m.Packed[i / 2] >> 4;
            var scale = m.Scales[(row * 3) + b];
            Assert.True(MathF.Abs(((code - zero) * scale) - weights[i]) <= (scale / 2) + 1e-5f, $"value {i}: {weights[i]} came back as {(code - zero) * scale} (scale {scale}, zero {zero})");
        }

        var (error, total) = Int4Quantizer.ErrorSquares(weights, m, rows, cols, block);
        var symmetric = Int4Quantizer.Quantize(weights, rows, cols, block, Int4Rule.FullRange);
        var (symmetricError, _) = Int4Quantizer.ErrorSquares(weights, symmetric, rows, cols, block);
        Assert.True(error < symmetricError, $"zero points lost {Math.Sqrt(error / total):P2}, not less than symmetric {Math.Sqrt(symmetricError / total):P2} on a shifted range");
    }
}
