namespace AutoGlm.Edge.Mqtt;

/// <summary>A job waiting to run.</summary>
/// <param name="Request">The validated job.</param>
/// <param name="ReceivedAt">When it first arrived (deadlines count from here).</param>
public sealed record QueuedJob(JobRequest Request, DateTimeOffset ReceivedAt);

/// <summary>
/// The bounded work queue: highest priority first, then first come first served. When it holds
/// <see cref="Capacity"/> jobs, <see cref="TryEnqueue"/> refuses at once rather than growing.
/// </summary>
/// <remarks>Thread-safe: many producers (intake, cancel) and one consumer (the runner's dispatch loop).</remarks>
public sealed class JobQueue
{
    private readonly PriorityQueue<QueuedJob, (int Priority, long Order)> _queue = new();
    private readonly SemaphoreSlim _available = new(0);
    private readonly Lock _gate = new();
    private long _order;

    public JobQueue(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        Capacity = capacity;
    }

    /// <summary>Jobs the queue holds before it refuses new ones.</summary>
    public int Capacity { get; }

    /// <summary>Jobs waiting now.</summary>
    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _queue.Count;
            }
        }
    }

    /// <summary>Adds a job unless the queue is full.</summary>
    /// <param name="job">The job.</param>
    /// <param name="force">Add even when full: for jobs accepted before a restart, which were already promised a result.</param>
    public bool TryEnqueue(QueuedJob job, bool force = false)
    {
        lock (_gate)
        {
            if (!force && _queue.Count >= Capacity)
            {
                return false;
            }

            _queue.Enqueue(job, (-job.Request.Priority, _order++));
        }

        _available.Release();
        return true;
    }

    /// <summary>Removes a waiting job (a cancellation); false when it is not waiting.</summary>
    public bool TryRemove(string jobId)
    {
        lock (_gate)
        {
            foreach (var (job, priority) in _queue.UnorderedItems)
            {
                if (job.Request.Id == jobId)
                {
                    return _queue.Remove(job, out _, out _);
                }
            }

            return false;
        }
    }

    /// <summary>Waits up to <paramref name="wait"/> for the next job; null when none came.</summary>
    public async Task<QueuedJob?> DequeueAsync(TimeSpan wait, CancellationToken cancellationToken)
    {
        while (await _available.WaitAsync(wait, cancellationToken).ConfigureAwait(false))
        {
            lock (_gate)
            {
                if (_queue.TryDequeue(out var job, out _))
                {
                    return job;
                }
            }

            // A removed (cancelled) job left its signal behind; look again without waiting.
            wait = TimeSpan.Zero;
        }

        return null;
    }
}
