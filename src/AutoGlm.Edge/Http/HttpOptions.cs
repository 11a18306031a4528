using System.Globalization;
using System.Net;
using Microsoft.Extensions.Options;

namespace AutoGlm.Edge.Http;

/// <summary>The OpenAI-compatible HTTP API: where it listens, who may call it, and how much. Bound from <c>Http</c>.</summary>
public sealed class HttpOptions
{
    public const string Section = "Http";

    /// <summary>Kestrel bind URLs, separated by <c>;</c>. Default <c>http://127.0.0.1:8000</c> (loopback only).</summary>
    public string Urls { get; set; } = "http://127.0.0.1:8000";

    /// <summary>
    /// Accepted API keys, each plain or as <c>sha256:&lt;64 hex digits&gt;</c> (<c>printf %s KEY | sha256sum</c>).
    /// Default none: no key is asked for, which is allowed only on a loopback bind.
    /// </summary>
    public List<string> ApiKeys { get; set; } = [];

    /// <summary>Most <see cref="RequestsPerMinute"/>: one request a millisecond, as often as the limiter's timer can refill.</summary>
    public const int MaxRequestsPerMinute = 60_000;

    /// <summary>Most <see cref="MaxRequestBodyBytes"/>: a JSON document holds at most 2 GiB.</summary>
    public const long MaxBodyBytesLimit = int.MaxValue;

    /// <summary>Most <see cref="MaxJsonDepth"/>: the body is walked recursively, and deeper nesting is no request a client sends.</summary>
    public const int MaxJsonDepthLimit = 256;

    /// <summary>Most <see cref="RequestTimeoutSeconds"/>: about 49 days, the longest timer .NET has.</summary>
    public const int MaxRequestTimeoutSeconds = 4_294_967;

    /// <summary>Requests per minute per key (anonymous callers share one budget) on <c>/v1</c>; 0 turns it off, at most 60000. Default 120.</summary>
    public int RequestsPerMinute { get; set; } = 120;

    /// <summary>Chat completions (streaming or not) in flight at once per key; 0 turns it off. Default 4.</summary>
    public int ConcurrentStreamsPerKey { get; set; } = 4;

    /// <summary>Largest request body in bytes, answered 413 beyond; at most 2147483647. Default 16 MiB (room for a base64 camera frame).</summary>
    public long MaxRequestBodyBytes { get; set; } = 16 * 1024 * 1024;

    /// <summary>Deepest JSON nesting accepted in a request body, 1 to 256. Default 32.</summary>
    public int MaxJsonDepth { get; set; } = 32;

    /// <summary>Longest a chat completion may run, in seconds, before it is cancelled; at most 4294967. Default 300.</summary>
    public int RequestTimeoutSeconds { get; set; } = 300;

    /// <summary>The bind URLs, split.</summary>
    public IReadOnlyList<string> UrlList => Urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>Whether <paramref name="url"/> binds a loopback address only.</summary>
    public static bool IsLoopback(string url)
    {
        if (!Uri.TryCreate(url.Replace("://*", "://any-host", StringComparison.Ordinal).Replace("://+", "://any-host", StringComparison.Ordinal), UriKind.Absolute, out var uri))
        {
            return false;
        }

        return uri.IsLoopback || (IPAddress.TryParse(uri.Host.Trim('[', ']'), out var address) && IPAddress.IsLoopback(address));
    }
}

/// <summary>Checks <see cref="HttpOptions"/> at start, reporting every bad key at once.</summary>
internal sealed class HttpOptionsValidator : IValidateOptions<HttpOptions>
{
    public ValidateOptionsResult Validate(string? name, HttpOptions options)
    {
        var problems = new List<string>();
        var urls = options.UrlList;
        if (urls.Count == 0)
        {
            problems.Add("Http:Urls must name at least one URL (default http://127.0.0.1:8000)");
        }

        foreach (var url in urls)
        {
            var probe = url.Replace("://*", "://any-host", StringComparison.Ordinal).Replace("://+", "://any-host", StringComparison.Ordinal);
            if (!Uri.TryCreate(probe, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            {
                problems.Add($"Http:Urls entry '{url}' is not an http:// or https:// URL");
            }
        }

        var keyProblems = ApiKeyStore.Check(options.ApiKeys).ToList();
        problems.AddRange(keyProblems);
        var open = urls.Where(u => !HttpOptions.IsLoopback(u)).ToList();
        if (open.Count > 0 && options.ApiKeys.Count == 0)
        {
            problems.Add(ListenAddresses.Refusal("Http:Urls", string.Join(", ", open)));
        }

        InRange(problems, options.RequestsPerMinute, "Http:RequestsPerMinute", allowZero: true, HttpOptions.MaxRequestsPerMinute, "one a millisecond; 0 turns the limit off");
        InRange(problems, options.ConcurrentStreamsPerKey, "Http:ConcurrentStreamsPerKey", allowZero: true, int.MaxValue, "");
        InRange(problems, options.MaxRequestBodyBytes, "Http:MaxRequestBodyBytes", allowZero: false, HttpOptions.MaxBodyBytesLimit, "a JSON document holds at most 2 GiB");
        InRange(problems, options.MaxJsonDepth, "Http:MaxJsonDepth", allowZero: false, HttpOptions.MaxJsonDepthLimit, "no client nests deeper");
        InRange(problems, options.RequestTimeoutSeconds, "Http:RequestTimeoutSeconds", allowZero: false, HttpOptions.MaxRequestTimeoutSeconds, "about 49 days, the longest timer .NET has");
        return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
    }

    private static void InRange(List<string> problems, long value, string key, bool allowZero, long max, string why)
    {
        if (value < 0 || (value == 0 && !allowZero))
        {
            problems.Add(string.Create(CultureInfo.InvariantCulture, $"{key} must be {(allowZero ? "0 (off) or positive" : "positive")} (got {value})"));
        }
        else if (value > max)
        {
            problems.Add(string.Create(CultureInfo.InvariantCulture, $"{key} must be at most {max}, {why} (got {value})"));
        }
    }
}
