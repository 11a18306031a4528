using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using AutoGlm.Edge.Engine;
using AutoGlm.Edge.Hosting;
using AutoGlm.Edge.Tests.Http;
using AutoGlm.Edge.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace AutoGlm.Edge.Tests.Cluster;

/// <summary>
/// <c>Runtime:Backend=openai</c>: a heavy daemon (in process) that loads no model and serves its HTTP and MQTT front
/// doors through an OpenAI-compatible engine, here another real daemon (a child process, key required) standing in
/// for vLLM.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class OpenAiBackendTests : IAsyncLifetime
{
    private const string Key = "backend-engine-key";

    private readonly int _engineHttpPort = TestPaths.FreePort();
    private readonly int _frontMqttPort = TestPaths.FreePort();
    private readonly string _deviceId = "oa" + Guid.NewGuid().ToString("N")[..8];
    private DaemonProcess _engine = null!;
    private EdgeServer _front = null!;

    public async Task InitializeAsync()
    {
        _engine = new DaemonProcess(TestPaths.NewFolder("engine"), new Dictionary<string, string>
        {
            ["Cluster__Role"] = "heavy",
            ["Http__Urls"] = $"http://127.0.0.1:{_engineHttpPort.ToString(CultureInfo.InvariantCulture)}",
            ["Http__ApiKeys__0"] = Key,
            ["Http__RequestsPerMinute"] = "0",
            ["Mqtt__Port"] = TestPaths.FreePort().ToString(CultureInfo.InvariantCulture),
        });
        await _engine.StartAsync();
        _front = await EdgeServer.StartAsync(
            "Cluster:Role=heavy",
            "Runtime:Backend=openai",
            $"Runtime:OpenAi:Url=http://127.0.0.1:{_engineHttpPort.ToString(CultureInfo.InvariantCulture)}/v1",
            $"Runtime:OpenAi:ApiKey={Key}",
            $"Runtime:OpenAi:Model={EdgeServer.ModelId}",

            // vLLM's readiness is /health; the daemon standing in for it has /health/ready.
            "Runtime:OpenAi:HealthPath=/health/ready",
            $"Mqtt:Port={_frontMqttPort.ToString(CultureInfo.InvariantCulture)}",
            $"Mqtt:DeviceId={_deviceId}");
    }

    [Fact]
    public async Task ChatCompletions_BackendOpenAi_AnsweredByBackendEngineWithoutLocalModel()
    {
        using var client = _front.CreateClient();
        using var response = await client.PostAsync(
            new Uri("v1/chat/completions", UriKind.Relative),
            new StringContent("""{"messages":[{"role":"user","content":"Hello"}],"max_tokens":5,"seed":1}""", Encoding.UTF8, "application/json"));
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.NotEmpty(body.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString()!);
        Assert.Equal("autoglm-openai", body.GetProperty("system_fingerprint").GetString());
        Assert.Null(_front.Services.GetRequiredService<EngineHost>().LocalEngine);

        // The engine behind it audited the request under the key the front sent.
        await Poll.UntilAsync(() => _engine.Lines.Any(l => l.Contains("/v1/chat/completions status=200", StringComparison.Ordinal)), "the backend engine to answer");
        var models = JsonDocument.Parse(await client.GetStringAsync(new Uri("v1/models", UriKind.Relative))).RootElement.GetProperty("data")[0];
        Assert.Equal(EdgeServer.ModelId, models.GetProperty("id").GetString());
        Assert.Equal("openai", models.GetProperty("execution_provider").GetString());
    }

    [Fact]
    public async Task RawRoutes_BackendOpenAi_NotImplemented501NamingTheBackend()
    {
        using var client = _front.CreateClient();

        using var completion = await client.PostAsync(new Uri("v1/completions", UriKind.Relative), ApiHelpers.Json("""{"prompt":"Hello","max_tokens":2}"""));
        using var tokenize = await client.PostAsync(new Uri("tokenize", UriKind.Relative), ApiHelpers.Json("""{"prompt":"Hello"}"""));

        Assert.Equal("unsupported_backend", await ApiHelpers.AssertErrorAsync(completion, 501));
        Assert.Equal("unsupported_backend", await ApiHelpers.AssertErrorAsync(tokenize, 501));
        Assert.Contains("Runtime:Backend=openai", await tokenize.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task StreamedChatCompletion_BackendOpenAi_DeltasAndDone()
    {
        using var client = _front.CreateClient();
        using var response = await client.PostAsync(
            new Uri("v1/chat/completions", UriKind.Relative),
            new StringContent("""{"messages":[{"role":"user","content":"Hello"}],"max_tokens":5,"seed":1,"stream":true}""", Encoding.UTF8, "application/json"));
        var body = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("\"content\":", body, StringComparison.Ordinal);
        Assert.EndsWith("data: [DONE]\n\n", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Job_BackendOpenAi_ResultServedThroughBackend()
    {
        var prefix = $"autoglm/{_deviceId}";
        await using var mqtt = await TestMqttClient.ConnectAsync(_frontMqttPort, persistent: false, $"{prefix}/results/#");
        var id = "oa-" + Guid.NewGuid().ToString("N")[..8];

        await mqtt.PublishAsync($"{prefix}/jobs", $$"""{"id":"{{id}}","prompt":"Hello","max_tokens":4,"seed":1}""");
        var result = await mqtt.WaitForTopicAsync($"{prefix}/results/{id}");

        Assert.True(result.ErrorCode is null, result.Text);
        Assert.NotEmpty(result.Json.GetProperty("text").GetString()!);
        Assert.Equal($"local:{EdgeServer.ModelId}@openai", result.Json.GetProperty("served_by").GetString());
        _front.Logs.AssertNoErrors();
    }

    [Fact]
    public async Task Ready_BackendEngineKilled_NotReadyAndRequestsAnswer503()
    {
        using var client = _front.CreateClient();

        // The engine process has started, but its own readiness may trail its start by a moment.
        await Poll.UntilAsync(
            async () =>
            {
                using var ready = await client.GetAsync(new Uri("health/ready", UriKind.Relative));
                return ready.StatusCode == HttpStatusCode.OK;
            },
            "the front to be ready while its backend engine runs");

        await _engine.KillAsync();
        using var ready = await client.GetAsync(new Uri("health/ready", UriKind.Relative));
        using var response = await client.PostAsync(
            new Uri("v1/chat/completions", UriKind.Relative),
            new StringContent("""{"messages":[{"role":"user","content":"Hello"}],"max_tokens":3}""", Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
        Assert.Equal("backend not ready\n", await ready.Content.ReadAsStringAsync());
        Assert.True(response.StatusCode == HttpStatusCode.ServiceUnavailable, string.Join("\n", _front.Logs.Entries));
        Assert.Contains("model_unavailable", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        _front.Logs.AssertNoErrors();
    }

    public async Task DisposeAsync()
    {
        await _front.DisposeAsync();
        await _engine.DisposeAsync();
    }
}
