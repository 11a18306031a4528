using AutoGlm.Edge.Journal;

namespace AutoGlm.Edge.Tests.Journal;

public sealed class JournalOptionsTests
{
    [Fact]
    public void Validate_BadValues_NamesEveryKeyOnOneLineEach()
    {
        var result = new JournalOptionsValidator().Validate(null, new JournalOptions
        {
            Synchronous = "x",
            WriteProbeInterval = TimeSpan.Zero,
            Retention = TimeSpan.FromDays(-1),
        });

        Assert.True(result.Failed);
        var failures = result.Failures!.ToList();
        Assert.Contains(failures, f => f.StartsWith("Journal:Synchronous must be Full or Normal (got 'x')", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("Journal:WriteProbeInterval must be positive", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("Journal:Retention", StringComparison.Ordinal));
        Assert.All(failures, f => Assert.DoesNotContain('\n', f));
    }
}
