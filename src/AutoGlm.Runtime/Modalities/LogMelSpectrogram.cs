using System.Numerics.Tensors;

namespace AutoGlm.Runtime.Modalities;

/// <summary>
/// Whisper's log-mel features: centred frames (reflect padding), periodic Hann window, power spectrum, Slaney mel
/// filters (librosa's defaults), log10 floored at 1e-10, clamped to max − 8, then (x + 4) / 4. The last frame of the
/// centred STFT is dropped, so a clip of N samples gives N / hop frames.
/// </summary>
/// <remarks>Immutable after construction and thread-safe; the DFT and filter tables are built once per adapter.</remarks>
public sealed class LogMelSpectrogram
{
    private readonly int _fftSize, _hop, _bins, _melBins;
    private readonly float[] _window, _cos, _sin, _filters;

    public LogMelSpectrogram(int sampleRate, int fftSize, int hopLength, int melBins)
    {
        _fftSize = fftSize;
        _hop = hopLength;
        _melBins = melBins;
        _bins = (fftSize / 2) + 1;
        _window = new float[fftSize];
        for (var n = 0; n < fftSize; n++)
        {
            _window[n] = (float)(0.5 - (0.5 * Math.Cos(2 * Math.PI * n / fftSize)));
        }

        _cos = new float[_bins * fftSize];
        _sin = new float[_bins * fftSize];
        for (var k = 0; k < _bins; k++)
        {
            for (var n = 0; n < fftSize; n++)
            {
                var angle = 2 * Math.PI * k * n / fftSize;
                _cos[(k * fftSize) + n] = (float)Math.Cos(angle);
                _sin[(k * fftSize) + n] = (float)Math.Sin(angle);
            }
        }

        _filters = MelFilters(sampleRate, fftSize, melBins);
    }

    /// <summary>The mel filter bank, <c>[mel_bins, fft_size/2 + 1]</c> row-major.</summary>
    public ReadOnlySpan<float> Filters => _filters;

    /// <summary>Features <c>[mel_bins, frames]</c> (row-major) of <paramref name="samples"/>, whose length must be a multiple of the hop.</summary>
    public float[] Compute(ReadOnlySpan<float> samples, out int frames)
    {
        frames = samples.Length / _hop;
        var half = _fftSize / 2;
        var padded = new float[samples.Length + (2 * half)];
        samples.CopyTo(padded.AsSpan(half));
        for (var i = 1; i <= half; i++)
        {
            // Reflect like numpy's "reflect" mode; clips shorter than half a window are zero-padded instead.
            padded[half - i] = i < samples.Length ? samples[i] : 0;
            padded[half + samples.Length - 1 + i] = samples.Length - 1 - i >= 0 ? samples[samples.Length - 1 - i] : 0;
        }

        var features = new float[_melBins * frames];
        var windowed = new float[_fftSize];
        var power = new float[_bins];
        var max = float.MinValue;
        for (var f = 0; f < frames; f++)
        {
            TensorPrimitives.Multiply(padded.AsSpan(f * _hop, _fftSize), _window, windowed);
            for (var k = 0; k < _bins; k++)
            {
                var re = TensorPrimitives.Dot(windowed, _cos.AsSpan(k * _fftSize, _fftSize));
                var im = TensorPrimitives.Dot(windowed, _sin.AsSpan(k * _fftSize, _fftSize));
                power[k] = (re * re) + (im * im);
            }

            for (var m = 0; m < _melBins; m++)
            {
                var energy = TensorPrimitives.Dot(_filters.AsSpan(m * _bins, _bins), power);
                var log = MathF.Log10(MathF.Max(energy, 1e-10f));
                features[(m * frames) + f] = log;
                max = MathF.Max(max, log);
            }
        }

        var floor = max - 8f;
        for (var i = 0; i < features.Length; i++)
        {
            features[i] = (MathF.Max(features[i], floor) + 4f) / 4f;
        }

        return features;
    }

    private static float[] MelFilters(int sampleRate, int fftSize, int melBins)
    {
        var bins = (fftSize / 2) + 1;
        var fftFrequencies = Enumerable.Range(0, bins).Select(i => (double)i * sampleRate / fftSize).ToArray();
        var minMel = HzToMel(0);
        var maxMel = HzToMel(sampleRate / 2.0);
        var melPoints = Enumerable.Range(0, melBins + 2).Select(i => MelToHz(minMel + ((maxMel - minMel) * i / (melBins + 1)))).ToArray();
        var filters = new float[melBins * bins];
        for (var m = 0; m < melBins; m++)
        {
            var lowerWidth = melPoints[m + 1] - melPoints[m];
            var upperWidth = melPoints[m + 2] - melPoints[m + 1];
            var norm = 2.0 / (melPoints[m + 2] - melPoints[m]);
            for (var k = 0; k < bins; k++)
            {
                var lower = (fftFrequencies[k] - melPoints[m]) / lowerWidth;
                var upper = (melPoints[m + 2] - fftFrequencies[k]) / upperWidth;
                filters[(m * bins) + k] = (float)(Math.Max(0, Math.Min(lower, upper)) * norm);
            }
        }

        return filters;
    }

    // The Slaney mel scale: linear below 1 kHz, logarithmic above.
    private const double LinearStep = 200.0 / 3, BreakHz = 1000, LogStep = 0.06875177742094912; // ln(6.4) / 27

    internal static double HzToMel(double hz) => hz < BreakHz ? hz / LinearStep : (BreakHz / LinearStep) + (Math.Log(hz / BreakHz) / LogStep);

    internal static double MelToHz(double mel) => mel < BreakHz / LinearStep ? mel * LinearStep : BreakHz * Math.Exp(LogStep * (mel - (BreakHz / LinearStep)));
}
