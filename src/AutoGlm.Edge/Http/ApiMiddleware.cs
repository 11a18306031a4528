using System.Diagnostics;
using AutoGlm.Edge.Metrics;
using Microsoft.AspNetCore.Routing.Patterns;

namespace AutoGlm.Edge.Http;

/// <summary>
/// Wraps every HTTP request: without keys the <see cref="BrowserGuard"/> (loopback <c>Host</c>, JSON bodies), the
/// bearer-key check and the per-minute limit on <c>/v1</c>, OpenAI-shaped bodies for
/// statuses no handler answered (404, 405, 413), the request metrics, and the audit line.
/// </summary>
/// <remarks>
/// The audit line holds the time, key id (never the key), method, route, status, tokens and latency, and no prompt
/// or completion text. <c>/health</c> and <c>/metrics</c> need no key and are audited at Debug so scrapes do not
/// flood the log.
/// </remarks>
internal sealed partial class ApiMiddleware
{
    private readonly RequestDelegate _next;
    private readonly RequestGate _gate;
    private readonly EdgeMetrics _metrics;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    public ApiMiddleware(RequestDelegate next, RequestGate gate, EdgeMetrics metrics, TimeProvider time, ILogger<ApiMiddleware> logger)
    {
        _next = next;
        _gate = gate;
        _metrics = metrics;
        _time = time;
        _logger = logger;
    }

    public async Task InvokeAsync(HttpContext context)
    {
        var started = _time.GetTimestamp();
        var audit = new RequestAudit();
        context.Features.Set(audit);
        var isApi = context.Request.Path.StartsWithSegments("/v1", StringComparison.OrdinalIgnoreCase) || TokenizeEndpoints.IsRoute(context.Request.Path);
        try
        {
            var refused = (_gate.RequiresKey ? null : BrowserGuard.Check(context)) ?? (isApi ? Admit(context, audit) : null);
            if (refused is not null)
            {
                await refused.WriteAsync(context.Response).ConfigureAwait(false);
            }
            else
            {
                await _next(context).ConfigureAwait(false);
            }

            if (!context.Response.HasStarted && context.Response.StatusCode >= 400 && context.Response.ContentLength is null)
            {
                await ApiError.ForStatus(context.Response.StatusCode, context.Request.Path, context.Response.Headers.Allow).WriteAsync(context.Response).ConfigureAwait(false);
            }
        }
        catch (BadHttpRequestException ex) when (!context.Response.HasStarted)
        {
            Log.BadRequest(_logger, ex.StatusCode, ex.Message);
            var error = ex.StatusCode == StatusCodes.Status413PayloadTooLarge
                ? ApiError.ForStatus(ex.StatusCode, context.Request.Path)
                : ApiError.BadRequest(ex.Message) with { Status = ex.StatusCode };
            await error.WriteAsync(context.Response).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            audit.ClientGone = true;
            Log.Aborted(_logger, context.Request.Path);
        }
        catch (Exception ex) when (!context.Response.HasStarted)
        {
            Log.Failed(_logger, ex, context.Request.Method, context.Request.Path);
            await ApiError.Internal().WriteAsync(context.Response).ConfigureAwait(false);
        }
        finally
        {
            Record(context, audit, isApi, _time.GetElapsedTime(started));
        }
    }

    private ApiError? Admit(HttpContext context, RequestAudit audit)
    {
        var refused = _gate.Authenticate(context.Request.Headers.Authorization, out var keyId);
        if (refused is not null)
        {
            context.Response.Headers.WWWAuthenticate = "Bearer";
            return refused;
        }

        audit.KeyId = keyId;
        return _gate.AdmitRequest(keyId);
    }

    private void Record(HttpContext context, RequestAudit audit, bool isApi, TimeSpan elapsed)
    {
        var route = (context.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText ?? "unmatched";
        var status = audit.ClientGone ? 499 : context.Response.StatusCode;
        _metrics.RecordRequest("http", route, status);
        var level = isApi || status >= 400 ? LogLevel.Information : LogLevel.Debug;
        if (_logger.IsEnabled(level))
        {
            Log.Audit(_logger, level, _time.GetUtcNow(), audit.KeyId, context.Request.Method, route, status, audit.PromptTokens, audit.CompletionTokens, elapsed.TotalMilliseconds);
        }
    }
}
