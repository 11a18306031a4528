using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using AutoGlm.Cluster;
using AutoGlm.Edge.Journal;
using AutoGlm.Runtime;
using AutoGlm.Runtime.Generation;
using Microsoft.Extensions.AI;
using MQTTnet;
using MQTTnet.Protocol;
using RoutingChatClient = AutoGlm.Cluster.Routing.RoutingChatClient;

namespace AutoGlm.Edge.Mqtt;

/// <summary>
/// Runs queued jobs on the chat client, at most <see cref="MqttOptions.MaxConcurrentJobs"/> at a time, enforcing
/// deadlines and cancellations, streaming deltas when asked, and journaling each result for the publisher.
/// </summary>
/// <remarks>
/// Thread-safe. One dispatch loop takes jobs from the <see cref="JobQueue"/>; each job runs as its own task.
/// A job interrupted by shutdown gets no result: it stays unfinished in the journal and runs again at the next start.
/// </remarks>
public sealed partial class JobRunner : IAsyncDisposable
{
    private readonly JobQueue _queue;
    private readonly JobJournal _journal;
    private readonly ResultPublisher _publisher;
    private readonly MqttConnection _connection;
    private readonly MqttTopics _topics;
    private readonly JobCounters _counters;
    private readonly MqttOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, RunningJob> _running = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _slots;
    private readonly CancellationTokenSource _stopDispatch = new();
    private readonly CancellationTokenSource _abortRunning = new();
    private Func<IChatClient>? _chatClient;
    private string _servedBy = "local";
    private Task? _dispatchLoop;
    private long _lastLoopTimestamp = Stopwatch.GetTimestamp();

    public JobRunner(JobQueue queue, JobJournal journal, ResultPublisher publisher, MqttConnection connection, MqttTopics topics, JobCounters counters, MqttOptions options, TimeProvider time, ILogger<JobRunner> logger)
    {
        _queue = queue;
        _journal = journal;
        _publisher = publisher;
        _connection = connection;
        _topics = topics;
        _counters = counters;
        _options = options;
        _time = time;
        _logger = logger;
        _slots = new SemaphoreSlim(options.MaxConcurrentJobs);
    }

    /// <summary>Jobs running now.</summary>
    public int Running => _running.Count;

    /// <summary>Time since the dispatch loop last went round (it wakes at least every second); the watchdog reads it.</summary>
    public TimeSpan SinceLastLoop => Stopwatch.GetElapsedTime(Interlocked.Read(ref _lastLoopTimestamp));

    /// <summary>Whether the dispatch loop is running.</summary>
    public bool IsRunning => _dispatchLoop is { IsCompleted: false };

    /// <summary>Starts the dispatch loop over <paramref name="chatClient"/> (resolved lazily: the model loads first).</summary>
    /// <param name="chatClient">The engine (or the router in front of it).</param>
    /// <param name="servedBy">What results report in <c>served_by</c>.</param>
    public void Start(Func<IChatClient> chatClient, string servedBy)
    {
        _chatClient = chatClient;
        _servedBy = servedBy;
        _dispatchLoop = Task.Run(() => DispatchLoopAsync(_stopDispatch.Token));
    }

    /// <summary>Cancels a job: a waiting one is answered <c>cancelled</c> at once, a running one as soon as the engine stops it.</summary>
    /// <returns>False when the job is neither waiting nor running (unknown or already finished).</returns>
    public bool Cancel(string jobId)
    {
        if (_queue.TryRemove(jobId))
        {
            Finish(jobId, ResultJson.Error(jobId, ErrorCodes.Cancelled, "the job was cancelled before it started"), ErrorCodes.Cancelled);
            return true;
        }

        if (_running.TryGetValue(jobId, out var running))
        {
            running.Cancel();
            return true;
        }

        return false;
    }

    /// <summary>
    /// Stops taking jobs from the queue, lets running jobs finish within <paramref name="grace"/>, then stops the rest
    /// (they stay journaled and run again at the next start).
    /// </summary>
    public async Task StopAsync(TimeSpan grace, CancellationToken cancellationToken)
    {
        await _stopDispatch.CancelAsync().ConfigureAwait(false);
        if (_dispatchLoop is not null)
        {
            await _dispatchLoop.ConfigureAwait(false);
        }

        var running = _running.Values.Select(r => r.Completion).ToArray();
        if (running.Length > 0)
        {
            Log.Draining(_logger, running.Length, grace.TotalSeconds);
            var all = Task.WhenAll(running);
            try
            {
                await all.WaitAsync(grace, _time, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                Log.GraceExpired(_logger, _running.Count);
            }
            catch (OperationCanceledException)
            {
                Log.GraceExpired(_logger, _running.Count);
            }

            await _abortRunning.CancelAsync().ConfigureAwait(false);
            await Task.WhenAll(running).ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopDispatch.CancelAsync().ConfigureAwait(false);
        await _abortRunning.CancelAsync().ConfigureAwait(false);
        _stopDispatch.Dispose();
        _abortRunning.Dispose();
        _slots.Dispose();
    }

    private async Task DispatchLoopAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                Interlocked.Exchange(ref _lastLoopTimestamp, Stopwatch.GetTimestamp());
                if (!await _slots.WaitAsync(TimeSpan.FromSeconds(1), cancellationToken).ConfigureAwait(false))
                {
                    continue;
                }

                var job = await _queue.DequeueAsync(TimeSpan.FromSeconds(1), cancellationToken).ConfigureAwait(false);
                if (job is null)
                {
                    _slots.Release();
                    continue;
                }

                var running = new RunningJob(_abortRunning.Token);
                if (!_running.TryAdd(job.Request.Id, running))
                {
                    // The same id queued twice (a replay racing an intake): the one running answers it.
                    _slots.Release();
                    running.Dispose();
                    continue;
                }

                running.Completion = RunAndReleaseAsync(job, running);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            Log.DispatchStopped(_logger);
        }
    }

