using System.Buffers.Binary;

namespace AutoGlm.Runtime.Modalities;

/// <summary>Recognizes media by its bytes, not by what the sender claims: the one sniffer both front doors use.</summary>
/// <remarks>
/// <see cref="Detect"/> names any format by its magic number; <see cref="SniffImage"/> and <see cref="SniffAudio"/>
/// also
/// check the frame around the magic number (JPEG's end-of-image marker, PNG's IHDR and IEND chunks,
/// WAV's <c>fmt </c> chunk), so a valid header followed by garbage is refused too. Stateless and thread-safe.
/// </remarks>
public static class MediaSniffer
{
    private static ReadOnlySpan<byte> PngSignature => [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>The media type the first bytes show (images: JPEG, PNG, WebP, GIF, BMP; audio: WAV, MP3), or null.</summary>
    public static string? Detect(ReadOnlySpan<byte> bytes) => bytes switch
    {
        [0x89, (byte)'P', (byte)'N', (byte)'G', ..] => "image/png",
        [0xFF, 0xD8, 0xFF, ..] => "image/jpeg",
        [(byte)'G', (byte)'I', (byte)'F', (byte)'8', ..] => "image/gif",
        [(byte)'B', (byte)'M', _, _, _, _, 0, 0, 0, 0, ..] => "image/bmp",
        [(byte)'R', (byte)'I', (byte)'F', (byte)'F', _, _, _, _, (byte)'W', (byte)'E', (byte)'B', (byte)'P', ..] => "image/webp",
        [(byte)'R', (byte)'I', (byte)'F', (byte)'F', _, _, _, _, (byte)'W', (byte)'A', (byte)'V', (byte)'E', ..] => "audio/wav",
        [(byte)'I', (byte)'D', (byte)'3', ..] => "audio/mpeg",
        [0xFF, var b, ..] when (b & 0xE0) == 0xE0 => "audio/mpeg",
        _ => null,
    };

    /// <summary>
    /// The media type of an image (JPEG and PNG checked for completeness; WebP, GIF and BMP by magic), or an error that
    /// says why not. Decoding proper happens in the vision adapter's preprocessing.
    /// </summary>
    public static (string? MediaType, string? Problem) SniffImage(ReadOnlySpan<byte> data)
    {
        if (data.Length >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF)
        {
            return IsJpeg(data) ? ("image/jpeg", null) : (null, "starts like a JPEG but is not a complete JPEG (bad marker or no end-of-image)");
        }

        if (data.StartsWith(PngSignature))
        {
            return IsPng(data) ? ("image/png", null) : (null, "starts like a PNG but is not a complete PNG (no IHDR or IEND chunk)");
        }

        return Detect(data) is { } type && type.StartsWith("image/", StringComparison.Ordinal)
            ? (type, null)
            : (null, $"is not a JPEG, PNG, WebP, GIF or BMP image ({Describe(data)})");
    }

    /// <summary>The media type of audio (<c>audio/wav</c>), or an error that says why not.</summary>
    public static (string? MediaType, string? Problem) SniffAudio(ReadOnlySpan<byte> data)
    {
        if (data.Length >= 12 && data[..4].SequenceEqual("RIFF"u8) && data.Slice(8, 4).SequenceEqual("WAVE"u8))
        {
            return IsWav(data) ? ("audio/wav", null) : (null, "starts like a WAV but has no valid fmt chunk");
        }

        return (null, $"is not a WAV file ({Describe(data)})");
    }

    private static bool IsJpeg(ReadOnlySpan<byte> data)
    {
        // Some webcams pad their MJPEG frames with zeros after the end-of-image marker.
        var end = data.TrimEnd((byte)0);
        return end.Length >= 6
            && (data[3] is >= 0xC0 and <= 0xFE) // the first segment after SOI is a real marker (APPn, DQT, SOF, …)
            && end[^2] == 0xFF && end[^1] == 0xD9;
    }

    private static bool IsPng(ReadOnlySpan<byte> data) =>
        data.Length >= 8 + 25 + 12
        && BinaryPrimitives.ReadUInt32BigEndian(data[8..]) == 13
        && data.Slice(12, 4).SequenceEqual("IHDR"u8)
        && data.Slice(data.Length - 8, 4).SequenceEqual("IEND"u8);

    private static bool IsWav(ReadOnlySpan<byte> data)
    {
        // Walk the RIFF chunks looking for "fmt " with a plausible PCM header.
        var offset = 12;
        while (offset + 8 <= data.Length)
        {
            var id = data.Slice(offset, 4);
            var size = BinaryPrimitives.ReadUInt32LittleEndian(data[(offset + 4)..]);
            if (id.SequenceEqual("fmt "u8))
            {
                if (size < 16 || offset + 8 + 16 > data.Length)
                {
                    return false;
                }

                var format = data.Slice(offset + 8, 16);
                var channels = BinaryPrimitives.ReadUInt16LittleEndian(format[2..]);
                var sampleRate = BinaryPrimitives.ReadUInt32LittleEndian(format[4..]);
                var bits = BinaryPrimitives.ReadUInt16LittleEndian(format[14..]);
                return channels is > 0 and <= 16 && sampleRate is > 0 and <= 768_000 && bits is > 0 and <= 64;
            }

            if (size > int.MaxValue - offset - 9)
            {
                return false;
            }

            offset += 8 + (int)size + (int)(size & 1);
        }

        return false;
    }

    private static string Describe(ReadOnlySpan<byte> data) =>
        data.Length == 0 ? "it is empty" : $"{data.Length} bytes starting {Convert.ToHexString(data[..Math.Min(4, data.Length)])}";
}
