using System.Buffers.Binary;
using SkiaSharp;

namespace AutoGlm.Tests.Media;

/// <summary>Makes the images and WAV clips the tests send: real encoded files, built here so nothing is downloaded.</summary>
/// <remarks>Shared (linked) by the runtime and the daemon's test projects.</remarks>
public static class TestMedia
{
    /// <summary>An image of <paramref name="width"/>×<paramref name="height"/>: left half <paramref name="left"/>, right half <paramref name="right"/>.</summary>
    public static byte[] TwoColourImage(int width, int height, SKColor left, SKColor right, SKEncodedImageFormat format = SKEncodedImageFormat.Png, int quality = 95)
    {
        using var bitmap = new SKBitmap(width, height);
        using (var canvas = new SKCanvas(bitmap))
        {
            using var paint = new SKPaint { Color = left };
            canvas.DrawRect(0, 0, width / 2f, height, paint);
            paint.Color = right;
            canvas.DrawRect(width / 2f, 0, width - (width / 2f), height, paint);
        }

        return Encode(bitmap, format, quality);
    }

    /// <summary>A checkerboard of <paramref name="cells"/>×<paramref name="cells"/> squares.</summary>
    public static byte[] Checkerboard(int size, int cells, SKEncodedImageFormat format = SKEncodedImageFormat.Png)
    {
        using var bitmap = new SKBitmap(size, size);
        using (var canvas = new SKCanvas(bitmap))
        {
            using var white = new SKPaint { Color = SKColors.White };
            canvas.Clear(SKColors.Black);
            var cell = (float)size / cells;
            for (var y = 0; y < cells; y++)
            {
                for (var x = (y % 2); x < cells; x += 2)
                {
                    canvas.DrawRect(x * cell, y * cell, cell, cell, white);
                }
            }
        }

        return Encode(bitmap, format, 95);
    }

