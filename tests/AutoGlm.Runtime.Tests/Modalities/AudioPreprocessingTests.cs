using System.Buffers.Binary;
using AutoGlm.Runtime.Modalities;
using AutoGlm.Runtime.Packages;
using AutoGlm.Tests.Media;

namespace AutoGlm.Runtime.Tests.Modalities;

public sealed class AudioPreprocessingTests
{
    private static readonly AudioAdapterInfo LogMel = new() { Model = "audio.onnx", FramesPerToken = 8 };

    [Theory]
    [InlineData(TestMedia.WavEncoding.Pcm8, 1, 0.01)]
    [InlineData(TestMedia.WavEncoding.Pcm16, 1, 1e-4)]
    [InlineData(TestMedia.WavEncoding.Pcm24, 1, 1e-6)]
    [InlineData(TestMedia.WavEncoding.Pcm32, 1, 1e-6)]
    [InlineData(TestMedia.WavEncoding.Float32, 1, 1e-7)]
    [InlineData(TestMedia.WavEncoding.Float64, 1, 1e-7)]
    [InlineData(TestMedia.WavEncoding.ExtensiblePcm16, 1, 1e-4)]
    [InlineData(TestMedia.WavEncoding.Pcm16, 2, 1e-4)]
    public void Read_EverySupportedEncoding_GivesTheSamples(TestMedia.WavEncoding encoding, int channels, double tolerance)
    {
        var tone = TestMedia.Tone(440, 0.05, 8000);

        var clip = WavReader.Read(TestMedia.Wav(tone, 8000, encoding, channels));

        Assert.Equal((8000, channels, tone.Length), (clip.SampleRate, clip.SourceChannels, clip.Samples.Length));
        Assert.All(Enumerable.Range(0, tone.Length), i => Assert.InRange(clip.Samples[i] - tone[i], -tolerance, tolerance));
    }

    [Fact]
    public void Read_StereoWithDifferentChannels_AveragesToMono()
    {
        var format = new byte[16];
        BinaryPrimitives.WriteUInt16LittleEndian(format, 1);
        BinaryPrimitives.WriteUInt16LittleEndian(format.AsSpan(2), 2);
        BinaryPrimitives.WriteInt32LittleEndian(format.AsSpan(4), 8000);
        BinaryPrimitives.WriteUInt16LittleEndian(format.AsSpan(12), 4);
        BinaryPrimitives.WriteUInt16LittleEndian(format.AsSpan(14), 16);
        byte[] data = [0x00, 0x40, 0x00, 0x00]; // left 0.5, right 0

        var clip = WavReader.Read(TestMedia.RiffWave(("fmt ", format), ("data", data)));

        Assert.Equal(0.25f, clip.Samples.Single(), 3);
    }

    public static TheoryData<string, string> BadWavs => new()
    {
        { "lying data size", "only" },
        { "zero-length", "zero-length" },
        { "adpcm", "ADPCM" },
        { "mp3 bytes", "not a WAV" },
        { "no fmt", "before any fmt" },
        { "bad block align", "block alignment" },
        { "12-bit", "12-bit" },
        { "empty", "is empty" },
    };

    [Theory]
    [MemberData(nameof(BadWavs))]
    public void Read_BadWav_IsUnsupportedMediaNamingTheProblem(string kind, string expected)
    {
        var good = TestMedia.Wav(TestMedia.Tone(440, 0.1, 8000), 8000);
        byte[] data;
        switch (kind)
        {
            case "lying data size":
                data = [.. good];
                BinaryPrimitives.WriteInt32LittleEndian(data.AsSpan(40), 1_000_000);
                break;
            case "zero-length":
                data = TestMedia.Wav([], 8000);
                break;
            case "adpcm":
                data = [.. good];
                BinaryPrimitives.WriteUInt16LittleEndian(data.AsSpan(20), 2);
                break;
            case "mp3 bytes":
                data = [0x49, 0x44, 0x33, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFB, 0x90, 0x00];
                break;
            case "no fmt":
                data = TestMedia.RiffWave(("data", new byte[16]));
                break;
            case "bad block align":
                data = [.. good];
                BinaryPrimitives.WriteUInt16LittleEndian(data.AsSpan(32), 3);
                break;
            case "12-bit":
                data = [.. good];
                BinaryPrimitives.WriteUInt16LittleEndian(data.AsSpan(34), 12);
                break;
            default:
                data = [];
                break;
        }

        var error = Assert.Throws<RuntimeException>(() => WavReader.Read(data));

        Assert.Equal(RuntimeErrorCode.UnsupportedMedia, error.Code);
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(44100, 16000, 1000)]
    [InlineData(8000, 16000, 1000)]
    [InlineData(48000, 16000, 3000)]
    [InlineData(44100, 16001, 1000)]
    public void Resample_Tone_KeepsItsFrequencyAndLevel(int from, int to, double frequency)
    {
        var output = AudioResampler.Resample(TestMedia.Tone(frequency, 0.5, from), from, to);

        Assert.InRange(output.Length, (to / 2) - 1, (to / 2) + 1);
        var middle = output.AsSpan(output.Length / 4, output.Length / 2);
        var expected = TestMedia.Tone(frequency, 0.5, to).AsSpan(output.Length / 4, output.Length / 2);
        var error = 0.0;
        for (var i = 0; i < middle.Length; i++)
        {
            error = Math.Max(error, Math.Abs(middle[i] - expected[i]));
        }

        Assert.True(error < 0.01, $"the resampled tone differs from a tone made at {to} Hz by up to {error}");
    }

