using System.Globalization;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;

namespace AutoGlm.Runtime.Onnx;

/// <summary>
/// Moves the decoder's weights, once ONNX Runtime has packed them into its own buffers, onto transparent huge pages
/// (Linux): a decode step streams every weight, and with 4 KiB pages that is one TLB miss per page, about 70,000 a
/// token on the <c>small</c> preset, and a hardware prefetcher that stops at every page boundary.
/// </summary>
/// <remarks>
/// ONNX Runtime's packed weights live in private anonymous memory (its allocations and the C heap) that the kernel
/// backs with huge pages only when asked (<c>transparent_hugepage=madvise</c>, the usual default). After the session
/// is created, every private anonymous mapping of at least 4 MiB that is at least 90 % resident — the packed weights;
/// not the KV cache, thread stacks or reserved heap, which are mostly untouched and would grow if collapsed — is marked
/// <c>MADV_HUGEPAGE</c> and collapsed at once with <c>MADV_COLLAPSE</c> (Linux 6.1+). Where the kernel refuses, the
/// pages stay as they are and the engine runs as before. Off by default (<c>Runtime:HugePages</c>); measured in
/// docs/benchmarks.md.
/// </remarks>
internal static partial class HugePages
{
    private const int MadviseHugePage = 14;
    private const int MadviseCollapse = 25;
    private const long HugePageBytes = 2L << 20;
    private const long MinimumRegionBytes = 4L << 20;
    private const double MinimumResidentShare = 0.9;

    /// <summary>Collapses the process's resident private anonymous regions into huge pages; returns the bytes collapsed.</summary>
    public static long Collapse(ILogger logger)
    {
        if (!OperatingSystem.IsLinux() || !File.Exists("/proc/self/smaps"))
        {
            return 0;
        }

        List<(long Start, long End)> regions;
        try
        {
            regions = ResidentAnonymousRegions(File.ReadLines("/proc/self/smaps"));
        }
        catch (IOException ex)
        {
            Log.Unreadable(logger, ex);
            return 0;
        }

        long collapsed = 0, refused = 0;
        var error = 0;
        foreach (var (start, end) in regions)
        {
            var first = (start + HugePageBytes - 1) & ~(HugePageBytes - 1);
            var last = end & ~(HugePageBytes - 1);
            if (last - first < HugePageBytes)
            {
                continue;
            }

            _ = Madvise((nint)first, (nuint)(last - first), MadviseHugePage);
            if (Madvise((nint)first, (nuint)(last - first), MadviseCollapse) == 0)
            {
                collapsed += last - first;
            }
            else
            {
                refused += last - first;
                error = Marshal.GetLastPInvokeError();
            }
        }

        Log.Collapsed(logger, collapsed, refused, error);
        return collapsed;
    }

    /// <summary>
    /// From the text of <c>/proc/self/smaps</c>: the private anonymous mappings (no file; the C heap counts) that are
    /// writable, at least 4 MiB and at least 90 % resident, as <c>[start, end)</c> addresses.
    /// </summary>
    internal static List<(long Start, long End)> ResidentAnonymousRegions(IEnumerable<string> smaps)
    {
        var regions = new List<(long Start, long End)>();
        (long Start, long End)? current = null;
        foreach (var line in smaps)
        {
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length >= 5 && fields[0].Contains('-', StringComparison.Ordinal) && !fields[0].EndsWith(':'))
            {
                current = null;
                var range = fields[0].Split('-');
                var anonymous = fields[4] == "0" && (fields.Length == 5 || fields[5] == "[heap]");
                if (anonymous && fields[1].StartsWith("rw", StringComparison.Ordinal) && fields[1].EndsWith('p')
                    && long.TryParse(range[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var start)
                    && long.TryParse(range[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var end)
                    && end - start >= MinimumRegionBytes)
                {
                    current = (start, end);
                }
            }
            else if (current is { } region && fields.Length >= 2 && fields[0] == "Rss:"
                && long.TryParse(fields[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out var residentKb))
            {
                if (residentKb * 1024 >= MinimumResidentShare * (region.End - region.Start))
                {
                    regions.Add(region);
                }

                current = null;
            }
        }

        return regions;
    }

    [LibraryImport("libc", EntryPoint = "madvise", SetLastError = true)]
    private static partial int Madvise(nint address, nuint length, int advice);

    private static partial class Log
    {
        [LoggerMessage(1101, LogLevel.Debug, "Moved {Bytes} bytes of the decoder's packed weights onto transparent huge pages ({Refused} bytes refused by the kernel, errno {Errno})")]
        public static partial void Collapsed(ILogger logger, long bytes, long refused, int errno);

        [LoggerMessage(1102, LogLevel.Debug, "Could not read /proc/self/smaps; the decoder's weights stay on normal pages")]
        public static partial void Unreadable(ILogger logger, Exception exception);
    }
}
