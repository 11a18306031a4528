using AutoGlm.Edge.Journal;
using AutoGlm.Edge.Tests.Support;
using Microsoft.Data.Sqlite;

namespace AutoGlm.Edge.Tests.Journal;

/// <summary>The journal on a 2 MB tmpfs that is filled up: what it refuses, what it keeps, and that it recovers.</summary>
public sealed class JobJournalDiskFullTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    [FactNeedingTmpfs]
    public void Add_DiskFull_ThrowsAndReportsUntilSpaceReturns()
    {
        using var disk = Tmpfs.Mount("2m");
        using var journal = new JobJournal(Path.Combine(disk.Folder, "journal.db"));
        journal.Add(Job("before"));
        var filler = disk.Fill();

        var refused = FillJournal(journal);

        Assert.NotNull(journal.WriteProblem);
        Assert.Contains("full", refused.Message, StringComparison.OrdinalIgnoreCase);
        Assert.False(journal.ProbeWrite(), "the probe wrote although the disk is full");
        Assert.NotNull(journal.WriteProblem);

        File.Delete(filler);
        Assert.True(journal.ProbeWrite(), "the probe failed although there is room again: " + journal.WriteProblem);
        Assert.Null(journal.WriteProblem);
        Assert.Equal(AddOutcome.Added, journal.Add(Job("after")));
    }

    [FactNeedingTmpfs]
    public void Complete_DiskFull_ResultIsPublishableAndWrittenOnceSpaceReturns()
    {
        using var disk = Tmpfs.Mount("2m");
        var path = Path.Combine(disk.Folder, "journal.db");
        var filler = "";
        using (var journal = new JobJournal(path))
        {
            journal.Add(Job("running"));
            journal.Add(Job("published-before"));
            journal.Complete("published-before", "r0"u8.ToArray(), null, T0);
            var seqBefore = journal.Unpublished().Single().Seq;
            filler = disk.Fill();
            FillJournal(journal);

            Assert.True(journal.Complete("running", "r1"u8.ToArray(), null, T0), "a result the disk cannot take must be kept, not refused");
            Assert.False(journal.Complete("running", "again"u8.ToArray(), null, T0));
            journal.MarkPublished(seqBefore);
            var pending = Assert.Single(journal.Unpublished());
            Assert.Equal("running", pending.Key);
            Assert.Equal("r1"u8.ToArray(), pending.Result);
            journal.MarkPublished(pending.Seq);
            Assert.Empty(journal.Unpublished());
            Assert.Equal(0, journal.Prune(T0.AddDays(1)));

            File.Delete(filler);
            Assert.True(journal.ProbeWrite(), journal.WriteProblem);
        }

        using var reopened = new JobJournal(path);
        Assert.DoesNotContain(reopened.Unfinished(), j => j.Key is "running" or "published-before");
        Assert.Equal("r1"u8.ToArray(), reopened.Result("running"));
        Assert.Empty(reopened.Unpublished());
    }

    /// <summary>Adds jobs until the journal refuses one; returns the refusal.</summary>
    private static SqliteException FillJournal(JobJournal journal)
    {
        var request = new byte[8192];
        for (var i = 0; i < 10_000; i++)
        {
            try
            {
                journal.Add(Job($"fill{i}", request));
            }
            catch (SqliteException ex)
            {
                return ex;
            }
        }

        Assert.Fail("the journal took 10000 jobs on a full 2 MB disk");
        return null!;
    }

    private static NewJob Job(string key, byte[]? request = null) => new(key, T0, 0, request ?? [1, 2, 3], "results/" + key, null);
}
