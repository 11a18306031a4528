using System.Diagnostics;
using System.Numerics;
using System.Runtime.InteropServices;

namespace AutoGlm.Bench;

/// <summary>Measures how fast this machine reads memory: the ceiling for decode, which reads every weight per token.</summary>
internal static class MemoryBandwidth
{
    /// <summary>Reads a buffer far larger than the caches with one thread per core; returns the median GB/s of several passes.</summary>
    public static unsafe double MeasureReadGbPerSecond(long bytes = 1L << 30, int passes = 7, int? threads = null)
    {
        var workers = threads ?? Environment.ProcessorCount;
        var buffer = (byte*)NativeMemory.AlignedAlloc((nuint)bytes, 64);
        try
        {
            for (long offset = 0; offset < bytes; offset += 1 << 28)
            {
                new Span<byte>(buffer + offset, (int)Math.Min(1L << 28, bytes - offset)).Fill(1);
            }
            var results = new List<double>();
            var sink = 0f;
            for (var pass = 0; pass < passes; pass++)
            {
                var partial = new float[workers];
                var clock = Stopwatch.StartNew();
                Parallel.For(0, workers, new ParallelOptions { MaxDegreeOfParallelism = workers }, w =>
                {
                    var chunk = bytes / workers;
                    var start = (float*)(buffer + (w * chunk));
                    var count = (int)(chunk / sizeof(float) / Vector<float>.Count);
                    var acc = Vector<float>.Zero;
                    for (var i = 0; i < count; i++)
                    {
                        acc += *(Vector<float>*)(start + ((long)i * Vector<float>.Count));
                    }

                    partial[w] = Vector.Sum(acc);
                });
                results.Add(bytes / clock.Elapsed.TotalSeconds / 1e9);
                sink += partial.Sum();
            }

            GC.KeepAlive(sink);
            results.Sort();
            return results[results.Count / 2];
        }
        finally
        {
            NativeMemory.AlignedFree(buffer);
        }
    }
}
