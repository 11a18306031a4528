using System.Globalization;
using System.Threading.RateLimiting;
using Microsoft.Extensions.Options;

namespace AutoGlm.Edge.Http;

/// <summary>Who may call <c>/v1</c> and how much: the bearer key check and the per-key limits.</summary>
/// <remarks>
/// Thread-safe; a singleton that owns its limiters. Callers without a key (allowed only when no key is configured)
/// share the partition <see cref="Anonymous"/>. Requests per minute are a token bucket refilled one request at a
/// time; concurrent streams are a concurrency limiter with no queue, so an excess request is refused at once.
/// </remarks>
public sealed class RequestGate : IDisposable
{
    /// <summary>The key id of callers when no key is configured.</summary>
    public const string Anonymous = "anonymous";

    private readonly ApiKeyStore _keys;
    private readonly PartitionedRateLimiter<string>? _perMinute;
    private readonly PartitionedRateLimiter<string>? _streams;
    private readonly TimeSpan _refill;

    public RequestGate(ApiKeyStore keys, IOptions<HttpOptions> options)
    {
        _keys = keys;
        var o = options.Value;
        _refill = o.RequestsPerMinute > 0 ? TimeSpan.FromMinutes(1) / o.RequestsPerMinute : TimeSpan.Zero;
        if (o.RequestsPerMinute > 0)
        {
            _perMinute = PartitionedRateLimiter.Create<string, string>(key => RateLimitPartition.GetTokenBucketLimiter(key, _ => new TokenBucketRateLimiterOptions
            {
                TokenLimit = o.RequestsPerMinute,
                TokensPerPeriod = 1,
                ReplenishmentPeriod = _refill,
                QueueLimit = 0,
                AutoReplenishment = true,
            }));
        }

        if (o.ConcurrentStreamsPerKey > 0)
        {
            _streams = PartitionedRateLimiter.Create<string, string>(key => RateLimitPartition.GetConcurrencyLimiter(key, _ => new ConcurrencyLimiterOptions
            {
                PermitLimit = o.ConcurrentStreamsPerKey,
                QueueLimit = 0,
            }));
        }
    }

    /// <summary>Whether a key is configured; without one every caller is <see cref="Anonymous"/>.</summary>
    public bool RequiresKey => _keys.RequiresKey;

    /// <summary>Checks the <c>Authorization: Bearer</c> header.</summary>
    /// <param name="authorization">The header's value, if any.</param>
    /// <param name="keyId">The caller's key id (or <see cref="Anonymous"/>); empty on failure.</param>
    /// <returns>The 401 to answer, or null.</returns>
    public ApiError? Authenticate(string? authorization, out string keyId)
    {
        keyId = "";
        if (!_keys.RequiresKey)
        {
            keyId = Anonymous;
            return null;
        }

        const string Scheme = "Bearer ";
        if (string.IsNullOrEmpty(authorization))
        {
            return Unauthorized("missing_api_key", "this server needs an API key: send Authorization: Bearer <key>");
        }

        if (!authorization.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase) || authorization.Length == Scheme.Length)
        {
            return Unauthorized("invalid_api_key", "the Authorization header must be Bearer <key>");
        }

        return _keys.TryAuthenticate(authorization[Scheme.Length..].Trim(), out keyId)
            ? null
            : Unauthorized("invalid_api_key", "the API key is not valid");
    }

    /// <summary>Takes one request from the key's per-minute budget.</summary>
    /// <returns>The 429 to answer, or null.</returns>
    public ApiError? AdmitRequest(string keyId)
    {
        if (_perMinute is null)
        {
            return null;
        }

        using var lease = _perMinute.AttemptAcquire(keyId);
        if (lease.IsAcquired)
        {
            return null;
        }

        var wait = lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter) ? retryAfter : _refill;
        return ApiError.RateLimited(
            string.Create(CultureInfo.InvariantCulture, $"rate limit reached for {keyId}: Http:RequestsPerMinute; retry after {Seconds(wait)} s"),
            Seconds(wait));
    }

    /// <summary>Takes one of the key's concurrent-stream permits, held until <paramref name="lease"/> is disposed.</summary>
    /// <returns>The 429 to answer, or null (then <paramref name="lease"/> is set when a limit applies).</returns>
    public ApiError? EnterStream(string keyId, out IDisposable? lease)
    {
        lease = null;
        if (_streams is null)
        {
            return null;
        }

        var acquired = _streams.AttemptAcquire(keyId);
        if (acquired.IsAcquired)
        {
            lease = acquired;
            return null;
        }

        acquired.Dispose();
        return ApiError.RateLimited($"{keyId} already has as many requests in flight as Http:ConcurrentStreamsPerKey allows", 1);
    }

    public void Dispose()
    {
        _perMinute?.Dispose();
        _streams?.Dispose();
    }

    private static int Seconds(TimeSpan wait) => Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds));

    private static ApiError Unauthorized(string code, string message) =>
        new(StatusCodes.Status401Unauthorized, "authentication_error", code, message);
}
