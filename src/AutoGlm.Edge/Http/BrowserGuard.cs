using System.Net;
using Microsoft.Net.Http.Headers;

namespace AutoGlm.Edge.Http;

/// <summary>
/// What keeps web pages out of the key-less loopback API: only loopback <c>Host</c> values, only on loopback
/// connections, and only JSON request bodies.
/// </summary>
/// <remarks>
/// Without <c>Http:ApiKeys</c> any process on the device may call the API, and so could any web page the device's
/// browser opens: a page can POST a <c>text/plain</c> or form body to <c>http://127.0.0.1:8000</c> without a CORS
/// preflight, and DNS rebinding lets a page on <c>attacker.example</c> read the answers. A rebound request still
/// says <c>Host: attacker.example</c>, and a cross-site request without a preflight cannot say
/// <c>Content-Type: application/json</c>; refusing both closes the two doors. With keys the checks are not needed:
/// a page cannot attach an <c>Authorization</c> header to a cross-site request without a preflight this server does
/// not answer, and rebinding does not give the page the key. Stateless and thread-safe.
/// </remarks>
internal static class BrowserGuard
{
    /// <summary>The refusal for a request the key-less API must not answer, or null.</summary>
    public static ApiError? Check(HttpContext context)
    {
        var request = context.Request;
        if (!ListenAddresses.IsLoopback(context.Connection.LocalIpAddress))
        {
            return Forbidden("local_address_not_allowed", $"this server has no Http:ApiKeys and answers only on loopback, not on {context.Connection.LocalIpAddress}");
        }

        if (!IsLoopbackHost(request.Host.Host))
        {
            return Forbidden("host_not_allowed", $"Host '{request.Host.Value}' is not allowed: without Http:ApiKeys this server answers only Host localhost, 127.0.0.1 or [::1]");
        }

        if (context.GetEndpoint()?.Metadata.GetMetadata<JsonBody>() is not null && !IsJson(request.ContentType))
        {
            return new ApiError(
                StatusCodes.Status415UnsupportedMediaType,
                "invalid_request_error",
                "unsupported_media_type",
                $"the body must be JSON (Content-Type: application/json), not '{request.ContentType ?? "none"}'");
        }

        return null;
    }

    /// <summary>Whether a <c>Host</c> name (without its port) names this machine's loopback: <c>localhost</c>, <c>*.localhost</c>, 127.0.0.0/8 or <c>[::1]</c>.</summary>
    /// <remarks>An absent <c>Host</c> (HTTP/1.0) is allowed: browsers always send one.</remarks>
    public static bool IsLoopbackHost(string host)
    {
        if (host.Length == 0)
        {
            return true;
        }

        host = host.TrimEnd('.');
        if (host.Equals("localhost", StringComparison.OrdinalIgnoreCase) || host.EndsWith(".localhost", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        return IPAddress.TryParse(host.Trim('[', ']'), out var address) && ListenAddresses.IsLoopback(address);
    }

    /// <summary>Whether a <c>Content-Type</c> is JSON: <c>application/json</c> or <c>application/*+json</c>, any parameters.</summary>
    public static bool IsJson(string? contentType)
    {
        if (!MediaTypeHeaderValue.TryParse(contentType, out var parsed))
        {
            return false;
        }

        var type = parsed.MediaType;
        return type.Equals("application/json", StringComparison.OrdinalIgnoreCase)
            || (type.StartsWith("application/", StringComparison.OrdinalIgnoreCase) && type.EndsWith("+json", StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>Endpoint metadata: this endpoint reads a JSON body (so, without keys, the body must say it is JSON).</summary>
    public sealed class JsonBody
    {
        public static readonly JsonBody Instance = new();

        private JsonBody()
        {
        }
    }

    private static ApiError Forbidden(string code, string message) =>
        new(StatusCodes.Status403Forbidden, "permission_error", code, message);
}
