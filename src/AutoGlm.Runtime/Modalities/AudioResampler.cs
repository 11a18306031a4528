namespace AutoGlm.Runtime.Modalities;

/// <summary>Band-limited resampling with a Hann-windowed sinc (16 zero crossings), low-passed when downsampling.</summary>
/// <remarks>Stateless and thread-safe. Quality well above what speech encoders need; cost grows with the rate ratio.</remarks>
public static class AudioResampler
{
    private const int ZeroCrossings = 16;

    public static float[] Resample(ReadOnlySpan<float> input, int fromRate, int toRate)
    {
        if (fromRate == toRate)
        {
            return input.ToArray();
        }

        var ratio = (double)toRate / fromRate;
        var cutoff = Math.Min(1.0, ratio);
        var halfWidth = ZeroCrossings / cutoff;
        var output = new float[(int)Math.Ceiling(input.Length * ratio)];
        for (var j = 0; j < output.Length; j++)
        {
            var t = j / ratio;
            var first = Math.Max(0, (int)Math.Ceiling(t - halfWidth));
            var last = Math.Min(input.Length - 1, (int)Math.Floor(t + halfWidth));
            double sum = 0;
            for (var i = first; i <= last; i++)
            {
                var x = t - i;
                var window = 0.5 * (1 + Math.Cos(Math.PI * x / halfWidth));
                sum += input[i] * cutoff * Sinc(cutoff * x) * window;
            }

            output[j] = (float)sum;
        }

        return output;
    }

    private static double Sinc(double x) => Math.Abs(x) < 1e-9 ? 1 : Math.Sin(Math.PI * x) / (Math.PI * x);
}
