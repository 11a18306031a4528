using AutoGlm.Runtime.Packages;

namespace AutoGlm.Runtime.Modalities;

/// <summary>A clip made ready for the audio encoder: features and their shape, and the rows the encoder will make.</summary>
public sealed record PreparedAudio(float[] Features, long[] Shape, int Tokens, double Seconds);

/// <summary>WAV → mono → the adapter's sample rate → the adapter's features (log-mel or raw waveform).</summary>
/// <remarks>Thread-safe; holds the adapter's DFT and filter tables.</remarks>
public sealed class AudioPreprocessor
{
    private readonly AudioAdapterInfo _info;
    private readonly MediaLimits _limits;
    private readonly LogMelSpectrogram? _mel;

    public AudioPreprocessor(AudioAdapterInfo info, MediaLimits limits)
    {
        _info = info;
        _limits = limits;
        _mel = info.Features == "log_mel" ? new LogMelSpectrogram(info.SampleRate, info.FftSize, info.HopLength, info.MelBins) : null;
    }

    /// <summary>Samples (at the adapter's rate) per encoder row.</summary>
    private int SamplesPerRow => _mel is null ? _info.FramesPerToken : _info.HopLength * _info.FramesPerToken;

    /// <summary>The rows <see cref="Prepare"/> would make of this WAV, from its header alone (nothing decoded).</summary>
    /// <exception cref="RuntimeException"><see cref="RuntimeErrorCode.UnsupportedMedia"/> for a WAV <see cref="Prepare"/> would refuse.</exception>
    public int RowsFor(ReadOnlySpan<byte> wav)
    {
        var (frames, rate) = WavReader.ReadHeader(wav);
        var length = AudioResampler.OutputLength(frames, rate, _info.SampleRate);
        return (length + SamplesPerRow - 1) / SamplesPerRow;
    }

    /// <exception cref="RuntimeException"><see cref="RuntimeErrorCode.UnsupportedMedia"/> or <see cref="RuntimeErrorCode.PayloadTooLarge"/>, naming the problem.</exception>
    public PreparedAudio Prepare(ReadOnlySpan<byte> wav, string label = "audio")
    {
        var clip = WavReader.Read(wav, label);
        if (clip.Seconds > _limits.MaxAudioSeconds)
        {
            throw new RuntimeException(RuntimeErrorCode.PayloadTooLarge, $"the {label} lasts {clip.Seconds:0.##} s; Runtime:Media:MaxAudioSeconds allows {_limits.MaxAudioSeconds:0.##}");
        }

        var samples = AudioResampler.Resample(clip.Samples, clip.SampleRate, _info.SampleRate);

        // Zero-pad to a whole number of encoder rows.
        var unit = SamplesPerRow;
        var length = (samples.Length + unit - 1) / unit * unit;
        Array.Resize(ref samples, length);
        if (_mel is null)
        {
            return new PreparedAudio(samples, [1, length], length / _info.FramesPerToken, clip.Seconds);
        }

        var features = _mel.Compute(samples, out var frames);
        return new PreparedAudio(features, [1, _info.MelBins, frames], frames / _info.FramesPerToken, clip.Seconds);
    }
}
