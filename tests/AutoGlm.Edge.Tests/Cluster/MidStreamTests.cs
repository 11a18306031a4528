using System.Globalization;
using System.Net;
using System.Text;
using AutoGlm.Edge.Tests.Http;
using AutoGlm.Edge.Tests.Support;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AutoGlm.Edge.Tests.Cluster;

/// <summary>
/// The edge daemon (in process) routes everything to a heavy node that is a real HTTP server whose answers stop after
/// one chunk, with no finish reason and no <c>[DONE]</c>: every front door must end the request with
/// <c>remote_interrupted</c>, never hand back the fragment as if it were the answer.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class MidStreamTests : IAsyncLifetime
{
    private const string FirstChunk = """data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"glm-synthetic-tiny","choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"},"finish_reason":null}]}""" + "\n\n";

    private readonly int _mqttPort = TestPaths.FreePort();
    private readonly string _deviceId = "ms" + Guid.NewGuid().ToString("N")[..8];
    private WebApplication _node = null!;
    private EdgeServer _edge = null!;

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        _node = builder.Build();
        _node.MapGet("/health/ready", () => Results.Ok());
        _node.MapPost("/v1/chat/completions", async context =>
        {
            context.Response.ContentType = "text/event-stream";
            await context.Response.WriteAsync(FirstChunk);
        });
        await _node.StartAsync();
        var root = _node.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        _edge = await EdgeServer.StartAsync(
            "Cluster:Policy=remote-first",
            $"Cluster:Nodes:0:Url={root}/v1",
            $"Mqtt:Port={_mqttPort.ToString(CultureInfo.InvariantCulture)}",
            $"Mqtt:DeviceId={_deviceId}");
    }

    [Fact]
    public async Task ChatCompletions_NodeStopsMidAnswer_Returns503RemoteInterrupted()
    {
        using var client = _edge.CreateClient();
        using var response = await client.PostAsync(
            new Uri("v1/chat/completions", UriKind.Relative),
            new StringContent("""{"messages":[{"role":"user","content":"Hello"}],"max_tokens":8}""", Encoding.UTF8, "application/json"));
        var body = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Contains("remote_interrupted", body, StringComparison.Ordinal);
        Assert.Contains("the answer is incomplete", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Job_NodeStopsMidAnswer_ResultIsRemoteInterrupted()
    {
        var prefix = $"autoglm/{_deviceId}";
        await using var mqtt = await TestMqttClient.ConnectAsync(_mqttPort, persistent: false, $"{prefix}/results/#");
        var id = "ms-" + Guid.NewGuid().ToString("N")[..8];

        await mqtt.PublishAsync($"{prefix}/jobs", $$"""{"id":"{{id}}","prompt":"Hello","max_tokens":8}""");
        var result = await mqtt.WaitForTopicAsync($"{prefix}/results/{id}");

        Assert.Equal("remote_interrupted", result.ErrorCode);
        Assert.Contains("the answer is incomplete", result.Json.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.False(result.Json.TryGetProperty("text", out _));
    }

    public async Task DisposeAsync()
    {
        await _edge.DisposeAsync();
        await _node.StopAsync();
        await _node.DisposeAsync();
    }
}
