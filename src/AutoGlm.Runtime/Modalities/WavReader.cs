using System.Buffers.Binary;

namespace AutoGlm.Runtime.Modalities;

/// <summary>A decoded clip: mono samples in [-1, 1] at their own rate.</summary>
public sealed record AudioClip(float[] Samples, int SampleRate, int SourceChannels)
{
    public double Seconds => (double)Samples.Length / SampleRate;
}

/// <summary>
/// Reads RIFF/WAVE: PCM 8 (unsigned), 16, 24 and 32-bit, IEEE float 32 and 64-bit, and WAVE_FORMAT_EXTENSIBLE with
/// either; any channel count, mixed down to mono by averaging.
/// </summary>
/// <remarks>
/// Every size in the header is checked against the bytes actually there, so a header that lies (a data chunk longer
/// than the file, a block alignment that does not match the format) is refused rather than read past. Stateless.
/// </remarks>
public static class WavReader
{
    private const ushort FormatPcm = 1, FormatFloat = 3, FormatExtensible = 0xFFFE;

    /// <exception cref="RuntimeException"><see cref="RuntimeErrorCode.UnsupportedMedia"/> naming the problem.</exception>
    public static AudioClip Read(ReadOnlySpan<byte> data, string label = "audio")
    {
        RuntimeException Bad(string problem) => new(RuntimeErrorCode.UnsupportedMedia, $"the {label} {problem}");
        Locate(data, Bad, out var format, out var samples);
        return Decode(format, samples, Bad);
    }

    /// <summary>The clip's length in frames and its sample rate, from its header alone (checked as <see cref="Read"/> checks it).</summary>
    /// <exception cref="RuntimeException"><see cref="RuntimeErrorCode.UnsupportedMedia"/> naming the problem.</exception>
    public static (int Frames, int SampleRate) ReadHeader(ReadOnlySpan<byte> data, string label = "audio")
    {
        RuntimeException Bad(string problem) => new(RuntimeErrorCode.UnsupportedMedia, $"the {label} {problem}");
        Locate(data, Bad, out var format, out var samples);
        var f = ParseFormat(format, samples, Bad);
        return (f.Frames, f.SampleRate);
    }

    /// <summary>Walks the RIFF chunks to the <c>fmt </c> and <c>data</c> chunks, checking every size against the bytes there.</summary>
    private static void Locate(ReadOnlySpan<byte> data, Func<string, RuntimeException> bad, out ReadOnlySpan<byte> format, out ReadOnlySpan<byte> samples)
    {
        if (data.Length < 12 || !data[..4].SequenceEqual("RIFF"u8) || !data.Slice(8, 4).SequenceEqual("WAVE"u8))
        {
            throw bad(data.Length == 0 ? "is empty" : $"is not a WAV file ({Describe(data)}); this device reads WAV (PCM or float)");
        }

        format = default;
        var offset = 12;
        while (offset + 8 <= data.Length)
        {
            var id = data.Slice(offset, 4);
            var size = BinaryPrimitives.ReadUInt32LittleEndian(data[(offset + 4)..]);
            var body = offset + 8;
            if (id.SequenceEqual("fmt "u8))
            {
                if (size < 16 || size > (uint)(data.Length - body))
                {
                    throw bad($"has a fmt chunk of {size} bytes where {data.Length - body} remain (at least 16 needed)");
                }

                format = data.Slice(body, (int)size);
            }
            else if (id.SequenceEqual("data"u8))
            {
                if (format.IsEmpty)
                {
                    throw bad("has its data chunk before any fmt chunk");
                }

                if (size > (uint)(data.Length - body))
                {
                    throw bad($"declares {size} bytes of samples but only {data.Length - body} follow (truncated or a lying header)");
                }

                samples = data.Slice(body, (int)size);
                return;
            }

            if (size > (uint)(data.Length - body))
            {
                throw bad($"has a '{System.Text.Encoding.ASCII.GetString(id)}' chunk of {size} bytes where {data.Length - body} remain");
            }

            offset = body + (int)size + (int)(size & 1);
        }

        throw bad(format.IsEmpty ? "has no fmt chunk" : "has no data chunk");
    }

