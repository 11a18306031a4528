using System.Text.Json;
using AutoGlm.Cluster.Contract;
using AutoGlm.Edge.Journal;
using MQTTnet;
using MQTTnet.Packets;

namespace AutoGlm.Edge.Mqtt;

/// <summary>
/// Takes each received message: parses and validates it, journals the job (or its error result), and only then
/// acknowledges it to the broker (manual PUBACK), so a crash in between means redelivery, not loss.
/// </summary>
/// <remarks>
/// <para>
/// Called one message at a time by <see cref="MqttConnection"/>. After <see cref="StopAccepting"/> messages are
/// neither journaled nor acknowledged: the broker keeps them in the session for the next start.
/// </para>
/// <para>
/// A message the journal cannot take (a full disk) is not taken: with the embedded broker the publisher's PUBACK
/// carries a failure reason code and a <c>storage_full</c> result is published unjournaled; with an external broker it
/// stays unacknowledged there and is delivered again when the intake reconnects. An exception that escapes the
/// handling of a message, or a message whose handling does not return, marks the intake stalled
/// (<see cref="Stall"/>): readiness and the systemd watchdog report it.
/// </para>
/// </remarks>
public sealed partial class JobIntake
{
    private readonly JobParser _parser;
    private readonly JobJournal _journal;
    private readonly JobQueue _queue;
    private readonly JobRunner _runner;
    private readonly ResultPublisher _publisher;
    private readonly MqttTopics _topics;
    private readonly ResponseTopicPolicy _responseTopics;
    private readonly JobCounters _counters;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private volatile bool _accepting = true;
    private volatile bool _takingAtBroker;
    private volatile bool _leftAtBroker;
    private volatile string? _stalled;
    private volatile string? _handlingTopic;
    private long _handlingSince;

    public JobIntake(JobParser parser, JobJournal journal, JobQueue queue, JobRunner runner, ResultPublisher publisher, MqttTopics topics, ResponseTopicPolicy responseTopics, JobCounters counters, TimeProvider time, ILogger<JobIntake> logger)
    {
        _parser = parser;
        _journal = journal;
        _queue = queue;
        _runner = runner;
        _publisher = publisher;
        _topics = topics;
        _responseTopics = responseTopics;
        _counters = counters;
        _time = time;
        _logger = logger;
    }

    /// <summary>Stops taking jobs (shutdown): later messages stay unacknowledged with the broker.</summary>
    public void StopAccepting() => _accepting = false;

    /// <summary>Puts the jobs a previous run accepted but did not finish back in the queue; returns how many.</summary>
    public int Replay()
    {
        var count = 0;
        foreach (var journaled in _journal.Unfinished())
        {
            var request = JsonSerializer.Deserialize(journaled.Request, JobJsonContext.Default.JobRequest);
            if (request is null)
            {
                _journal.Complete(journaled.Key, ResultJson.Error(journaled.Key, ErrorCodes.Internal, "the journaled job could not be read back"), ErrorCodes.Internal, _time.GetUtcNow());
                continue;
            }

            _queue.TryEnqueue(new QueuedJob(request, journaled.ReceivedAt), force: true);
            count++;
        }

        return count;
    }

    /// <summary>Handles one message from the broker.</summary>
    public async Task HandleAsync(MqttApplicationMessageReceivedEventArgs e)
    {
        e.AutoAcknowledge = false;
        if (!_accepting)
        {
            Log.NotAccepting(_logger, e.ApplicationMessage.Topic);
            return;
        }

        var message = e.ApplicationMessage;
        BeginHandling(message.Topic);
        try
        {
            try
            {
                Receive(message);
            }
            catch (JournalFullException ex)
            {
                // Not journaled, so not acknowledged: it stays with the broker, which delivers it again when the
                // intake reconnects (it does once the journal can be written again).
                _leftAtBroker = true;
                Log.LeftAtBroker(_logger, message.Topic, ex.JobId ?? "(no id)", ex.InnerException!.Message);
                return;
            }

            try
            {
                await e.AcknowledgeAsync(CancellationToken.None).ConfigureAwait(false);
            }
            catch (MQTTnet.Exceptions.MqttCommunicationException ex)
            {
                // Journaled but not acknowledged: the broker delivers it again, and the journal answers it once.
                Log.AckLost(_logger, message.Topic, ex.Message);
            }
        }
        catch (Exception ex) when (MarkStalled(message.Topic, ex))
        {
            // Never reached: MarkStalled only records the exception and lets it go on.
            throw;
        }
        finally
        {
            EndHandling();
        }
    }

