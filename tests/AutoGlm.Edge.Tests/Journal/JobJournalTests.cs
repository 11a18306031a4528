using AutoGlm.Edge.Journal;
using AutoGlm.Edge.Tests.Support;

namespace AutoGlm.Edge.Tests.Journal;

public sealed class JobJournalTests : IDisposable
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private readonly string _folder = TestPaths.NewFolder("journal");

    private string DbPath => Path.Combine(_folder, "journal.db");

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void Add_NewThenSameKey_ReportsPendingThenFinished()
    {
        using var journal = new JobJournal(DbPath);

        Assert.Equal(AddOutcome.Added, journal.Add(Job("a")));
        Assert.Equal(AddOutcome.AlreadyPending, journal.Add(Job("a")));
        Assert.True(journal.Complete("a", "{\"id\":\"a\"}"u8.ToArray(), null, T0));
        Assert.Equal(AddOutcome.AlreadyFinished, journal.Add(Job("a", "other/topic")));

        Assert.Equal(1, journal.Count());
        var pending = Assert.Single(journal.Unpublished());
        Assert.Equal("other/topic", pending.ReplyTopic);
    }

    [Fact]
    public void Complete_Twice_FirstResultStands()
    {
        using var journal = new JobJournal(DbPath);
        journal.Add(Job("a"));

        Assert.True(journal.Complete("a", "1"u8.ToArray(), null, T0));
        Assert.False(journal.Complete("a", "2"u8.ToArray(), "cancelled", T0));

        Assert.Equal("1"u8.ToArray(), journal.Result("a"));
    }

    [Fact]
    public void Reopen_AfterDispose_KeepsUnfinishedAndUnpublished()
    {
        using (var journal = new JobJournal(DbPath))
        {
            journal.Add(Job("running"));
            journal.Add(Job("done"));
            journal.Complete("done", "r"u8.ToArray(), null, T0);
            journal.Add(Job("published"));
            journal.Complete("published", "p"u8.ToArray(), null, T0);
            journal.MarkPublished(journal.Unpublished().Single(r => r.Key == "published").Seq);
        }

        using var reopened = new JobJournal(DbPath);

        Assert.Equal(["running"], reopened.Unfinished().Select(j => j.Key));
        Assert.Equal(["done"], reopened.Unpublished().Select(r => r.Key));
        Assert.Equal(T0, reopened.Unfinished()[0].ReceivedAt);
    }

    [Fact]
    public void Add_OverloadedIdSentAgain_AcceptsItAfresh()
    {
        using var journal = new JobJournal(DbPath);
        journal.Add(Job("a"));
        journal.Complete("a", "{}"u8.ToArray(), "overloaded", T0);
        journal.MarkPublished(journal.Unpublished()[0].Seq);

        Assert.Equal(AddOutcome.Added, journal.Add(Job("a")));
        Assert.Single(journal.Unfinished());
    }

    [Fact]
    public void Prune_RemovesOnlyPublishedJobsFinishedBeforeTheCutoff()
    {
        using var journal = new JobJournal(DbPath, fullSync: false);
        foreach (var key in new[] { "old", "recent", "unpublished" })
        {
            journal.Add(Job(key));
        }

        journal.Complete("old", "o"u8.ToArray(), null, T0);
        journal.Complete("recent", "r"u8.ToArray(), null, T0.AddDays(6));
        journal.Complete("unpublished", "u"u8.ToArray(), null, T0);
        foreach (var result in journal.Unpublished().Where(r => r.Key != "unpublished"))
        {
            journal.MarkPublished(result.Seq);
        }

        Assert.Equal(1, journal.Prune(T0.AddDays(1)));

        Assert.Null(journal.Result("old"));
        Assert.NotNull(journal.Result("recent"));
        Assert.NotNull(journal.Result("unpublished"));
    }

    private static NewJob Job(string key, string topic = "results/x") => new(key, T0, 1, "{}"u8.ToArray(), topic, [1, 2, 3]);
}
