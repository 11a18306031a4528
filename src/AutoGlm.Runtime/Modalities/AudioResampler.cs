using System.Numerics.Tensors;

namespace AutoGlm.Runtime.Modalities;

/// <summary>Band-limited resampling with a Hann-windowed sinc (16 zero crossings), low-passed when downsampling.</summary>
/// <remarks>
/// For rates whose ratio reduces to at most <see cref="MaxPhases"/> output phases (every common pair: 44.1 k → 16 k
/// is 160/441) the filter is tabulated once per phase and each output sample is one vectorized dot product; other
/// ratios compute the taps per sample. Stateless and thread-safe.
/// </remarks>
public static class AudioResampler
{
    private const int ZeroCrossings = 16;
    private const int MaxPhases = 1024;

    public static float[] Resample(ReadOnlySpan<float> input, int fromRate, int toRate)
    {
        if (fromRate == toRate)
        {
            return input.ToArray();
        }

        var divisor = Gcd(fromRate, toRate);
        var (up, down) = (toRate / divisor, fromRate / divisor);
        var output = new float[OutputLength(input.Length, fromRate, toRate)];
        var cutoff = Math.Min(1.0, (double)up / down);
        var halfWidth = ZeroCrossings / cutoff;
        var reach = (int)Math.Ceiling(halfWidth);
        if (up > MaxPhases)
        {
            ResampleDirect(input, output, (double)up / down, cutoff, halfWidth);
            return output;
        }

        // Output j sits at input time j·down/up = base + phase/up; its taps cover input base−reach+1 … base+reach.
        var taps = 2 * reach;
        var table = new float[up * taps];
        for (var phase = 0; phase < up; phase++)
        {
            var fraction = (double)phase / up;
            for (var k = 0; k < taps; k++)
            {
                var x = fraction - (k - reach + 1);
                table[(phase * taps) + k] = (float)Tap(x, cutoff, halfWidth);
            }
        }

        var padded = new float[input.Length + (2 * taps)];
        input.CopyTo(padded.AsSpan(taps));
        for (var j = 0; j < output.Length; j++)
        {
            var position = (long)j * down;
            var at = (int)(position / up);
            var phase = (int)(position % up);
            output[j] = TensorPrimitives.Dot(padded.AsSpan(at - reach + 1 + taps, taps), table.AsSpan(phase * taps, taps));
        }

        return output;
    }

    /// <summary>How many samples <see cref="Resample"/> makes of <paramref name="inputLength"/>.</summary>
    public static int OutputLength(int inputLength, int fromRate, int toRate) =>
        fromRate == toRate ? inputLength : (int)Math.Ceiling(inputLength * (double)toRate / fromRate);

    private static void ResampleDirect(ReadOnlySpan<float> input, float[] output, double ratio, double cutoff, double halfWidth)
    {
        for (var j = 0; j < output.Length; j++)
        {
            var t = j / ratio;
            var first = Math.Max(0, (int)Math.Ceiling(t - halfWidth));
            var last = Math.Min(input.Length - 1, (int)Math.Floor(t + halfWidth));
            double sum = 0;
            for (var i = first; i <= last; i++)
            {
                sum += input[i] * Tap(t - i, cutoff, halfWidth);
            }

            output[j] = (float)sum;
        }
    }

    /// <summary>The filter's weight for an input sample <paramref name="x"/> input periods from the output instant.</summary>
    private static double Tap(double x, double cutoff, double halfWidth)
    {
        if (Math.Abs(x) >= halfWidth)
        {
            return 0;
        }

        var window = 0.5 * (1 + Math.Cos(Math.PI * x / halfWidth));
        var arg = cutoff * x;
        var sinc = Math.Abs(arg) < 1e-9 ? 1 : Math.Sin(Math.PI * arg) / (Math.PI * arg);
        return cutoff * sinc * window;
    }

    private static int Gcd(int a, int b) => b == 0 ? a : Gcd(b, a % b);
}
