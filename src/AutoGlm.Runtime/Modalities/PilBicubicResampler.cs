namespace AutoGlm.Runtime.Modalities;

/// <summary>
/// Pillow's bicubic resize of an 8-bit RGB image (<c>Image.resize(size, Image.BICUBIC)</c>), reproduced to the byte:
/// the same filter (Keys' cubic, a = −0.5) widened by the downscale factor (antialiasing), the same bounds and
/// coefficient normalization, the coefficients rounded to 22-bit fixed point, the horizontal pass first over only the
/// rows the vertical pass reads, and each pass rounded and clipped to 8 bits.
/// </summary>
/// <remarks>
/// This is what Hugging Face image processors that resize through PIL (GLM-4.1V's <c>Glm4vImageProcessor</c>) feed
/// the model; SkiaSharp's cubic samplers differ from it by several levels at edges. Thread-safe (no state).
/// </remarks>
internal static class PilBicubicResampler
{
    private const int PrecisionBits = 32 - 8 - 2;
    private const double Support = 2.0;

    /// <summary>Resizes interleaved RGB bytes (<paramref name="width"/>×<paramref name="height"/>) to the new size.</summary>
    public static byte[] Resize(byte[] rgb, int width, int height, int newWidth, int newHeight)
    {
        ArgumentOutOfRangeException.ThrowIfNotEqual(rgb.Length, width * height * 3, nameof(rgb));
        ArgumentOutOfRangeException.ThrowIfLessThan(newWidth, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(newHeight, 1);
        if (newWidth == width && newHeight == height)
        {
            return (byte[])rgb.Clone();
        }

        var (kHorizontal, boundsHorizontal, sizeHorizontal) = Coefficients(width, newWidth);
        var (kVertical, boundsVertical, sizeVertical) = Coefficients(height, newHeight);
        var source = rgb;
        int sourceHeight = height, sourceWidth = width;
        if (newWidth != width)
        {
            // Only the rows the vertical pass reads are resized horizontally.
            var first = boundsVertical[0];
            var last = boundsVertical[(newHeight * 2) - 2] + boundsVertical[(newHeight * 2) - 1];
            if (newHeight == height)
            {
                first = 0;
                last = height;
            }
            else
            {
                for (var i = 0; i < newHeight; i++)
                {
                    boundsVertical[i * 2] -= first;
                }
            }

            source = Horizontal(rgb, width, first, last - first, newWidth, kHorizontal, boundsHorizontal, sizeHorizontal);
            sourceHeight = last - first;
            sourceWidth = newWidth;
        }

        return newHeight != height ? Vertical(source, sourceWidth, newHeight, kVertical, boundsVertical, sizeVertical) : source;
    }

    private static double Filter(double x)
    {
        const double a = -0.5;
        if (x < 0.0)
        {
            x = -x;
        }

        if (x < 1.0)
        {
            return ((((a + 2.0) * x) - (a + 3.0)) * x * x) + 1;
        }

        if (x < 2.0)
        {
            return ((((x - 5) * x) + 8) * x - 4) * a;
        }

        return 0.0;
    }

    /// <summary>Pillow's <c>precompute_coeffs</c> then <c>normalize_coeffs_8bpc</c>: per output pixel its first input, count, and fixed-point weights.</summary>
    private static (int[] Kernel, int[] Bounds, int KernelSize) Coefficients(int inSize, int outSize)
    {
        var scale = (double)inSize / outSize;
        var filterScale = scale < 1.0 ? 1.0 : scale;
        var support = Support * filterScale;
        var kernelSize = ((int)Math.Ceiling(support) * 2) + 1;
        var weights = new double[outSize * kernelSize];
        var bounds = new int[outSize * 2];
        for (var xx = 0; xx < outSize; xx++)
        {
            var center = (xx + 0.5) * scale;
            var ww = 0.0;
            var ss = 1.0 / filterScale;
            var xmin = Math.Max(0, (int)(center - support + 0.5));
            var xmax = Math.Min(inSize, (int)(center + support + 0.5)) - xmin;
            var k = weights.AsSpan(xx * kernelSize, kernelSize);
            for (var x = 0; x < xmax; x++)
            {
                var w = Filter((x + xmin - center + 0.5) * ss);
                k[x] = w;
                ww += w;
            }

            for (var x = 0; x < xmax; x++)
            {
                if (ww != 0.0)
                {
                    k[x] /= ww;
                }
            }

            bounds[xx * 2] = xmin;
            bounds[(xx * 2) + 1] = xmax;
        }

        var fixedPoint = new int[weights.Length];
        for (var i = 0; i < weights.Length; i++)
        {
            fixedPoint[i] = weights[i] < 0 ? (int)(-0.5 + (weights[i] * (1 << PrecisionBits))) : (int)(0.5 + (weights[i] * (1 << PrecisionBits)));
        }

        return (fixedPoint, bounds, kernelSize);
    }

    private static byte Clip8(int value) => (byte)Math.Clamp(value >> PrecisionBits, 0, 255);

    private static byte[] Horizontal(byte[] source, int width, int firstRow, int rows, int newWidth, int[] kernel, int[] bounds, int kernelSize)
    {
        var result = new byte[rows * newWidth * 3];
        for (var y = 0; y < rows; y++)
        {
            var row = (y + firstRow) * width * 3;
            for (var xx = 0; xx < newWidth; xx++)
            {
                var xmin = bounds[xx * 2];
                var xmax = bounds[(xx * 2) + 1];
                var k = kernel.AsSpan(xx * kernelSize, kernelSize);
                int s0 = 1 << (PrecisionBits - 1), s1 = s0, s2 = s0;
                for (var x = 0; x < xmax; x++)
                {
                    var at = row + ((x + xmin) * 3);
                    s0 += source[at] * k[x];
                    s1 += source[at + 1] * k[x];
                    s2 += source[at + 2] * k[x];
                }

                var o = ((y * newWidth) + xx) * 3;
                result[o] = Clip8(s0);
                result[o + 1] = Clip8(s1);
                result[o + 2] = Clip8(s2);
            }
        }

        return result;
    }

    private static byte[] Vertical(byte[] source, int width, int newHeight, int[] kernel, int[] bounds, int kernelSize)
    {
        var result = new byte[newHeight * width * 3];
        for (var yy = 0; yy < newHeight; yy++)
        {
            var ymin = bounds[yy * 2];
            var ymax = bounds[(yy * 2) + 1];
            var k = kernel.AsSpan(yy * kernelSize, kernelSize);
            for (var xx = 0; xx < width; xx++)
            {
                int s0 = 1 << (PrecisionBits - 1), s1 = s0, s2 = s0;
                for (var y = 0; y < ymax; y++)
                {
                    var at = (((y + ymin) * width) + xx) * 3;
                    s0 += source[at] * k[y];
                    s1 += source[at + 1] * k[y];
                    s2 += source[at + 2] * k[y];
                }

                var o = ((yy * width) + xx) * 3;
                result[o] = Clip8(s0);
                result[o + 1] = Clip8(s1);
                result[o + 2] = Clip8(s2);
            }
        }

        return result;
    }
}
