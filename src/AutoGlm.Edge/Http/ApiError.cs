using System.Globalization;
using System.Text.Json;
using AutoGlm.Cluster;
using AutoGlm.Edge.Wire;
using AutoGlm.Runtime;

namespace AutoGlm.Edge.Http;

/// <summary>An error answer in OpenAI's shape: <c>{"error": {"message", "type", "param", "code"}}</c> with its status.</summary>
/// <param name="Status">The HTTP status.</param>
/// <param name="Type">OpenAI's error type (<c>invalid_request_error</c>, …).</param>
/// <param name="Code">A stable code clients can test (<c>invalid_request</c>, <c>overloaded</c>, …).</param>
/// <param name="Message">What went wrong, for a person.</param>
/// <param name="Param">The request field at fault, when there is one (<c>messages[0].content</c>).</param>
public sealed record ApiError(int Status, string Type, string Code, string Message, string? Param = null)
{
    /// <summary>Seconds to wait before trying again (sent as <c>Retry-After</c>), for 429 and 503.</summary>
    public int? RetryAfterSeconds { get; init; }

    public static ApiError BadRequest(string message, string? param = null, string code = "invalid_request") =>
        new(StatusCodes.Status400BadRequest, "invalid_request_error", code, message, param);

    public static ApiError Unsupported(string param, string message) =>
        BadRequest(message, param, "unsupported_parameter");

    public static ApiError NotFound(string message, string code = "not_found") =>
        new(StatusCodes.Status404NotFound, "invalid_request_error", code, message);

    public static ApiError TooLarge(long limit) =>
        new(StatusCodes.Status413PayloadTooLarge, "invalid_request_error", "request_too_large", string.Create(CultureInfo.InvariantCulture, $"the request body is larger than the limit of {limit} bytes (Http:MaxRequestBodyBytes)"));

    /// <summary>The model is not loaded yet (503, <c>model_unavailable</c>).</summary>
    public static ApiError ModelLoading() =>
        FromRuntime(new RuntimeException(RuntimeErrorCode.ModelUnavailable, "the model is still loading; see GET /health/ready"));

    /// <summary>A request named another model than the one this server runs (404, <c>model_not_found</c>).</summary>
    public static ApiError ModelNotFound(string requested, string served) =>
        NotFound($"model '{requested}' is not served here; this server runs '{served}' (GET /v1/models)", "model_not_found");

    /// <summary>An answer that ran past <c>Http:RequestTimeoutSeconds</c> (504).</summary>
    public static ApiError Timeout(int seconds) =>
        new(StatusCodes.Status504GatewayTimeout, "server_error", "timeout", string.Create(CultureInfo.InvariantCulture, $"the answer took longer than Http:RequestTimeoutSeconds ({seconds} s)"));

    /// <summary>
    /// Whether the engine's failure is a fault of this server, logged as an error, rather than a refusal (a bad request,
    /// a full queue, a model not loaded) that is the caller's to handle.
    /// </summary>
    public static bool IsEngineFault(RuntimeException exception) => ErrorCatalogue.For(exception.Code).IsFault;

    public static ApiError RateLimited(string message, int retryAfterSeconds) =>
        new(StatusCodes.Status429TooManyRequests, "rate_limit_error", "rate_limit_exceeded", message) { RetryAfterSeconds = retryAfterSeconds };

    /// <summary>The answer for a failure the engine reported (<see cref="ErrorCatalogue"/>); an internal one says nothing about the inside.</summary>
    public static ApiError FromRuntime(RuntimeException exception) =>
        exception.Code == RuntimeErrorCode.Internal ? Internal() : From(ErrorCatalogue.For(exception.Code), exception.Message);

    /// <summary>The answer for a failure of the heavy nodes (<see cref="ErrorCatalogue"/>).</summary>
    public static ApiError FromCluster(ClusterException exception) => From(ErrorCatalogue.For(exception.Code), exception.Message);

    /// <summary>The answer for a failure that is our bug; says nothing about the inside.</summary>
    public static ApiError Internal() =>
        new(StatusCodes.Status500InternalServerError, "server_error", "internal", "the server failed to answer; the failure is in its log");

    /// <summary>A plain answer for a status that no handler gave a body (404 for an unknown route, 405, …).</summary>
    /// <param name="status">The status.</param>
    /// <param name="path">The request path.</param>
    /// <param name="allow">For 405, the <c>Allow</c> header routing set: the methods the route takes.</param>
    public static ApiError ForStatus(int status, string path, string? allow = null) => status switch
    {
        StatusCodes.Status404NotFound => NotFound($"no route {path}; see GET /v1/models and POST /v1/chat/completions"),
        StatusCodes.Status405MethodNotAllowed => new(status, "invalid_request_error", "method_not_allowed", string.IsNullOrEmpty(allow) ? $"{path} does not take this method" : $"{path} does not take this method; it takes {allow}"),
        StatusCodes.Status413PayloadTooLarge => new(status, "invalid_request_error", "request_too_large", "the request body is too large"),
        _ => new(status, status >= 500 ? "server_error" : "invalid_request_error", "http_" + status.ToString(CultureInfo.InvariantCulture), $"HTTP {status}"),
    };

    private static ApiError From(WireError error, string message) =>
        new(error.HttpStatus, error.HttpType, error.HttpCode, message) { RetryAfterSeconds = error.RetryAfterSeconds };

    /// <summary>Writes the error as the response (which must not have started).</summary>
    public async Task WriteAsync(HttpResponse response)
    {
        response.StatusCode = Status;
        response.ContentType = "application/json";
        if (RetryAfterSeconds is { } retry)
        {
            response.Headers.RetryAfter = retry.ToString(CultureInfo.InvariantCulture);
        }

        await using (var json = new Utf8JsonWriter(response.BodyWriter))
        {
            json.WriteStartObject();
            json.WriteStartObject("error");
            json.WriteString("message", Message);
            json.WriteString("type", Type);
            json.WriteString("param", Param);
            json.WriteString("code", Code);
            json.WriteEndObject();
            json.WriteEndObject();
        }

        await response.BodyWriter.FlushAsync(response.HttpContext.RequestAborted).ConfigureAwait(false);
    }
}
