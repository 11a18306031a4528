using AutoGlm.Edge.Mqtt;

namespace AutoGlm.Edge.Tests.Mqtt;

public sealed class JobQueueTests
{
    [Fact]
    public async Task DequeueAsync_MixedPriorities_HighestFirstThenArrivalOrder()
    {
        var queue = new JobQueue(10);
        queue.TryEnqueue(Job("low", JobPriority.Low));
        queue.TryEnqueue(Job("n1", JobPriority.Normal));
        queue.TryEnqueue(Job("high", JobPriority.High));
        queue.TryEnqueue(Job("n2", JobPriority.Normal));

        var order = new List<string>();
        while (await queue.DequeueAsync(TimeSpan.Zero, CancellationToken.None) is { } job)
        {
            order.Add(job.Request.Id);
        }

        Assert.Equal(["high", "n1", "n2", "low"], order);
    }

    [Fact]
    public void TryEnqueue_Full_RefusesUnlessForced()
    {
        var queue = new JobQueue(2);

        Assert.True(queue.TryEnqueue(Job("a")));
        Assert.True(queue.TryEnqueue(Job("b")));
        Assert.False(queue.TryEnqueue(Job("c")));
        Assert.True(queue.TryEnqueue(Job("replayed"), force: true));
        Assert.Equal(3, queue.Count);
    }

    [Fact]
    public async Task TryRemove_WaitingJob_NeverDequeued()
    {
        var queue = new JobQueue(4);
        queue.TryEnqueue(Job("a"));
        queue.TryEnqueue(Job("b"));

        Assert.True(queue.TryRemove("a"));
        Assert.False(queue.TryRemove("a"));

        Assert.Equal("b", (await queue.DequeueAsync(TimeSpan.Zero, CancellationToken.None))!.Request.Id);
        Assert.Null(await queue.DequeueAsync(TimeSpan.Zero, CancellationToken.None));
    }

    private static QueuedJob Job(string id, int priority = JobPriority.Normal) =>
        new(new JobRequest { Id = id, Messages = [new JobMessage("user", "hi")], Priority = priority }, DateTimeOffset.UnixEpoch);
}