    [Fact]
    public void Resample_AboveTheNewNyquist_IsFilteredOut()
    {
        var output = AudioResampler.Resample(TestMedia.Tone(10_000, 0.5, 44100), 44100, 16000);

        var rms = Math.Sqrt(output.AsSpan(1000, output.Length - 2000).ToArray().Average(v => v * v));
        Assert.True(rms < 0.01, $"a 10 kHz tone should vanish at 16 kHz (RMS {rms})");
    }

    [Fact]
    public void LogMel_Tone_PeaksInTheBandHoldingItsFrequency()
    {
        var mel = new LogMelSpectrogram(16000, 400, 160, 80);
        var features = mel.Compute(TestMedia.Tone(1000, 1, 16000), out var frames);

        Assert.Equal(100, frames);
        var energies = Enumerable.Range(0, 80).Select(m => features[(m * frames) + 50]).ToArray();
        var peak = Array.IndexOf(energies, energies.Max());
        var centre = LogMelSpectrogram.MelToHz(LogMelSpectrogram.HzToMel(8000) * (peak + 1) / 81);
        Assert.InRange(centre, 900, 1100);
        Assert.All(features, v => Assert.InRange(v, -1.01f, 1.51f)); // Whisper's scaling: within 8 decades of the max, (x+4)/4
    }

    [Fact]
    public void HzToMel_SlaneyScale_MatchesLibrosa()
    {
        // librosa.hz_to_mel(1000) = 15, hz_to_mel(4000) = 35.1638…, mel_to_hz(20) = 1410.24…
        Assert.Equal(15, LogMelSpectrogram.HzToMel(1000), 6);
        Assert.Equal(35.16376, LogMelSpectrogram.HzToMel(4000), 4);
        Assert.Equal(1410.24, LogMelSpectrogram.MelToHz(20), 2);
    }

    [Fact]
    public void Prepare_ThreeSecondsAt44k_GivesWholeEncoderRows()
    {
        var prepared = new AudioPreprocessor(LogMel, new MediaLimits()).Prepare(TestMedia.Wav(TestMedia.Tone(440, 3, 44100), 44100));

        // 3 s at 16 kHz = 300 frames of 10 ms; 8 frames per row → 37.5, padded to 38 rows (304 frames).
        Assert.Equal(new long[] { 1, 80, 304 }, prepared.Shape);
        Assert.Equal(38, prepared.Tokens);
        Assert.Equal(80 * 304, prepared.Features.Length);
    }

    [Theory]
    [InlineData(44100, 3.0, 2, "log_mel")]
    [InlineData(8000, 0.37, 1, "log_mel")]
    [InlineData(22050, 1.01, 1, "log_mel")]
    [InlineData(16000, 2.5, 1, "log_mel")]
    [InlineData(48000, 0.9, 2, "waveform")]
    public void RowsFor_HeaderOnly_EqualsWhatPrepareMakes(int rate, double seconds, int channels, string features)
    {
        var info = features == "waveform" ? LogMel with { Features = "waveform", FramesPerToken = 320 } : LogMel;
        var preprocessor = new AudioPreprocessor(info, new MediaLimits());
        var wav = TestMedia.Wav(TestMedia.Tone(300, seconds, rate), rate, TestMedia.WavEncoding.Pcm16, channels);

        Assert.Equal(preprocessor.Prepare(wav).Tokens, preprocessor.RowsFor(wav));
    }

    [Fact]
    public void Prepare_Waveform_PadsSamplesToWholeRows()
    {
        var info = LogMel with { Features = "waveform", FramesPerToken = 320 };

        var prepared = new AudioPreprocessor(info, new MediaLimits()).Prepare(TestMedia.Wav(TestMedia.Tone(440, 0.1, 16000), 16000));

        Assert.Equal(new long[] { 1, 1600 }, prepared.Shape);
        Assert.Equal(5, prepared.Tokens);
    }

    [Fact]
    public void Prepare_LongerThanTheLimit_IsPayloadTooLarge()
    {
        var error = Assert.Throws<RuntimeException>(() =>
            new AudioPreprocessor(LogMel, new MediaLimits { MaxAudioSeconds = 1 }).Prepare(TestMedia.Wav(TestMedia.Tone(440, 2, 8000), 8000)));

        Assert.Equal(RuntimeErrorCode.PayloadTooLarge, error.Code);
        Assert.Contains("MaxAudioSeconds", error.Message, StringComparison.Ordinal);
    }
}
