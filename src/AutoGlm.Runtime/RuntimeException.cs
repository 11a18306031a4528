namespace AutoGlm.Runtime;

/// <summary>What went wrong in the runtime, as a code a front door maps to an MQTT error code or an HTTP status.</summary>
public enum RuntimeErrorCode
{
    /// <summary>The request itself is malformed or asks for something the engine cannot do.</summary>
    InvalidRequest,

    /// <summary>The templated prompt (plus <c>max_tokens</c> where it must fit) is longer than the context.</summary>
    ContextLengthExceeded,

    /// <summary>The model package could not be loaded, or the engine is not running.</summary>
    ModelUnavailable,

    /// <summary>A model package failed its integrity check.</summary>
    PackageInvalid,

    /// <summary>The request carries an image or audio that this model package has no adapter for.</summary>
    UnsupportedModality,

    /// <summary>An image or audio input that cannot be decoded: truncated, corrupt, lying about its size, or a codec the adapters do not read.</summary>
    UnsupportedMedia,

    /// <summary>An input over a configured limit (pixels, seconds, count of images or clips).</summary>
    PayloadTooLarge,

    /// <summary>The request queue is full.</summary>
    Overloaded,

    /// <summary>An unexpected failure inside the engine.</summary>
    Internal,
}

/// <summary>The one exception type the runtime throws for its own failures.</summary>
public sealed class RuntimeException : Exception
{
    public RuntimeException(RuntimeErrorCode code, string message, Exception? inner = null)
        : base(message, inner)
    {
        Code = code;
    }

    /// <summary>The failure's code.</summary>
    public RuntimeErrorCode Code { get; }

    /// <summary>The wire name of <see cref="Code"/> (<c>context_length_exceeded</c>, …), as MQTT and HTTP errors spell it.</summary>
    public string WireCode => ToWireCode(Code);

    /// <summary>Maps a code to its snake_case wire name.</summary>
    public static string ToWireCode(RuntimeErrorCode code) => code switch
    {
        RuntimeErrorCode.InvalidRequest => "invalid_request",
        RuntimeErrorCode.ContextLengthExceeded => "context_length_exceeded",
        RuntimeErrorCode.ModelUnavailable => "model_unavailable",
        RuntimeErrorCode.PackageInvalid => "package_invalid",
        RuntimeErrorCode.UnsupportedModality => "unsupported_modality",
        RuntimeErrorCode.UnsupportedMedia => "unsupported_media",
        RuntimeErrorCode.PayloadTooLarge => "payload_too_large",
        RuntimeErrorCode.Overloaded => "overloaded",
        _ => "internal",
    };
}
