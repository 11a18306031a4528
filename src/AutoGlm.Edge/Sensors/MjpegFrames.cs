namespace AutoGlm.Edge.Sensors;

/// <summary>
/// Makes a camera's MJPEG frame a complete JPEG. Many UVC cameras leave out the Huffman tables (no DHT segment) and
/// rely on the decoder knowing the standard ones (ITU-T T.81 Annex K.3, as the AVI MJPEG format says); a still-image
/// decoder needs them in the file, so they are inserted before the start of scan.
/// </summary>
/// <remarks>Stateless and thread-safe.</remarks>
public static class MjpegFrames
{
    private static readonly byte[] StandardTables = BuildStandardTables();

    /// <summary>The DHT segment inserted: the four standard tables (luminance and chrominance, DC and AC).</summary>
    internal static ReadOnlySpan<byte> StandardDht => StandardTables;

    /// <summary>The frame with the standard Huffman tables inserted when it has none, else the frame itself.</summary>
    public static byte[] WithHuffmanTables(byte[] frame)
    {
        if (frame.Length < 4 || frame[0] != 0xFF || frame[1] != 0xD8)
        {
            return frame;
        }

        // Walk the marker segments up to the start of scan (SOS, FF DA).
        var offset = 2;
        while (offset + 4 <= frame.Length && frame[offset] == 0xFF)
        {
            var marker = frame[offset + 1];
            if (marker == 0xC4)
            {
                return frame; // has a DHT
            }

            if (marker == 0xDA)
            {
                var result = new byte[frame.Length + StandardTables.Length];
                frame.AsSpan(0, offset).CopyTo(result);
                StandardTables.CopyTo(result, offset);
                frame.AsSpan(offset).CopyTo(result.AsSpan(offset + StandardTables.Length));
                return result;
            }

            offset += 2 + ((frame[offset + 2] << 8) | frame[offset + 3]);
        }

        return frame;
    }

    private static byte[] BuildStandardTables()
    {
        byte[] dcLuminanceBits = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0];
        byte[] dcChrominanceBits = [0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0];
        byte[] dcValues = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
        byte[] acLuminanceBits = [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7D];
        byte[] acLuminanceValues =
        [
            0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07,
            0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xA1, 0x08, 0x23, 0x42, 0xB1, 0xC1, 0x15, 0x52, 0xD1, 0xF0,
            0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0A, 0x16, 0x17, 0x18, 0x19, 0x1A, 0x25, 0x26, 0x27, 0x28,
            0x29, 0x2A, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3A, .. Run(0x43), .. Run(0x53), .. Run(0x63), .. Run(0x73),
            .. Run(0x83), 0x92, .. Run(0x93), 0xA2, .. Run(0xA3), 0xB2, .. Run(0xB3), 0xC2, .. Run(0xC3), 0xD2, .. Run(0xD3),
            0xE1, 0xE2, .. Run(0xE3), 0xF1, 0xF2, .. Run(0xF3),
        ];
        byte[] acChrominanceBits = [0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77];
        byte[] acChrominanceValues =
        [
            0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71,
            0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xA1, 0xB1, 0xC1, 0x09, 0x23, 0x33, 0x52, 0xF0,
            0x15, 0x62, 0x72, 0xD1, 0x0A, 0x16, 0x24, 0x34, 0xE1, 0x25, 0xF1, 0x17, 0x18, 0x19, 0x1A, 0x26,
            0x27, 0x28, 0x29, 0x2A, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3A, .. Run(0x43), .. Run(0x53), .. Run(0x63), .. Run(0x73),
            0x82, .. Run(0x83), 0x92, .. Run(0x93), 0xA2, .. Run(0xA3), 0xB2, .. Run(0xB3), 0xC2, .. Run(0xC3), 0xD2, .. Run(0xD3),
            0xE2, .. Run(0xE3), 0xF2, .. Run(0xF3),
        ];

        var body = new List<byte>();
        void Table(byte classAndId, byte[] bits, byte[] values)
        {
            if (bits.Sum(b => b) != values.Length)
            {
                throw new InvalidOperationException($"Huffman table {classAndId:X2}: {bits.Sum(b => b)} codes for {values.Length} values");
            }

            body.Add(classAndId);
            body.AddRange(bits);
            body.AddRange(values);
        }

        Table(0x00, dcLuminanceBits, dcValues);
        Table(0x10, acLuminanceBits, acLuminanceValues);
        Table(0x01, dcChrominanceBits, dcValues);
        Table(0x11, acChrominanceBits, acChrominanceValues);
        var length = body.Count + 2;
        return [0xFF, 0xC4, (byte)(length >> 8), (byte)length, .. body];
    }

    /// <summary>The eight values <c>first</c>, <c>first+1</c> … <c>first+7</c> (the tables' runs such as 0x43–0x4A).</summary>
    private static byte[] Run(byte first) => [.. Enumerable.Range(first, 8).Select(v => (byte)v)];
}
