using System.Collections.Concurrent;
using System.Diagnostics;
using AutoGlm.Cluster.Contract;
using AutoGlm.Edge.Hosting;
using AutoGlm.Edge.Journal;
using Microsoft.Extensions.AI;

namespace AutoGlm.Edge.Mqtt;

/// <summary>
/// The dispatch loop: takes queued jobs and runs each (<see cref="JobExecution"/>) on the chat pipeline, at most
/// <see cref="MqttOptions.MaxConcurrentJobs"/> at a time; cancels jobs, and drains them at shutdown.
/// </summary>
/// <remarks>
/// Thread-safe. One dispatch loop takes jobs from the <see cref="JobQueue"/>; each job runs as its own task.
/// A job interrupted by shutdown gets no result: it stays unfinished in the journal and runs again at the next start.
/// </remarks>
public sealed partial class JobRunner : IAsyncDisposable
{
    private readonly JobQueue _queue;
    private readonly JobExecution _execution;
    private readonly BackgroundLoops? _loops;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, RunningJob> _running = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _slots;
    private readonly CancellationTokenSource _stopDispatch = new();
    private readonly CancellationTokenSource _abortRunning = new();
    private Task? _dispatchLoop;
    private long _lastLoopTimestamp = Stopwatch.GetTimestamp();

    public JobRunner(JobQueue queue, JobJournal journal, ResultPublisher publisher, MqttConnection connection, MqttTopics topics, JobCounters counters, MqttOptions options, TimeProvider time, ILogger<JobRunner> logger, BackgroundLoops? loops = null)
    {
        _queue = queue;
        _loops = loops;
        _execution = new JobExecution(journal, publisher, connection, topics, counters, time, logger);
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
        _execution.ChatClient = chatClient;
        _execution.ServedBy = servedBy;
        _dispatchLoop = _loops is null ? Task.Run(() => DispatchLoopAsync(_stopDispatch.Token)) : _loops.Run("MQTT dispatch loop", DispatchLoopAsync, _stopDispatch.Token);
    }

    /// <summary>Cancels a job: a waiting one is answered <c>cancelled</c> at once, a running one as soon as the engine stops it.</summary>
    /// <returns>False when the job is neither waiting nor running (unknown or already finished).</returns>
    public bool Cancel(string jobId)
    {
        if (_queue.TryRemove(jobId))
        {
            _execution.Finish(jobId, ResultJson.Error(jobId, ErrorCodes.Cancelled, "the job was cancelled before it started"), ErrorCodes.Cancelled);
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
            await _execution.RunAsync(job, running).ConfigureAwait(false);
        }
        finally
        {
            _running.TryRemove(job.Request.Id, out _);
            running.Dispose();
            _slots.Release();
        }
    }

    /// <summary>One job in flight: its cancellation sources and completion.</summary>
    internal sealed class RunningJob : IDisposable
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
