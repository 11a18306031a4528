using AutoGlm.Cluster;
using AutoGlm.Edge.Mqtt;
using AutoGlm.Runtime;

namespace AutoGlm.Edge.Wire;

/// <summary>How one failure is answered on each front door.</summary>
/// <param name="MqttCode">The result's <c>error.code</c> (<see cref="ErrorCodes"/>).</param>
/// <param name="HttpStatus">The HTTP status.</param>
/// <param name="HttpType">OpenAI's error type (<c>invalid_request_error</c>, <c>server_error</c>).</param>
/// <param name="HttpCode">The HTTP error's <c>code</c>.</param>
/// <param name="RetryAfterSeconds">What <c>Retry-After</c> says, where asking again later can help.</param>
/// <param name="IsFault">Whether it is this daemon's fault (logged as an error, its message withheld over HTTP) rather than a refusal.</param>
public sealed record WireError(string MqttCode, int HttpStatus, string HttpType, string HttpCode, int? RetryAfterSeconds, bool IsFault);

/// <summary>Every engine and cluster error code with its MQTT code and HTTP status, in one table both front doors read.</summary>
public static class ErrorCatalogue
{
    private const string Invalid = "invalid_request_error";
    private const string Server = "server_error";

    /// <summary>How a failure the engine reported is answered.</summary>
    public static WireError For(RuntimeErrorCode code) => code switch
    {
        RuntimeErrorCode.InvalidRequest => new(ErrorCodes.InvalidJob, StatusCodes.Status400BadRequest, Invalid, RuntimeException.ToWireCode(code), null, false),
        RuntimeErrorCode.ContextLengthExceeded => new(ErrorCodes.ContextLengthExceeded, StatusCodes.Status400BadRequest, Invalid, RuntimeException.ToWireCode(code), null, false),
        RuntimeErrorCode.UnsupportedModality => new(ErrorCodes.UnsupportedModality, StatusCodes.Status400BadRequest, Invalid, RuntimeException.ToWireCode(code), null, false),
        RuntimeErrorCode.UnsupportedMedia => new(ErrorCodes.UnsupportedMedia, StatusCodes.Status400BadRequest, Invalid, RuntimeException.ToWireCode(code), null, false),
        RuntimeErrorCode.PayloadTooLarge => new(ErrorCodes.PayloadTooLarge, StatusCodes.Status413PayloadTooLarge, Invalid, RuntimeException.ToWireCode(code), null, false),
        RuntimeErrorCode.Overloaded => new(ErrorCodes.Overloaded, StatusCodes.Status503ServiceUnavailable, Server, RuntimeException.ToWireCode(code), 1, false),
        RuntimeErrorCode.ModelUnavailable => new(ErrorCodes.ModelUnavailable, StatusCodes.Status503ServiceUnavailable, Server, ErrorCodes.ModelUnavailable, 5, false),

        // A package that fails its check is the operator's to fix: HTTP clients see the model as unavailable.
        RuntimeErrorCode.PackageInvalid => new(ErrorCodes.Internal, StatusCodes.Status503ServiceUnavailable, Server, ErrorCodes.ModelUnavailable, 5, true),
        _ => new(ErrorCodes.Internal, StatusCodes.Status500InternalServerError, Server, ErrorCodes.Internal, null, true),
    };

    /// <summary>How a failure of the heavy nodes is answered.</summary>
    public static WireError For(ClusterErrorCode code) => code switch
    {
        ClusterErrorCode.RemoteNotConfigured => new(ErrorCodes.RemoteUnavailable, StatusCodes.Status503ServiceUnavailable, Server, ErrorCodes.RemoteUnavailable, null, false),
        ClusterErrorCode.RemoteUnavailable => new(ErrorCodes.RemoteUnavailable, StatusCodes.Status503ServiceUnavailable, Server, ErrorCodes.RemoteUnavailable, 5, false),
        _ => new(ErrorCodes.RemoteInterrupted, StatusCodes.Status503ServiceUnavailable, Server, ErrorCodes.RemoteInterrupted, 5, false),
    };
}
