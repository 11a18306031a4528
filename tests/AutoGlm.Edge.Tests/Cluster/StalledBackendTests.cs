using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using AutoGlm.Edge.Tests.Http;
using AutoGlm.Edge.Tests.Support;

namespace AutoGlm.Edge.Tests.Cluster;

/// <summary>
/// <c>Runtime:Backend=openai</c> in front of an engine that accepts connections and never answers: the OpenAI
/// client's timeout must still end every job and request with an error that reaches the caller.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class StalledBackendTests : IAsyncLifetime
{
    private readonly TcpListener _silent = new(IPAddress.Loopback, 0);
    private readonly List<TcpClient> _accepted = [];
    private readonly int _mqttPort = TestPaths.FreePort();
    private readonly string _deviceId = "st" + Guid.NewGuid().ToString("N")[..8];
    private EdgeServer _front = null!;

    public async Task InitializeAsync()
    {
        _silent.Start();
        _ = AcceptForeverAsync();
        var port = ((IPEndPoint)_silent.LocalEndpoint).Port.ToString(CultureInfo.InvariantCulture);
        _front = await EdgeServer.StartAsync(
            "Runtime:Backend=openai",
            $"Runtime:OpenAi:Url=http://127.0.0.1:{port}/v1",
            "Runtime:OpenAi:Model=silent-engine",
            "Runtime:OpenAi:Timeout=00:00:01",
            $"Mqtt:Port={_mqttPort.ToString(CultureInfo.InvariantCulture)}",
            $"Mqtt:DeviceId={_deviceId}");
    }

    [Fact]
    public async Task Job_BackendNeverAnswers_GetsAnErrorResult()
    {
        var prefix = $"autoglm/{_deviceId}";
        await using var mqtt = await TestMqttClient.ConnectAsync(_mqttPort, persistent: false, $"{prefix}/results/#");
        var id = "st-" + Guid.NewGuid().ToString("N")[..8];

        await mqtt.PublishAsync($"{prefix}/jobs", $$"""{"id":"{{id}}","prompt":"Hello","max_tokens":4}""");
        var result = await mqtt.WaitForTopicAsync($"{prefix}/results/{id}");

        Assert.True(result.ErrorCode is "model_unavailable" or "timeout", result.Text);
    }

    [Fact]
    public async Task Request_BackendNeverAnswers_Is5xxWithAnOpenAiError()
    {
        using var client = _front.CreateClient();

        using var response = await client.PostAsync(
            new Uri("v1/chat/completions", UriKind.Relative),
            new StringContent("""{"model":"silent-engine","messages":[{"role":"user","content":"Hello"}],"max_tokens":3}""", Encoding.UTF8, "application/json"));

        Assert.True(response.StatusCode is HttpStatusCode.ServiceUnavailable or HttpStatusCode.GatewayTimeout, $"{response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        Assert.Contains("\"error\"", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    public async Task DisposeAsync()
    {
        await _front.DisposeAsync();
        _silent.Stop();
        foreach (var client in _accepted)
        {
            client.Dispose();
        }
    }

    private async Task AcceptForeverAsync()
    {
        try
        {
            while (true)
            {
                _accepted.Add(await _silent.AcceptTcpClientAsync());
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // The listener stopped: the test is over.
        }
    }
}
