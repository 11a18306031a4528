using System.Globalization;
using AutoGlm.Runtime.Conversion;

namespace AutoGlm.Edge.Cli;

/// <summary><c>model convert</c>'s progress on a terminal: one line redrawn in place with the tensor, MB/s and ETA.</summary>
/// <remarks>Rates are over checkpoint tensor bytes read since the start; ETA assumes the rest reads at the same rate.</remarks>
internal sealed class ConversionProgressBar(TextWriter terminal, TimeProvider time)
{
    private const int Width = 24;
    private readonly long _start = time.GetTimestamp();
    private ConversionProgress? _last;
    private int _drawn;

    /// <summary>One bar line: <c>[#####-----]  42%  layer 17/40  412.3 MB/s  ETA 0:01:05</c>.</summary>
    public static string Format(ConversionProgress progress, TimeSpan elapsed)
    {
        var fraction = progress.TotalBytes > 0 ? Math.Clamp((double)progress.BytesRead / progress.TotalBytes, 0, 1) : 0;
        var filled = (int)Math.Round(fraction * Width);
        var rate = elapsed.TotalSeconds > 0 ? progress.BytesRead / elapsed.TotalSeconds : 0;
        var eta = rate > 0 ? TimeSpan.FromSeconds((progress.TotalBytes - progress.BytesRead) / rate).ToString(@"h\:mm\:ss", CultureInfo.InvariantCulture) : "--:--:--";
        return string.Create(
            CultureInfo.InvariantCulture,
            $"[{new string('#', filled)}{new string('-', Width - filled)}] {fraction * 100,3:F0}%  {progress.Step,-14} {rate / 1e6,7:F1} MB/s  ETA {eta}");
    }

    /// <summary>Redraws the bar for a step of the weights.</summary>
    public void Report(ConversionProgress progress)
    {
        _last = progress;
        Draw(Format(progress, time.GetElapsedTime(_start)));
    }

    /// <summary>Redraws the bar with another step (hashing, …) at the bytes read so far.</summary>
    public void Note(string step)
    {
        if (_last is { } last && step != last.Step)
        {
            Report(last with { Step = step, BytesRead = last.TotalBytes });
        }
    }

    /// <summary>Ends the bar's line.</summary>
    public void Finish()
    {
        if (_drawn > 0)
        {
            terminal.WriteLine();
            _drawn = 0;
        }
    }

    private void Draw(string line)
    {
        terminal.Write('\r' + line + new string(' ', Math.Max(0, _drawn - line.Length)));
        terminal.Flush();
        _drawn = line.Length;
    }
}