    private async Task RunAndReleaseAsync(QueuedJob job, RunningJob running)
    {
        try
        {
            await Task.Yield();
            await RunAsync(job, running).ConfigureAwait(false);
        }
        finally
        {
            _running.TryRemove(job.Request.Id, out _);
            running.Dispose();
            _slots.Release();
        }
    }

    private async Task RunAsync(QueuedJob job, RunningJob running)
    {
        var request = job.Request;
        var started = Stopwatch.GetTimestamp();
        IChatClient client;
        try
        {
            client = _chatClient!();
        }
        catch (RuntimeException ex)
        {
            Fail(request.Id, ErrorCodes.ModelUnavailable, ex.Message);
            return;
        }

        if (request.Route == "remote" && client.GetService<RoutingChatClient>() is null)
        {
            Fail(request.Id, ErrorCodes.RemoteUnavailable, "route 'remote' was asked but no remote engine is configured on this device; use 'auto' or 'local'");
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
            (options.AdditionalProperties ??= [])[RoutingChatClient.DeadlineProperty] = Math.Max(0, (job.ReceivedAt.AddMilliseconds(request.DeadlineMs.Value) - _time.GetUtcNow()).TotalMilliseconds);
        }

        var text = new StringBuilder();
        StringBuilder? reasoning = null;
        ChatFinishReason? finish = null;
        UsageDetails? usage = null;
        GenerationTimings? timings = null;
        var servedBy = _servedBy;
        string? routeReason = null;
        var seq = 0;
        try
        {
            Log.Running(_logger, request.Id, request.Messages.Count);
            Log.Prompt(_logger, request.Id, request.Messages[^1].Content);
            await foreach (var update in client.GetStreamingResponseAsync(ToMessages(request), options, running.Token).ConfigureAwait(false))
            {
                if (RoutingChatClient.IsRestart(update))
                {
                    // A heavy node failed mid-answer and the router restarts the job locally: what it said is void.
                    text.Clear();
                    reasoning = null;
                    (finish, usage, timings) = (null, null, null);
                    Log.Restarted(_logger, request.Id);
                    if (request.Stream)
                    {
                        var why = update.AdditionalProperties!.TryGetValue(RoutingChatClient.RouteReasonProperty, out var restartReason) ? restartReason as string : null;
                        await StreamAsync(ResultJson.StreamRestart(request.Id, seq++, why), request.Id, running.Token).ConfigureAwait(false);
                    }
                }

                foreach (var content in update.Contents)
                {
                    switch (content)
                    {
                        case TextReasoningContent thought when thought.Text.Length > 0:
                            (reasoning ??= new StringBuilder()).Append(thought.Text);
                            if (request.Stream)
                            {
                                await StreamAsync(ResultJson.Delta(request.Id, seq++, thought.Text, isReasoning: true), request.Id, running.Token).ConfigureAwait(false);
                            }

                            break;
                        case TextContent piece when piece.Text.Length > 0:
                            text.Append(piece.Text);
                            if (request.Stream)
                            {
                                await StreamAsync(ResultJson.Delta(request.Id, seq++, piece.Text, isReasoning: false), request.Id, running.Token).ConfigureAwait(false);
                            }

                            break;
                        case UsageContent used:
                            usage = used.Details;
                            break;
                    }
                }

                finish = update.FinishReason ?? finish;
                if (update.AdditionalProperties?.TryGetValue("timings", out var t) == true && t is GenerationTimings measured)
                {
                    timings = measured;
                }

                if (update.AdditionalProperties?.TryGetValue(RoutingChatClient.ServedByProperty, out var by) == true && by is string routedTo)
                {
                    servedBy = routedTo;
                    routeReason = update.AdditionalProperties.TryGetValue(RoutingChatClient.RouteReasonProperty, out var why) ? why as string : null;
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
            Fail(request.Id, ex.WireCode, ex.Message);
            return;
        }
        catch (RuntimeException ex)
        {
            var code = ex.Code switch
            {
                RuntimeErrorCode.InvalidRequest => ErrorCodes.InvalidJob,
                RuntimeErrorCode.ContextLengthExceeded => ErrorCodes.ContextLengthExceeded,
                RuntimeErrorCode.UnsupportedModality => ErrorCodes.UnsupportedModality,
                RuntimeErrorCode.UnsupportedMedia => ErrorCodes.UnsupportedMedia,
                RuntimeErrorCode.PayloadTooLarge => ErrorCodes.PayloadTooLarge,
                RuntimeErrorCode.Overloaded => ErrorCodes.Overloaded,
                RuntimeErrorCode.ModelUnavailable => ErrorCodes.ModelUnavailable,
                _ => ErrorCodes.Internal,
            };
            if (code == ErrorCodes.Internal)
            {
                Log.EngineFailed(_logger, request.Id, ex);
            }

            Fail(request.Id, code, ex.Message);
            return;
        }
        catch (Exception ex) when (Hosting.EngineHost.IsBackendFailure(ex))
        {
            // Runtime:Backend=openai: the engine behind this daemon is down or refused the job.
            Fail(request.Id, ErrorCodes.ModelUnavailable, $"the backend engine (Runtime:OpenAi) failed: {ex.Message}");
            return;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Log.EngineFailed(_logger, request.Id, ex);
            Fail(request.Id, ErrorCodes.Internal, "the engine failed unexpectedly; the daemon logged the details");
            return;
        }
        catch (OperationCanceledException ex)
        {
            // Not the job's cancel, deadline or shutdown: something inside (a client's timeout) gave up. The job still
            // gets its answer rather than waiting for the next start.
            Log.EngineFailed(_logger, request.Id, ex);
            Fail(request.Id, ErrorCodes.Timeout, "the engine gave up on the job (a timeout inside the daemon or its backend); the daemon logged the details");
            return;
        }

        if (request.Stream)
        {
            await StreamAsync(ResultJson.StreamEnd(request.Id, seq), request.Id, CancellationToken.None).ConfigureAwait(false);
        }

        var totalMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        var result = ResultJson.Success(request.Id, text.ToString(), reasoning?.ToString(), finish, usage, servedBy, timings, totalMs, routeReason);
        Log.Completion(_logger, request.Id, text.ToString());
        if (Finish(request.Id, result, null))
        {
            _counters.OnDone((int)(usage?.OutputTokenCount ?? 0));
        }

        Log.Finished(_logger, request.Id, usage?.OutputTokenCount ?? 0, totalMs);
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

    private void Fail(string jobId, string code, string message)
    {
        Log.JobFailed(_logger, jobId, code, message);
        if (Finish(jobId, ResultJson.Error(jobId, code, message), code))
        {
            _counters.OnFailed();
        }
    }

    private bool Finish(string jobId, byte[] result, string? errorCode)
    {
        var stored = _journal.Complete(jobId, result, errorCode, _time.GetUtcNow());
        _publisher.Kick();
        return stored;
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
        if (request.EnableThinking is { } thinking)
        {
            (options.AdditionalProperties ??= [])[LocalEngine.EnableThinkingProperty] = thinking;
        }

        if (request.Route != "auto")
        {
            (options.AdditionalProperties ??= [])[RoutingChatClient.RouteProperty] = request.Route;
        }

        return options;
    }

    /// <summary>One job in flight: its cancellation sources and completion.</summary>
    private sealed class RunningJob : IDisposable
    {
        private readonly CancellationTokenSource _cancel = new();
        private readonly CancellationTokenSource _linked;
        private readonly CancellationToken _abort;
        private CancellationTokenSource? _deadline;

        public RunningJob(CancellationToken abort)
        {
            _abort = abort;
            _linked = CancellationTokenSource.CreateLinkedTokenSource(_cancel.Token, abort);
        }

        public CancellationToken Token => _linked.Token;

        public Task Completion { get; set; } = Task.CompletedTask;

        public bool WasCancelled => _cancel.IsCancellationRequested && !DeadlinePassed;

        public bool DeadlinePassed => _deadline?.IsCancellationRequested == true;

        public bool Aborted => _abort.IsCancellationRequested;

        public void Cancel()
        {
            try
            {
                _cancel.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // The job finished between the lookup and the cancel: its result stands.
            }
        }

        public void SetDeadline(TimeSpan remaining, TimeProvider time)
        {
            _deadline = new CancellationTokenSource(remaining, time);
            _deadline.Token.Register(static state => ((CancellationTokenSource)state!).Cancel(), _cancel);
        }

        public void Dispose()
        {
            _deadline?.Dispose();
            _linked.Dispose();
            _cancel.Dispose();
        }
    }
}