    private static AudioClip Decode(ReadOnlySpan<byte> format, ReadOnlySpan<byte> data, Func<string, RuntimeException> bad)
    {
        var f = ParseFormat(format, data, bad);
        var samples = new float[f.Frames];
        var bytesPerSample = f.Bits / 8;
        for (var i = 0; i < f.Frames; i++)
        {
            var frame = data.Slice(i * f.BlockAlign, f.BlockAlign);
            float sum = 0;
            for (var c = 0; c < f.Channels; c++)
            {
                sum += Sample(frame.Slice(c * bytesPerSample, bytesPerSample), f.Tag, f.Bits);
            }

            samples[i] = sum / f.Channels;
        }

        return new AudioClip(samples, f.SampleRate, f.Channels);
    }

    /// <summary>What the fmt chunk says, checked against the sample data it describes.</summary>
    private readonly record struct WavFormat(ushort Tag, int Channels, int SampleRate, int BlockAlign, int Bits, int Frames);

    private static WavFormat ParseFormat(ReadOnlySpan<byte> format, ReadOnlySpan<byte> data, Func<string, RuntimeException> bad)
    {
        var tag = BinaryPrimitives.ReadUInt16LittleEndian(format);
        var channels = BinaryPrimitives.ReadUInt16LittleEndian(format[2..]);
        var rate = BinaryPrimitives.ReadUInt32LittleEndian(format[4..]);
        var blockAlign = BinaryPrimitives.ReadUInt16LittleEndian(format[12..]);
        var bits = BinaryPrimitives.ReadUInt16LittleEndian(format[14..]);
        if (tag == FormatExtensible)
        {
            if (format.Length < 40)
            {
                throw bad("is WAVE_FORMAT_EXTENSIBLE with a short fmt chunk");
            }

            // The sub-format GUID's first two bytes are the real format tag.
            tag = BinaryPrimitives.ReadUInt16LittleEndian(format[24..]);
        }

        if (tag is not (FormatPcm or FormatFloat))
        {
            throw bad($"uses WAV format tag 0x{tag:X4} ({FormatName(tag)}); this device reads PCM and IEEE float WAV only");
        }

        var valid = tag == FormatPcm ? bits is 8 or 16 or 24 or 32 : bits is 32 or 64;
        if (!valid)
        {
            throw bad($"has {bits}-bit {(tag == FormatPcm ? "PCM" : "float")} samples; supported: PCM 8/16/24/32-bit, float 32/64-bit");
        }

        if (channels is 0 or > 32)
        {
            throw bad($"declares {channels} channels");
        }

        if (rate is < 1000 or > 768_000)
        {
            throw bad($"declares a sample rate of {rate} Hz");
        }

        if (blockAlign != channels * (bits / 8))
        {
            throw bad($"declares a block alignment of {blockAlign} bytes for {channels} channel(s) of {bits} bits (expected {channels * (bits / 8)})");
        }

        var frames = data.Length / blockAlign;
        if (frames == 0)
        {
            throw bad("holds no samples (zero-length audio)");
        }

        return new WavFormat(tag, channels, (int)rate, blockAlign, bits, frames);
    }

    private static float Sample(ReadOnlySpan<byte> s, ushort tag, int bits) => (tag, bits) switch
    {
        (FormatPcm, 8) => (s[0] - 128) / 128f,
        (FormatPcm, 16) => BinaryPrimitives.ReadInt16LittleEndian(s) / 32768f,
        (FormatPcm, 24) => (((s[2] << 24) | (s[1] << 16) | (s[0] << 8)) >> 8) / 8388608f,
        (FormatPcm, 32) => BinaryPrimitives.ReadInt32LittleEndian(s) / 2147483648f,
        (FormatFloat, 32) => Clean(BinaryPrimitives.ReadSingleLittleEndian(s)),
        _ => Clean((float)BinaryPrimitives.ReadDoubleLittleEndian(s)),
    };

    /// <summary>Float files may hold NaN or huge values; clamp so one bad sample cannot poison the features.</summary>
    private static float Clean(float value) => float.IsNaN(value) ? 0 : Math.Clamp(value, -1f, 1f);

    private static string FormatName(ushort tag) => tag switch
    {
        2 => "Microsoft ADPCM",
        6 => "A-law",
        7 => "µ-law",
        0x11 => "IMA ADPCM",
        0x55 => "MP3",
        _ => "unknown",
    };

    private static string Describe(ReadOnlySpan<byte> data) =>
        $"{data.Length} bytes starting {Convert.ToHexString(data[..Math.Min(4, data.Length)])}";
}
