using System.Diagnostics;
using AutoGlm.Cluster.Contract;
using AutoGlm.Cluster;
using AutoGlm.Cluster.Routing;
using AutoGlm.Edge.Journal;
using AutoGlm.Edge.Metrics;
using AutoGlm.Edge.Pipeline;
using AutoGlm.Edge.Wire;
using AutoGlm.Runtime;
using AutoGlm.Runtime.Generation;
using Microsoft.Extensions.AI;
using MQTTnet;
using MQTTnet.Protocol;

namespace AutoGlm.Edge.Mqtt;

/// <summary>
/// Runs one job on the chat pipeline: turns it into messages and options, enforces its deadline, streams deltas when
/// asked, and journals its result (or its error) for the publisher.
/// </summary>
/// <remarks>Thread-safe: <see cref="JobRunner"/> runs many jobs through one instance at once.</remarks>
internal sealed partial class JobExecution
{
    private readonly JobJournal _journal;
    private readonly ResultPublisher _publisher;
    private readonly MqttConnection _connection;
    private readonly MqttTopics _topics;
    private readonly JobCounters _counters;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    public JobExecution(JobJournal journal, ResultPublisher publisher, MqttConnection connection, MqttTopics topics, JobCounters counters, TimeProvider time, ILogger logger)
    {
        _journal = journal;
        _publisher = publisher;
        _connection = connection;
        _topics = topics;
        _counters = counters;
        _time = time;
        _logger = logger;
    }

    /// <summary>The pipeline (resolved per job: the model loads first).</summary>
    public Func<IChatClient> ChatClient { get; set; } = () => throw new InvalidOperationException("the runner is not started");

    /// <summary>What results report in <c>served_by</c> when the router does not say (no heavy nodes configured).</summary>
    public string ServedBy { get; set; } = "local";

