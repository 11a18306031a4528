using System.Globalization;
using System.Runtime.InteropServices;
using AutoGlm.Runtime.Onnx;
using Microsoft.Extensions.Logging.Abstractions;

namespace AutoGlm.Runtime.Tests.Onnx;

/// <summary>Which mappings are moved onto huge pages, and that the kernel really backs a resident buffer with them.</summary>
public sealed class HugePagesTests
{
    [Fact]
    public void ResidentAnonymousRegions_Smaps_PicksOnlyResidentPrivateAnonymousMappingsOfSize()
    {
        string[] smaps =
        [
            "7f0000000000-7f0000800000 rw-p 00000000 00:00 0 ", // 8 MiB anonymous, fully resident: yes
            "Size:               8192 kB",
            "Rss:                8192 kB",
            "VmFlags: rd wr mr mw me ac",
            "55aa00000000-55aa01000000 rw-p 00000000 00:00 0                          [heap]", // 16 MiB heap, 95 %: yes
            "Rss:               15565 kB",
            "7f1000000000-7f1004000000 rw-p 00000000 00:00 0 ", // 64 MiB reserved, 1 % resident (a KV cache): no
            "Rss:                 640 kB",
            "7f2000000000-7f2000200000 rw-p 00000000 00:00 0 ", // 2 MiB: too small
            "Rss:                2048 kB",
            "7f3000000000-7f3008000000 r--s 00000000 fe:00 12984876                   /models/decoder.onnx.data", // a file: no
            "Rss:              131072 kB",
            "7f4000000000-7f4000800000 r--p 00000000 00:00 0 ", // read-only: no
            "Rss:                8192 kB",
            "7ffc00000000-7ffc00800000 rw-p 00000000 00:00 0                          [stack]", // the stack: no
            "Rss:                8192 kB",
        ];

        var regions = HugePages.ResidentAnonymousRegions(smaps);

        Assert.Equal([(0x7f0000000000L, 0x7f0000800000L), (0x55aa00000000L, 0x55aa01000000L)], regions);
    }

    [Fact]
    public unsafe void Collapse_ResidentBuffer_IsBackedByHugePages()
    {
        const long size = 32L << 20;
        var buffer = (byte*)NativeMemory.AlignedAlloc((nuint)size, 2 << 20);
        try
        {
            new Span<byte>(buffer, (int)size).Fill(1); // resident, as packed weights are

            var collapsed = HugePages.Collapse(NullLogger.Instance);

            var huge = HugeKbOfMappingAt((long)buffer);
            Assert.True(collapsed >= 16L << 20, $"{collapsed} bytes collapsed");
            Assert.True(huge >= 16 << 10, $"the buffer's mapping has {huge} kB on huge pages");
        }
        finally
        {
            NativeMemory.AlignedFree(buffer);
        }
    }

    private static long HugeKbOfMappingAt(long address)
    {
        var inside = false;
        foreach (var line in File.ReadLines("/proc/self/smaps"))
        {
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length >= 5 && fields[0].Contains('-', StringComparison.Ordinal) && !fields[0].EndsWith(':'))
            {
                var range = fields[0].Split('-');
                inside = long.Parse(range[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture) <= address
                    && address < long.Parse(range[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            }
            else if (inside && fields[0] == "AnonHugePages:")
            {
                return long.Parse(fields[1], CultureInfo.InvariantCulture);
            }
        }

        return 0;
    }
}
