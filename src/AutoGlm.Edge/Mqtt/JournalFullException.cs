namespace AutoGlm.Edge.Mqtt;

/// <summary>
/// A message the intake could not journal (a full disk, an I/O error): the job is not taken. Carries where its answer
/// goes and what it is (<c>storage_full</c>, or the job's own refusal), for a broker that can still answer it.
/// </summary>
public sealed class JournalFullException : Exception
{
    public JournalFullException(string? jobId, string replyTopic, byte[]? correlation, byte[] result, Exception inner)
        : base($"the job journal cannot be written: {inner.Message}", inner)
    {
        JobId = jobId;
        ReplyTopic = replyTopic;
        Correlation = correlation;
        Result = result;
    }

    /// <summary>The job id, when it could be read.</summary>
    public string? JobId { get; }

    /// <summary>Where the job's answer goes.</summary>
    public string ReplyTopic { get; }

    /// <summary>The MQTT 5 correlation data to echo.</summary>
    public byte[]? Correlation { get; }

    /// <summary>The answer: a <c>storage_full</c> error, or the job's own refusal.</summary>
    public byte[] Result { get; }
}
