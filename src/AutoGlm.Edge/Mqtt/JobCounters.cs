namespace AutoGlm.Edge.Mqtt;

/// <summary>Counts for <c>…/stats</c>.</summary>
/// <remarks>Thread-safe (interlocked).</remarks>
public sealed class JobCounters
{
    private long _accepted;
    private long _done;
    private long _failed;
    private long _completionTokens;

    /// <summary>Jobs journaled and acknowledged since start.</summary>
    public long Accepted => Interlocked.Read(ref _accepted);

    /// <summary>Jobs answered with a result since start.</summary>
    public long Done => Interlocked.Read(ref _done);

    /// <summary>Jobs answered with an error since start (intake errors included).</summary>
    public long Failed => Interlocked.Read(ref _failed);

    /// <summary>Tokens generated since start.</summary>
    public long CompletionTokens => Interlocked.Read(ref _completionTokens);

    public void OnAccepted() => Interlocked.Increment(ref _accepted);

    public void OnDone(int completionTokens)
    {
        Interlocked.Increment(ref _done);
        Interlocked.Add(ref _completionTokens, completionTokens);
    }

    public void OnFailed() => Interlocked.Increment(ref _failed);
}
