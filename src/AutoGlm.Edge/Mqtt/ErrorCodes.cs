namespace AutoGlm.Edge.Mqtt;

/// <summary>The <c>error.code</c> values a job result may carry (the wire contract, see docs/mqtt.md).</summary>
public static class ErrorCodes
{
    /// <summary>The payload is not JSON (empty, binary, invalid UTF-8, broken syntax).</summary>
    public const string InvalidJson = "invalid_json";

    /// <summary>The JSON (or the user properties) do not follow the job schema; the message names the field.</summary>
    public const string InvalidJob = "invalid_job";

    /// <summary>The MQTT 5 response topic may not be used (see <see cref="ResponseTopicPolicy"/>); the result goes to the default topic.</summary>
    public const string ForbiddenResponseTopic = "forbidden_response_topic";

    /// <summary>The payload, a text or a media item is over its configured limit.</summary>
    public const string PayloadTooLarge = "payload_too_large";

    /// <summary>The image or audio bytes are not JPEG, PNG or WAV.</summary>
    public const string UnsupportedMedia = "unsupported_media";

    /// <summary>The model package has no adapter for the image or audio the job carries.</summary>
    public const string UnsupportedModality = "unsupported_modality";

    /// <summary>The prompt plus <c>max_tokens</c> do not fit the model's context.</summary>
    public const string ContextLengthExceeded = "context_length_exceeded";

    /// <summary>The work queue (or the engine's) is full; send again later, the same id is allowed.</summary>
    public const string Overloaded = "overloaded";

    /// <summary>
    /// The job was not taken: the device cannot write its job journal (the disk is full); send it again later. With the
    /// embedded broker the publish was also refused (PUBACK reason code 0x97, quota exceeded).
    /// </summary>
    public const string StorageFull = "storage_full";

    /// <summary>The job's <c>deadline_ms</c> passed before it finished.</summary>
    public const string Timeout = "timeout";

    /// <summary>The job was cancelled through <c>…/jobs/&lt;id&gt;/cancel</c>.</summary>
    public const string Cancelled = "cancelled";

    /// <summary>The job asked for <c>route: remote</c> and no remote engine is configured (or none could take it and <c>Cluster:OnRemoteFailure</c> is <c>fail</c>).</summary>
    public const string RemoteUnavailable = "remote_unavailable";

    /// <summary>The heavy node failed after it had streamed part of the answer; the answer is incomplete.</summary>
    public const string RemoteInterrupted = "remote_interrupted";

    /// <summary>The model is not loaded.</summary>
    public const string ModelUnavailable = "model_unavailable";

    /// <summary>Anything unexpected; the daemon logged it.</summary>
    public const string Internal = "internal";
}