    /// <summary>
    /// Why the intake is stalled, or null: an exception escaped the handling of a message (sticky: such a message is
    /// left unacknowledged and would come again), or one message has been in handling for longer than <paramref name="limit"/>.
    /// </summary>
    public string? Stall(TimeSpan limit)
    {
        if (_stalled is { } stalled)
        {
            return stalled;
        }

        var since = Interlocked.Read(ref _handlingSince);
        return since != 0 && _time.GetElapsedTime(since) is var elapsed && elapsed > limit
            ? $"the handling of a message on {_handlingTopic} has not returned for {elapsed.TotalSeconds:F0} s"
            : null;
    }

    /// <summary>
    /// Whether a message was left unacknowledged at an external broker because the journal could not take it; clears
    /// the flag. The intake then reconnects once the journal can be written, so the broker delivers it again.
    /// </summary>
    public bool TakeLeftAtBroker()
    {
        var left = _leftAtBroker;
        _leftAtBroker = false;
        return left;
    }

    /// <summary>
    /// The publisher of a message the embedded broker could not journal gets its answer now, unjournaled: the
    /// <c>storage_full</c> error (or the job's own error when it was refused anyway).
    /// </summary>
    public void AnswerNotTaken(JournalFullException notTaken)
    {
        _counters.OnFailed();
        _ = _publisher.PublishUnjournaledAsync(notTaken.ReplyTopic, notTaken.Correlation, notTaken.Result);
    }

    /// <summary>
    /// From now on (the journal replayed, the runner and publisher started) the embedded broker may hand job
    /// messages to <see cref="TryTakeAtBroker"/> before it acknowledges them to their publisher.
    /// </summary>
    public void TakeFromEmbeddedBroker() => _takingAtBroker = true;

    /// <summary>
    /// Called by the embedded broker for every publish, before it answers the publisher: a job message is parsed and
    /// journaled here, so the publisher's PUBACK means the job is on disk even though broker and daemon share a
    /// process. Returns false for anything the broker should route the usual way (other topics, or not taking yet).
    /// </summary>
    /// <exception cref="JournalFullException">The journal could not be written: the job is not taken; the caller refuses the publish and answers with <see cref="AnswerNotTaken"/>.</exception>
    public bool TryTakeAtBroker(MqttApplicationMessage message)
    {
        if (!_takingAtBroker || !_accepting
            || (message.Topic != _topics.Jobs && message.Topic != _topics.ImageJobs && message.Topic != _topics.AudioJobs))
        {
            return false;
        }

        BeginHandling(message.Topic);
        try
        {
            Receive(message);
            return true;
        }
        catch (Exception ex) when (ex is not JournalFullException && MarkStalled(message.Topic, ex))
        {
            // Never reached: MarkStalled only records the exception and lets it go on.
            throw;
        }
        finally
        {
            EndHandling();
        }
    }

    private void BeginHandling(string topic)
    {
        _handlingTopic = topic;
        Interlocked.Exchange(ref _handlingSince, _time.GetTimestamp());
    }

    private void EndHandling() => Interlocked.Exchange(ref _handlingSince, 0);

    /// <summary>Records an exception that escaped the handling of a message; returns false, so it is not caught.</summary>
    private bool MarkStalled(string topic, Exception exception)
    {
        _stalled = $"the handling of a message on {topic} failed ({exception.GetType().Name}: {exception.Message}); it stays unacknowledged; restart the daemon";
        Log.Stalled(_logger, topic, exception);
        return false;
    }

