using System.Net;

namespace AutoGlm.Edge.Tests.Support;

/// <summary><c>GET /health/ready</c> of a daemon whose HTTP listener may not be up yet (it starts just after the MQTT connection).</summary>
public static class Readiness
{
    /// <summary>The status code, or null while nothing listens.</summary>
    public static async Task<HttpStatusCode?> StatusAsync(HttpClient http)
    {
        try
        {
            using var response = await http.GetAsync("health/ready");
            return response.StatusCode;
        }
        catch (HttpRequestException)
        {
            return null;
        }
    }

    /// <summary>A poll condition: readiness is <paramref name="expected"/>.</summary>
    public static Func<Task<bool>> Is(HttpClient http, HttpStatusCode expected) => async () => await StatusAsync(http) == expected;
}
