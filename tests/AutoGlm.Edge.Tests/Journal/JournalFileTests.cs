using AutoGlm.Edge.Journal;
using AutoGlm.Edge.Tests.Http;
using AutoGlm.Edge.Tests.Support;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace AutoGlm.Edge.Tests.Journal;

public sealed class JournalFileTests : IDisposable
{
    private static readonly DateTimeOffset Now = new(2026, 12, 1, 23, 0, 0, TimeSpan.Zero);
    private readonly string _folder = TestPaths.NewFolder("journalfile");
    private readonly CapturedLogs _logs = new();

    private string DbPath => Path.Combine(_folder, "journal.db");

    public void Dispose()
    {
        _logs.Dispose();
        Directory.Delete(_folder, recursive: true);
    }

    [Theory]
    [MemberData(nameof(JournalCorruption.All), MemberType = typeof(JournalCorruption))]
    public void Open_DamagedJournal_MovesItAsideWithTimestampAndStartsANewOne(string kind)
    {
        JournalCorruption.WriteJournal(DbPath, unfinished: 1500);
        JournalCorruption.Damage(DbPath, kind);
        var damagedBytes = File.ReadAllBytes(DbPath);

        using var journal = JournalFile.Open(DbPath, fullSync: true, new FakeTimeProvider(Now), _logs.CreateLogger("journal"));

        var moved = Path.Combine(_folder, "journal.db.corrupt-20261201T230000Z");
        Assert.True(File.Exists(moved), $"{kind}: not moved aside; the folder holds {string.Join(", ", Directory.GetFiles(_folder).Select(Path.GetFileName))}");
        Assert.Equal(damagedBytes, File.ReadAllBytes(moved));
        Assert.Equal([moved], JournalFile.MovedAside(DbPath));
        Assert.Equal(0, journal.Count());
        Assert.Equal(AddOutcome.Added, journal.Add(new NewJob("new", Now, 0, [1], "t", null)));
        var line = Assert.Single(_logs.Entries, e => e.EventId.Id is 4701 or 4702);
        Assert.Equal(LogLevel.Error, line.Level);
        Assert.Contains(DbPath, line.Message, StringComparison.Ordinal);
        Assert.Contains(moved, line.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', line.Message);
        if (line.EventId.Id == 4701)
        {
            Assert.Contains("unfinished jobs", line.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Open_GarbageInTheMiddle_CountsTheUnfinishedJobsItCanStillRead()
    {
        JournalCorruption.WriteJournal(DbPath, unfinished: 1500);
        JournalCorruption.Damage(DbPath, JournalCorruption.GarbageMiddle);

        var check = JournalFile.Check(DbPath);

        Assert.NotNull(check.Damage);
        using var journal = JournalFile.Open(DbPath, fullSync: true, new FakeTimeProvider(Now), _logs.CreateLogger("journal"));
        var line = Assert.Single(_logs.Entries, e => e.EventId.Id is 4701 or 4702);
        Assert.Contains(check.Unfinished is { } n ? $"held {n} unfinished jobs" : "could not be read", line.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Open_HealthyJournal_KeepsItAndItsJobs()
    {
        JournalCorruption.WriteJournal(DbPath, unfinished: 20);

        using var journal = JournalFile.Open(DbPath, fullSync: true, new FakeTimeProvider(Now), _logs.CreateLogger("journal"));

        Assert.Equal(20, journal.Unfinished().Count);
        Assert.Empty(JournalFile.MovedAside(DbPath));
        Assert.Empty(_logs.Entries);
    }

    [Fact]
    public void Open_FolderIsAFile_ThrowsJournalExceptionNamingThePathAndTheKey()
    {
        var blocker = Path.Combine(_folder, "not-a-folder");
        File.WriteAllText(blocker, "");
        var path = Path.Combine(blocker, "journal.db");

        var ex = Assert.Throws<JournalException>(() => JournalFile.Open(path, fullSync: true, new FakeTimeProvider(Now), _logs.CreateLogger("journal")));

        Assert.Contains(path, ex.Message, StringComparison.Ordinal);
        Assert.Contains("Journal:Path", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', ex.Message);
    }

    [Fact]
    public void Open_PathIsAFolder_ThrowsJournalExceptionNamingThePath()
    {
        Directory.CreateDirectory(DbPath);

        var ex = Assert.Throws<JournalException>(() => JournalFile.Open(DbPath, fullSync: true, new FakeTimeProvider(Now), _logs.CreateLogger("journal")));

        Assert.Contains(DbPath, ex.Message, StringComparison.Ordinal);
        Assert.Contains("Journal:Path", ex.Message, StringComparison.Ordinal);
        Assert.True(Directory.Exists(DbPath), "a folder in the journal's place must not be moved aside as if it were a damaged journal");
    }
}