    /// <summary>A PNG of seeded noise over colour gradients and a few hard edges: every resampling tap matters.</summary>
    public static byte[] NoiseImage(int width, int height, int seed = 1)
    {
        var random = new Random(seed);
        using var bitmap = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque));
        var pixels = new byte[width * height * 4];
        for (var y = 0; y < height; y++)
        {
            for (var x = 0; x < width; x++)
            {
                var i = ((y * width) + x) * 4;
                var edge = ((x / 7) + (y / 11)) % 3 == 0 ? 120 : 0;
                pixels[i] = (byte)Math.Clamp((255 * x / width) + random.Next(-40, 41) - edge, 0, 255);
                pixels[i + 1] = (byte)Math.Clamp((255 * y / height) + random.Next(-40, 41), 0, 255);
                pixels[i + 2] = (byte)Math.Clamp(random.Next(0, 256) + edge, 0, 255);
                pixels[i + 3] = 255;
            }
        }

        System.Runtime.InteropServices.Marshal.Copy(pixels, 0, bitmap.GetPixels(), pixels.Length);
        return Encode(bitmap, SKEncodedImageFormat.Png, 100);
    }

    /// <summary>Adds an EXIF APP1 segment with the given orientation (1–8) right after a JPEG's start-of-image marker.</summary>
    public static byte[] WithExifOrientation(byte[] jpeg, ushort orientation)
    {
        byte[] exif =
        [
            0xFF, 0xE1, 0x00, 34, (byte)'E', (byte)'x', (byte)'i', (byte)'f', 0, 0,
            (byte)'I', (byte)'I', 0x2A, 0x00, 0x08, 0x00, 0x00, 0x00, // TIFF header, little-endian, IFD at 8
            0x01, 0x00,                                               // one entry
            0x12, 0x01, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, (byte)orientation, 0x00, 0x00, 0x00, // Orientation, SHORT, 1
            0x00, 0x00, 0x00, 0x00,                                   // no next IFD
        ];
        return [.. jpeg[..2], .. exif, .. jpeg[2..]];
    }

    /// <summary>A PNG whose header declares <paramref name="width"/>×<paramref name="height"/> but that holds a few bytes of data.</summary>
    public static byte[] PngBomb(int width, int height)
    {
        using var stream = new MemoryStream();
        stream.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]);
        var header = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(header, width);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), height);
        header[8] = 8;  // bit depth
        header[9] = 2;  // RGB
        WriteChunk(stream, "IHDR", header);
        WriteChunk(stream, "IDAT", [0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
        WriteChunk(stream, "IEND", []);
        return stream.ToArray();
    }

    /// <summary>A sine tone, mono, as float samples in [-1, 1].</summary>
    public static float[] Tone(double frequency, double seconds, int sampleRate, float amplitude = 0.5f) =>
        [.. Enumerable.Range(0, (int)(seconds * sampleRate)).Select(i => amplitude * (float)Math.Sin(2 * Math.PI * frequency * i / sampleRate))];

    /// <summary>The WAV sample encodings the reader supports.</summary>
    public enum WavEncoding
    {
        Pcm8,
        Pcm16,
        Pcm24,
        Pcm32,
        Float32,
        Float64,
        ExtensiblePcm16,
    }

    /// <summary>A WAV file of <paramref name="channels"/> channels, each holding <paramref name="samples"/>.</summary>
    public static byte[] Wav(float[] samples, int sampleRate, WavEncoding encoding = WavEncoding.Pcm16, int channels = 1)
    {
        var (tag, bits) = encoding switch
        {
            WavEncoding.Pcm8 => (1, 8),
            WavEncoding.Pcm16 => (1, 16),
            WavEncoding.Pcm24 => (1, 24),
            WavEncoding.Pcm32 => (1, 32),
            WavEncoding.Float32 => (3, 32),
            WavEncoding.Float64 => (3, 64),
            _ => (0xFFFE, 16),
        };
        var bytesPerSample = bits / 8;
        var data = new byte[samples.Length * channels * bytesPerSample];
        for (var i = 0; i < samples.Length; i++)
        {
            for (var c = 0; c < channels; c++)
            {
                var at = data.AsSpan(((i * channels) + c) * bytesPerSample);
                var v = Math.Clamp(samples[i], -1f, 1f);
                switch (encoding)
                {
                    case WavEncoding.Pcm8: at[0] = (byte)Math.Clamp(Math.Round((v * 127) + 128), 0, 255); break;
                    case WavEncoding.Pcm16 or WavEncoding.ExtensiblePcm16: BinaryPrimitives.WriteInt16LittleEndian(at, (short)Math.Round(v * 32767)); break;
                    case WavEncoding.Pcm24:
                        var s24 = (int)Math.Round(v * 8388607);
                        at[0] = (byte)s24; at[1] = (byte)(s24 >> 8); at[2] = (byte)(s24 >> 16);
                        break;
                    case WavEncoding.Pcm32: BinaryPrimitives.WriteInt32LittleEndian(at, (int)Math.Round(v * 2147483647.0)); break;
                    case WavEncoding.Float32: BinaryPrimitives.WriteSingleLittleEndian(at, v); break;
                    default: BinaryPrimitives.WriteDoubleLittleEndian(at, v); break;
                }
            }
        }

        var extensible = tag == 0xFFFE;
        var format = new byte[extensible ? 40 : 16];
        BinaryPrimitives.WriteUInt16LittleEndian(format, (ushort)tag);
        BinaryPrimitives.WriteUInt16LittleEndian(format.AsSpan(2), (ushort)channels);
        BinaryPrimitives.WriteInt32LittleEndian(format.AsSpan(4), sampleRate);
        BinaryPrimitives.WriteInt32LittleEndian(format.AsSpan(8), sampleRate * channels * bytesPerSample);
        BinaryPrimitives.WriteUInt16LittleEndian(format.AsSpan(12), (ushort)(channels * bytesPerSample));
        BinaryPrimitives.WriteUInt16LittleEndian(format.AsSpan(14), (ushort)bits);
        if (extensible)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(format.AsSpan(16), 22);
            BinaryPrimitives.WriteUInt16LittleEndian(format.AsSpan(18), (ushort)bits);
            BinaryPrimitives.WriteUInt16LittleEndian(format.AsSpan(24), 1); // KSDATAFORMAT_SUBTYPE_PCM's first bytes
            byte[] guidTail = [0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71];
            guidTail.CopyTo(format.AsSpan(26));
        }

        return RiffWave(("fmt ", format), ("data", data));
    }

    /// <summary>A RIFF/WAVE file made of the given chunks, sizes written truthfully.</summary>
    public static byte[] RiffWave(params (string Id, byte[] Body)[] chunks)
    {
        using var stream = new MemoryStream();
        stream.Write("RIFF"u8);
        stream.Write(new byte[4]);
        stream.Write("WAVE"u8);
        foreach (var (id, body) in chunks)
        {
            stream.Write(System.Text.Encoding.ASCII.GetBytes(id));
            var size = new byte[4];
            BinaryPrimitives.WriteInt32LittleEndian(size, body.Length);
            stream.Write(size);
            stream.Write(body);
            if (body.Length % 2 == 1)
            {
                stream.WriteByte(0);
            }
        }

        var bytes = stream.ToArray();
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(4), bytes.Length - 8);
        return bytes;
    }

    private static byte[] Encode(SKBitmap bitmap, SKEncodedImageFormat format, int quality)
    {
        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(format, quality);
        return data.ToArray();
    }

    private static void WriteChunk(Stream stream, string type, byte[] body)
    {
        var length = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(length, body.Length);
        stream.Write(length);
        var typeBytes = System.Text.Encoding.ASCII.GetBytes(type);
        stream.Write(typeBytes);
        stream.Write(body);
        var crc = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(crc, Crc32([.. typeBytes, .. body]));
        stream.Write(crc);
    }

    private static uint Crc32(byte[] bytes)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in bytes)
        {
            crc ^= b;
            for (var k = 0; k < 8; k++)
            {
                crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
            }
        }

        return ~crc;
    }
}
