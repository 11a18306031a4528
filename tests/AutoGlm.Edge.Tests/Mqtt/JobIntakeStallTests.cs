using System.Text;
using AutoGlm.Cluster.Contract;
using AutoGlm.Edge.Journal;
using AutoGlm.Edge.Mqtt;
using AutoGlm.Edge.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using MQTTnet;

namespace AutoGlm.Edge.Tests.Mqtt;

/// <summary>The intake's own account of a stall: what readiness and the watchdog read.</summary>
public sealed class JobIntakeStallTests : IAsyncDisposable
{
    private readonly string _folder = TestPaths.NewFolder("stall");
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 1, 23, 0, 0, TimeSpan.Zero));
    private readonly MqttTopics _topics = new("autoglm/stall");
    private readonly JobJournal _journal;
    private readonly MqttConnection _connection;
    private readonly ResultPublisher _publisher;
    private readonly JobRunner _runner;
    private readonly JobIntake _intake;

    public JobIntakeStallTests()
    {
        var options = new MqttOptions();
        _journal = new JobJournal(Path.Combine(_folder, "journal.db"));
        var queue = new JobQueue(16);
        var counters = new JobCounters();
        _connection = new MqttConnection(options, _topics, _time, NullLogger<MqttConnection>.Instance);
        _publisher = new ResultPublisher(_journal, _connection, NullLogger<ResultPublisher>.Instance);
        _runner = new JobRunner(queue, _journal, _publisher, _connection, _topics, counters, options, _time, NullLogger<JobRunner>.Instance);
        _intake = new JobIntake(new JobParser(options), _journal, queue, _runner, _publisher, _topics, new ResponseTopicPolicy(options, _topics, _time, NullLogger<ResponseTopicPolicy>.Instance), counters, _time, NullLogger<JobIntake>.Instance);
        _intake.TakeFromEmbeddedBroker();
    }

    public async ValueTask DisposeAsync()
    {
        await _runner.DisposeAsync();
        await _publisher.DisposeAsync();
        await _connection.DisposeAsync();
        _journal.Dispose();
        Directory.Delete(_folder, recursive: true);
    }

    [Fact]
    public void TryTakeAtBroker_GoodJob_NoStall()
    {
        Assert.True(_intake.TryTakeAtBroker(Job("""{"id":"fine","prompt":"hi"}""")));

        Assert.Null(_intake.Stall(TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public void TryTakeAtBroker_ExceptionEscapes_StallReportedNamingTheTopicAndTheError()
    {
        // A journal that is closed under the intake: not a storage failure the intake handles, an unexpected one.
        _journal.Dispose();

        var escaped = Assert.ThrowsAny<Exception>(() => _intake.TryTakeAtBroker(Job("""{"id":"boom","prompt":"hi"}""")));

        var stall = _intake.Stall(TimeSpan.FromSeconds(30));
        Assert.NotNull(stall);
        Assert.Contains(_topics.Jobs, stall, StringComparison.Ordinal);
        Assert.Contains(escaped.GetType().Name, stall, StringComparison.Ordinal);
    }

    [Fact]
    public void TryTakeAtBroker_LoneSurrogate_AnsweredNotStalled()
    {
        Assert.True(_intake.TryTakeAtBroker(Job("""{"id":"ls","prompt":"a\ud800b"}""")));

        Assert.Null(_intake.Stall(TimeSpan.FromSeconds(30)));
        var pending = Assert.Single(_journal.Unpublished());
        Assert.Equal("invalid_json", ResultJson.ErrorCode(pending.Result));
        Assert.Equal(_topics.Result("ls"), pending.ReplyTopic);
    }

    private MqttApplicationMessage Job(string json) =>
        new MqttApplicationMessageBuilder().WithTopic(_topics.Jobs).WithPayload(Encoding.UTF8.GetBytes(json)).Build();
}
