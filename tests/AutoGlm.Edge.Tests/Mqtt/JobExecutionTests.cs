using System.Runtime.CompilerServices;
using System.Text;
using AutoGlm.Cluster.Contract;
using AutoGlm.Edge.Journal;
using AutoGlm.Edge.Mqtt;
using AutoGlm.Edge.Tests.Support;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using MQTTnet;

namespace AutoGlm.Edge.Tests.Mqtt;

/// <summary>One job's run on a chat client that fails in ways the engine cannot be made to (a fake, callback-based).</summary>
public sealed class JobExecutionTests : IAsyncDisposable
{
    private readonly string _folder = TestPaths.NewFolder("execution");
    private readonly MqttTopics _topics = new("autoglm/execution");
    private readonly RecordingLogger _log = new();
    private readonly JobJournal _journal;
    private readonly MqttConnection _connection;
    private readonly ResultPublisher _publisher;
    private readonly JobRunner _runner;
    private readonly JobIntake _intake;

    public JobExecutionTests()
    {
        var options = new MqttOptions();
        _journal = new JobJournal(Path.Combine(_folder, "journal.db"));
        var queue = new JobQueue(16);
        var counters = new JobCounters();
        _connection = new MqttConnection(options, _topics, TimeProvider.System, NullLogger<MqttConnection>.Instance);
        _publisher = new ResultPublisher(_journal, _connection, NullLogger<ResultPublisher>.Instance);
        _runner = new JobRunner(queue, _journal, _publisher, _connection, _topics, counters, options, TimeProvider.System, _log);
        _intake = new JobIntake(new JobParser(options), _journal, queue, _runner, _publisher, _topics, new ResponseTopicPolicy(options, _topics, TimeProvider.System, NullLogger<ResponseTopicPolicy>.Instance), counters, TimeProvider.System, NullLogger<JobIntake>.Instance);
        _intake.TakeFromEmbeddedBroker();
    }

    public async ValueTask DisposeAsync()
    {
        await _runner.StopAsync(TimeSpan.FromSeconds(5), CancellationToken.None);
        await _runner.DisposeAsync();
        await _publisher.DisposeAsync();
        await _connection.DisposeAsync();
        _journal.Dispose();
        Directory.Delete(_folder, recursive: true);
    }

    [Fact]
    public async Task RunAsync_StrayCancellationInsideTheClient_AnsweredTimeoutAndLoggedAtDebugNotError()
    {
        // A cancellation that is neither the job's cancel, its deadline nor shutdown: a client's own timeout.
        _runner.Start(() => new ThrowingChatClient(() => new OperationCanceledException("an inner timeout")), "local:test@cpu");

        Assert.True(_intake.TryTakeAtBroker(Job("""{"id":"stray","prompt":"hi"}""")));

        await Poll.UntilAsync(() => _journal.Unpublished().Any(j => j.Key == "stray"), "the job's result");
        var result = _journal.Unpublished().Single(j => j.Key == "stray");
        Assert.Equal(ErrorCodes.Timeout, ResultJson.ErrorCode(result.Result));
        Assert.DoesNotContain(_log.Entries, e => e.Level >= LogLevel.Error);
        Assert.Contains(_log.Entries, e => e.Level == LogLevel.Debug && e.Exception is OperationCanceledException);
    }

    [Fact]
    public async Task RunAsync_UnexpectedException_AnsweredInternalAndLoggedAsError()
    {
        _runner.Start(() => new ThrowingChatClient(() => new InvalidOperationException("a bug")), "local:test@cpu");

        Assert.True(_intake.TryTakeAtBroker(Job("""{"id":"bug","prompt":"hi"}""")));

        await Poll.UntilAsync(() => _journal.Unpublished().Any(j => j.Key == "bug"), "the job's result");
        var result = _journal.Unpublished().Single(j => j.Key == "bug");
        Assert.Equal(ErrorCodes.Internal, ResultJson.ErrorCode(result.Result));
        Assert.Contains(_log.Entries, e => e.Level == LogLevel.Error && e.Exception is InvalidOperationException);
    }

    private MqttApplicationMessage Job(string json) =>
        new MqttApplicationMessageBuilder().WithTopic(_topics.Jobs).WithPayload(Encoding.UTF8.GetBytes(json)).Build();

    /// <summary>A chat client whose stream fails with the exception <paramref name="failure"/> makes, before any update.</summary>
    private sealed class ThrowingChatClient(Func<Exception> failure) : IChatClient
    {
        public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
            Task.FromException<ChatResponse>(failure());

        public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            await Task.Yield();
            throw failure();
#pragma warning disable CS0162 // Unreachable: the method must be an iterator all the same.
            yield break;
#pragma warning restore CS0162
        }

        public object? GetService(Type serviceType, object? serviceKey = null) => null;

        public void Dispose()
        {
        }
    }

    private sealed class RecordingLogger : ILogger<JobRunner>
    {
        private readonly List<(LogLevel Level, Exception? Exception)> _entries = [];

        public IReadOnlyList<(LogLevel Level, Exception? Exception)> Entries
        {
            get
            {
                lock (_entries)
                {
                    return [.. _entries];
                }
            }
        }

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (_entries)
            {
                _entries.Add((logLevel, exception));
            }
        }
    }
}