    /// <summary>Runs <paramref name="job"/> to its result; a job stopped by shutdown gets none and stays journaled.</summary>
    public async Task RunAsync(QueuedJob job, JobRunner.RunningJob running)
    {
        var request = job.Request;
        var started = Stopwatch.GetTimestamp();
        IChatClient client;
        try
        {
            client = ChatClient();
        }
        catch (RuntimeException ex)
        {
            Fail(request.Id, ErrorCodes.ModelUnavailable, ex.Message);
            return;
        }

        if (request.DeadlineMs is { } deadlineMs)
        {
            var remaining = job.ReceivedAt.AddMilliseconds(deadlineMs) - _time.GetUtcNow();
            if (remaining <= TimeSpan.Zero)
            {
                Fail(request.Id, ErrorCodes.Timeout, $"deadline_ms ({deadlineMs}) passed before the job could start");
                return;
            }

            running.SetDeadline(remaining, _time);
        }

        var options = ToOptions(request);
        if (request.DeadlineMs is not null && request.Route == "auto")
        {
            // The router sends a job whose local run would miss its deadline to a heavy node.
            options.SetDeadline(Math.Max(0, (job.ReceivedAt.AddMilliseconds(request.DeadlineMs.Value) - _time.GetUtcNow()).TotalMilliseconds));
        }

        var answer = new AnswerCollector();
        var seq = 0;
        try
        {
            Log.Running(_logger, request.Id, request.Messages.Count);
            Log.Prompt(_logger, request.Id, request.Messages[^1].Content);
            await foreach (var update in client.GetStreamingResponseAsync(ToMessages(request), options, running.Token).ConfigureAwait(false))
            {
                var (text, thought) = answer.Add(update);
                if (answer.RestartedNow)
                {
                    // A heavy node failed mid-answer and the router restarts the job locally: what it said is void.
                    Log.Restarted(_logger, request.Id);
                    if (request.Stream)
                    {
                        await StreamAsync(ResultJson.StreamRestart(request.Id, seq++, update.GetRouteReason()), request.Id, running.Token).ConfigureAwait(false);
                    }
                }

                if (request.Stream && thought.Length > 0)
                {
                    await StreamAsync(ResultJson.Delta(request.Id, seq++, thought, isReasoning: true), request.Id, running.Token).ConfigureAwait(false);
                }

                if (request.Stream && text.Length > 0)
                {
                    await StreamAsync(ResultJson.Delta(request.Id, seq++, text, isReasoning: false), request.Id, running.Token).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (running.WasCancelled)
        {
            Fail(request.Id, ErrorCodes.Cancelled, "the job was cancelled while it ran");
            return;
        }
        catch (OperationCanceledException) when (running.DeadlinePassed)
        {
            Fail(request.Id, ErrorCodes.Timeout, $"deadline_ms ({request.DeadlineMs}) passed while the job ran");
            return;
        }
        catch (OperationCanceledException) when (running.Aborted)
        {
            Log.LeftForNextStart(_logger, request.Id);
            return;
        }
        catch (ClusterException ex)
        {
            Fail(request.Id, ErrorCatalogue.For(ex.Code).MqttCode, ex.Message);
            return;
        }
        catch (RuntimeException ex)
        {
            var error = ErrorCatalogue.For(ex.Code);
            if (error.IsFault)
            {
                Log.EngineFailed(_logger, request.Id, ex);
            }

            Fail(request.Id, error.MqttCode, ex.Message);
            return;
        }
        catch (OperationCanceledException ex)
        {
            // Not the job's cancel, deadline or shutdown: something inside (a client's timeout) gave up. The job still
            // gets its answer rather than waiting for the next start.
            Log.GaveUp(_logger, request.Id, ex);
            Fail(request.Id, ErrorCodes.Timeout, "the engine gave up on the job (a timeout inside the daemon or its backend); the daemon logged the details");
            return;
        }
        catch (Exception ex)
        {
            Log.EngineFailed(_logger, request.Id, ex);
            Fail(request.Id, ErrorCodes.Internal, "the engine failed unexpectedly; the daemon logged the details");
            return;
        }

        if (request.Stream)
        {
            await StreamAsync(ResultJson.StreamEnd(request.Id, seq), request.Id, CancellationToken.None).ConfigureAwait(false);
        }

        var totalMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        var completion = answer.Text;
        var result = ResultJson.Success(request.Id, completion, answer.Reasoning, answer.FinishReason, answer.Usage, answer.ServedBy ?? ServedBy, answer.Timings, totalMs, answer.RouteReason, answer.Action);
        Log.Completion(_logger, request.Id, completion);
        if (Finish(request.Id, result, null))
        {
            _counters.OnDone((int)(answer.Usage?.OutputTokenCount ?? 0));
        }

        Log.Finished(_logger, request.Id, answer.Usage?.OutputTokenCount ?? 0, totalMs);
    }

    /// <summary>Journals <paramref name="jobId"/>'s error result.</summary>
    public void Fail(string jobId, string code, string message)
    {
        Log.JobFailed(_logger, jobId, code, message);
        if (Finish(jobId, ResultJson.Error(jobId, code, message), code))
        {
            _counters.OnFailed();
        }
    }

    /// <summary>Journals a result and wakes the publisher; false when the job was already finished.</summary>
    public bool Finish(string jobId, byte[] result, string? errorCode)
    {
        var stored = _journal.Complete(jobId, result, errorCode, _time.GetUtcNow());
        _publisher.Kick();
        return stored;
    }

    private async Task StreamAsync(byte[] payload, string jobId, CancellationToken cancellationToken)
    {
        // QoS 0: deltas are a courtesy; the result on the result topic is the record.
        var message = new MqttApplicationMessageBuilder()
            .WithTopic(_topics.Stream(jobId))
            .WithPayload(payload)
            .WithContentType("application/json")
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtMostOnce)
            .Build();
        await _connection.TryPublishAsync(message, cancellationToken).ConfigureAwait(false);
    }

    private static List<ChatMessage> ToMessages(JobRequest request)
    {
        var messages = request.Messages
            .Select(m => new ChatMessage(m.Role switch { "system" => ChatRole.System, "assistant" => ChatRole.Assistant, _ => ChatRole.User }, m.Content))
            .ToList();
        var target = messages.LastOrDefault(m => m.Role == ChatRole.User) ?? messages[^1];
        foreach (var media in request.Images.Concat(request.Audios))
        {
            target.Contents.Add(new DataContent(media.Data, media.MediaType));
        }

        return messages;
    }

    private static ChatOptions ToOptions(JobRequest request)
    {
        var options = new ChatOptions
        {
            MaxOutputTokens = request.MaxTokens,
            Temperature = request.Temperature,
            TopP = request.TopP,
            Seed = request.Seed,
        };
        MeteredChatClient.SetSource(options, "mqtt");
        if (request.EnableThinking is { } thinking)
        {
            options.SetEnableThinking(thinking);
        }

        if (request.Route != "auto")
        {
            options.SetRoute(request.Route);
        }

        return options;
    }
}
