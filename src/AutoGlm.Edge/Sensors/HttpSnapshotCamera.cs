using System.Net;
using AutoGlm.Runtime.Modalities;

namespace AutoGlm.Edge.Sensors;

/// <summary>
/// A camera that fetches one JPEG per capture from a snapshot URL (<c>Driver: http-snapshot</c>): an IP camera's or an
/// NVR's still-image endpoint, such as Frigate's <c>/api/&lt;camera&gt;/latest.jpg</c> or
/// <c>http://cam.lan/cgi-bin/snapshot.cgi</c>. Basic and digest authentication with <c>Username</c>/<c>Password</c>.
/// </summary>
/// <remarks>
/// Thread-safe. The answer must be a complete JPEG or PNG (checked by its bytes, not its Content-Type) of at most
/// <see cref="MaxBytes"/>; anything else fails the capture with a message naming the URL (never its credentials).
/// </remarks>
public sealed class HttpSnapshotCamera : ICamera
{
    /// <summary>The largest snapshot taken.</summary>
    public const int MaxBytes = 16 * 1024 * 1024;

    private readonly HttpClient _http;
    private readonly Uri _url;
    private readonly string _configKey;
    private readonly string _shown;

    /// <param name="url">An absolute <c>http</c> or <c>https</c> URL.</param>
    /// <param name="username">User name for basic or digest authentication; null for none.</param>
    /// <param name="password">Its password.</param>
    /// <param name="timeout">How long one capture may take.</param>
    /// <param name="configKey">The key that named <paramref name="url"/>, for error messages.</param>
    /// <param name="handler">The HTTP handler; the default one unless a test gives its own.</param>
    public HttpSnapshotCamera(Uri url, string? username, string? password, TimeSpan timeout, string configKey, HttpMessageHandler? handler = null)
    {
        _url = url;
        _configKey = configKey;
        _shown = new UriBuilder(url) { UserName = "", Password = "" }.Uri.ToString();
        handler ??= new SocketsHttpHandler
        {
            // Basic and digest both: the handler answers the camera's 401 challenge with whichever it asks for.
            Credentials = string.IsNullOrEmpty(username) ? null : new NetworkCredential(username, password ?? ""),
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        };
        _http = new HttpClient(handler) { Timeout = timeout, MaxResponseContentBufferSize = MaxBytes };
    }

    public async Task<byte[]> CaptureAsync(CancellationToken cancellationToken)
    {
        byte[] body;
        try
        {
            using var response = await _http.GetAsync(_url, HttpCompletionOption.ResponseContentRead, cancellationToken).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                var hint = response.StatusCode == HttpStatusCode.Unauthorized ? "; check Username and Password" : "";
                throw Fail($"answered {(int)response.StatusCode} {response.ReasonPhrase}{hint}");
            }

            body = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (TaskCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw Fail($"did not answer within {_http.Timeout.TotalSeconds:0.#} s (CaptureTimeout)", ex);
        }
        catch (HttpRequestException ex)
        {
            throw Fail(ex.Message.Contains("buffer", StringComparison.OrdinalIgnoreCase) ? $"answered more than {MaxBytes / (1024 * 1024)} MiB" : ex.Message, ex);
        }

        var (_, problem) = MediaSniffer.SniffImage(body);
        return problem is null ? body : throw Fail($"answered something that {problem}");
    }

    public void Dispose() => _http.Dispose();

    private SensorException Fail(string what, Exception? inner = null) =>
        new($"snapshot camera {_shown} ({_configKey}) {what}", _configKey, inner);
}