    private void Receive(MqttApplicationMessage message)
    {
        if (_topics.CancelledJobId(message.Topic) is { } cancelId)
        {
            var found = _runner.Cancel(cancelId);
            Log.CancelRequested(_logger, cancelId, found);
        }
        else if (message.Topic == _topics.Jobs)
        {
            Accept(message, _parser.ParseJson(message.Payload));
        }
        else if (message.Topic == _topics.ImageJobs || message.Topic == _topics.AudioJobs)
        {
            var properties = (message.UserProperties ?? []).Select(p => KeyValuePair.Create(p.Name, p.ReadValueAsString())).ToList();
            Accept(message, _parser.ParseMedia(message.Topic == _topics.ImageJobs, message.Payload, properties));
        }
        else
        {
            Log.UnexpectedTopic(_logger, message.Topic);
        }
    }

    private void Accept(MqttApplicationMessage message, ParsedJob parsed)
    {
        var now = _time.GetUtcNow();
        var responseTopic = string.IsNullOrEmpty(message.ResponseTopic) ? null : message.ResponseTopic;
        if (responseTopic is not null && _responseTopics.Refusal(responseTopic, parsed.Id) is { } refusal)
        {
            // Not run, and answered on the default topic: a job must not make the daemon write where it likes.
            parsed = parsed.Job is null ? parsed : ParsedJob.Fail(ErrorCodes.ForbiddenResponseTopic, refusal, parsed.Id);
            responseTopic = null;
        }

        if (parsed.Job is not { } job)
        {
            var error = parsed.Error!;
            var replyTo = responseTopic ?? (parsed.Id is { } knownId ? _topics.Result(knownId) : _topics.Errors);
            Log.Refused(_logger, parsed.Id ?? "(no id)", error.Code, error.Message);
            var errorResult = ResultJson.Error(parsed.Id, error.Code, error.Message);
            Journal(new NewJob("invalid:" + Guid.NewGuid().ToString("N"), now, 0, null, replyTo, message.CorrelationData, errorResult, error.Code), parsed.Id, errorResult);
            _counters.OnFailed();
            _publisher.Kick();
            return;
        }

        var request = JsonSerializer.SerializeToUtf8Bytes(job, JobJsonContext.Default.JobRequest);
        var outcome = Journal(new NewJob(job.Id, now, job.Priority, request, responseTopic ?? _topics.Result(job.Id), message.CorrelationData), job.Id, result: null);
        switch (outcome)
        {
            case AddOutcome.Added when _queue.TryEnqueue(new QueuedJob(job, now)):
                _counters.OnAccepted();
                Log.Accepted(_logger, job.Id, job.Priority, _queue.Count);
                break;
            case AddOutcome.Added:
                _counters.OnAccepted();
                _counters.OnFailed();
                Log.Refused(_logger, job.Id, ErrorCodes.Overloaded, "queue full");
                _journal.Complete(job.Id, ResultJson.Error(job.Id, ErrorCodes.Overloaded, $"the work queue is full ({_queue.Capacity} jobs, Mqtt:QueueCapacity); send the job again later"), ErrorCodes.Overloaded, now);
                _publisher.Kick();
                break;
            case AddOutcome.AlreadyFinished:
                Log.Duplicate(_logger, job.Id, "finished; its result is sent again");
                _publisher.Kick();
                break;
            default:
                Log.Duplicate(_logger, job.Id, "still pending; its one result will come");
                break;
        }
    }

    /// <summary>Journals a job (or its refusal, <paramref name="result"/>); a journal that cannot be written means the job is not taken.</summary>
    private AddOutcome Journal(NewJob job, string? id, byte[]? result)
    {
        try
        {
            return _journal.Add(job);
        }
        catch (Microsoft.Data.Sqlite.SqliteException ex)
        {
            result ??= ResultJson.Error(id, ErrorCodes.StorageFull, $"the job was not taken: this device cannot write its job journal ({ex.Message}); send it again later");
            throw new JournalFullException(id, job.ReplyTopic, job.Correlation, result, ex);
        }
    }
}
