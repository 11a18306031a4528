using AutoGlm.Edge.Sensors;
using SkiaSharp;

namespace AutoGlm.Edge.Tests.Sensors;

/// <summary>MJPEG frames without Huffman tables (as many UVC cameras send them) become JPEGs a still decoder reads.</summary>
public sealed class MjpegFramesTests
{
    /// <summary>
    /// A baseline 8×8 grey JPEG as a UVC camera would send it, with no DHT: one block whose DC difference is 0 (standard
    /// luminance DC code <c>00</c>) followed by end-of-block (standard luminance AC code <c>1010</c>), padded with ones.
    /// </summary>
    private static readonly byte[] GreyFrameWithoutTables =
    [
        0xFF, 0xD8,
        0xFF, 0xDB, 0x00, 0x43, 0x00, .. Enumerable.Repeat((byte)1, 64),
        0xFF, 0xC0, 0x00, 0x0B, 0x08, 0x00, 0x08, 0x00, 0x08, 0x01, 0x01, 0x11, 0x00,
        0xFF, 0xDA, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3F, 0x00,
        0b0010_1011,
        0xFF, 0xD9,
    ];

    [Fact]
    public void WithHuffmanTables_FrameWithoutDht_DecodesWithTheStandardTables()
    {
        var completed = MjpegFrames.WithHuffmanTables(GreyFrameWithoutTables);

        Assert.Equal(GreyFrameWithoutTables.Length + MjpegFrames.StandardDht.Length, completed.Length);
        using var bitmap = SKBitmap.Decode(completed);
        Assert.NotNull(bitmap);
        Assert.Equal((8, 8), (bitmap.Width, bitmap.Height));
        Assert.All(bitmap.Pixels, p => Assert.Equal(new SKColor(128, 128, 128), p));
    }

    [Fact]
    public void StandardTables_GiveTheCodesOfItuT81AnnexK()
    {
        var tables = Parse(MjpegFrames.StandardDht.ToArray());

        // Table K.3 (luminance DC), K.4 (chrominance DC), K.5 (luminance AC), K.6 (chrominance AC): symbol -> code.
        AssertCodes(tables[0x00], (0, "00"), (1, "010"), (5, "110"), (6, "1110"), (11, "111111110"));
        AssertCodes(tables[0x01], (0, "00"), (1, "01"), (3, "110"), (11, "11111111110"));
        AssertCodes(tables[0x10], (0x00, "1010"), (0x01, "00"), (0x03, "100"), (0x05, "11010"), (0x11, "1100"), (0x21, "11100"), (0xF0, "11111111001"), (0xFA, "1111111111111110"));
        AssertCodes(tables[0x11], (0x00, "00"), (0x02, "100"), (0x03, "1010"), (0x11, "1011"), (0xF0, "1111111010"), (0xFA, "1111111111111110"));
        Assert.All(tables.Values, table => Assert.Equal(table.Count, table.Values.Distinct().Count()));
    }

    [Fact]
    public void WithHuffmanTables_FrameWithDhtOrNotAJpeg_IsLeftAsItIs()
    {
        var frame = TestFrames.Jpeg(2);
        var png = Support.Media.Png();

        Assert.Same(frame, MjpegFrames.WithHuffmanTables(frame));
        Assert.Same(png, MjpegFrames.WithHuffmanTables(png));
    }

    [Fact]
    public void TrimAfterEndOfImage_PaddedBuffer_EndsAtEoi()
    {
        var frame = Support.Media.Jpeg();

        Assert.Equal(frame, V4l2Camera.TrimAfterEndOfImage([.. frame, 0, 0, 0, 0]));
    }

    private static void AssertCodes(Dictionary<byte, string> table, params (byte Symbol, string Code)[] expected)
    {
        foreach (var (symbol, code) in expected)
        {
            Assert.Equal(code, table[symbol]);
        }
    }

    /// <summary>The canonical Huffman codes (T.81 Annex C) of each table in a DHT segment, by class and id.</summary>
    private static Dictionary<byte, Dictionary<byte, string>> Parse(byte[] dht)
    {
        Assert.Equal([0xFF, 0xC4], dht[..2]);
        Assert.Equal(dht.Length - 2, (dht[2] << 8) | dht[3]);
        var tables = new Dictionary<byte, Dictionary<byte, string>>();
        var offset = 4;
        while (offset < dht.Length)
        {
            var id = dht[offset];
            var bits = dht[(offset + 1)..(offset + 17)];
            var values = dht[(offset + 17)..(offset + 17 + bits.Sum(b => b))];
            var codes = new Dictionary<byte, string>();
            int code = 0, k = 0;
            for (var length = 1; length <= 16; length++)
            {
                for (var i = 0; i < bits[length - 1]; i++)
                {
                    codes[values[k++]] = Convert.ToString(code++, 2).PadLeft(length, '0');
                }

                code <<= 1;
            }

            tables[id] = codes;
            offset += 17 + values.Length;
        }

        return tables;
    }
}
