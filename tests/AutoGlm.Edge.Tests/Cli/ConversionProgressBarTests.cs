using AutoGlm.Edge.Cli;
using AutoGlm.Runtime.Conversion;
using Microsoft.Extensions.Time.Testing;

namespace AutoGlm.Edge.Tests.Cli;

public sealed class ConversionProgressBarTests
{
    [Fact]
    public void Format_HalfReadInFiveSeconds_ShowsStepRateAndEta()
    {
        var line = ConversionProgressBar.Format(new ConversionProgress("layer 2/4", 50_000_000, 100_000_000), TimeSpan.FromSeconds(5));

        Assert.Equal("[############------------]  50%  layer 2/4         10.0 MB/s  ETA 0:00:05", line);
    }

    [Fact]
    public void Report_OnAFakeClock_RedrawsOneLineInPlaceAndFinishEndsIt()
    {
        var time = new FakeTimeProvider();
        var terminal = new StringWriter();
        var bar = new ConversionProgressBar(terminal, time);

        bar.Report(new ConversionProgress("embedding", 0, 400_000_000));
        time.Advance(TimeSpan.FromSeconds(2));
        bar.Report(new ConversionProgress("layer 1/3", 100_000_000, 400_000_000));
        bar.Note("layer 1/3");
        bar.Finish();

        var text = terminal.ToString();
        Assert.Equal(2, text.Count(c => c == '\r'));
        Assert.Single(text, c => c == '\n');
        Assert.Contains("ETA --:--:--", text, StringComparison.Ordinal);
        // padded with one space: the shorter line erases the end of the longer one before it ("--:--:--" vs "0:00:06")
        Assert.EndsWith("[######------------------]  25%  layer 1/3         50.0 MB/s  ETA 0:00:06 " + Environment.NewLine, text, StringComparison.Ordinal);
    }
}
