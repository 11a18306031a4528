using AutoGlm.Edge.Cli;
using AutoGlm.Edge.Journal;
using AutoGlm.Edge.Tests.Journal;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace AutoGlm.Edge.Tests.Cli;

/// <summary><c>doctor</c>'s journal line: healthy, damaged, or a damaged one moved aside by an earlier start.</summary>
public sealed class DoctorJournalTests : IDisposable
{
    private readonly string _state = Directory.CreateTempSubdirectory("doctor-journal-").FullName;

    public void Dispose() => Directory.Delete(_state, recursive: true);

    private string JournalPath => Path.Combine(_state, "journal.db");

    private Doctor Create() => new(new ConfigurationBuilder().Build(), _state, TimeSpan.FromSeconds(2));

    [Fact]
    public void JournalCheck_Healthy_OkWithUnfinishedCount()
    {
        JournalCorruption.WriteJournal(JournalPath, unfinished: 3);

        var check = Create().JournalCheck();

        Assert.Equal(CheckStatus.Ok, check.Status);
        Assert.Contains("3 unfinished jobs", check.Detail, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(JournalCorruption.All), MemberType = typeof(JournalCorruption))]
    public void JournalCheck_Damaged_FailsSayingTheDaemonMovesItAside(string kind)
    {
        JournalCorruption.WriteJournal(JournalPath, unfinished: 1500);
        JournalCorruption.Damage(JournalPath, kind);

        var check = Create().JournalCheck();

        Assert.Equal(CheckStatus.Fail, check.Status);
        Assert.Contains("is damaged", check.Detail, StringComparison.Ordinal);
        Assert.Contains(JournalPath, check.Detail, StringComparison.Ordinal);
        Assert.True(File.Exists(JournalPath), "doctor must not move the journal itself");
    }

    [Fact]
    public void JournalCheck_MovedAsideJournal_WarnsNamingIt()
    {
        JournalCorruption.WriteJournal(JournalPath, unfinished: 1500);
        JournalCorruption.Damage(JournalPath, JournalCorruption.GarbageHeader);
        JournalFile.Open(JournalPath, fullSync: true, new FakeTimeProvider(new DateTimeOffset(2026, 12, 1, 23, 0, 0, TimeSpan.Zero)), NullLogger.Instance).Dispose();

        var check = Create().JournalCheck();

        Assert.Equal(CheckStatus.Warn, check.Status);
        Assert.Contains("journal.db.corrupt-20261201T230000Z", check.Detail, StringComparison.Ordinal);
        Assert.Contains("moved aside", check.Detail, StringComparison.Ordinal);
    }
}
