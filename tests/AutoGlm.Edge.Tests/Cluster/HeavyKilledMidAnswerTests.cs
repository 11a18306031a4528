using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using AutoGlm.Edge.Http;
using AutoGlm.Edge.Tests.Http;
using AutoGlm.Edge.Tests.Support;

namespace AutoGlm.Edge.Tests.Cluster;

/// <summary>
/// A real heavy daemon (a child process on the tiny model) is killed with SIGKILL once the first tokens of a long
/// answer have reached the edge (in process, routing every request to it). The request ends by
/// <c>Cluster:MidStreamFailure</c>: <c>fail</c> ends it with <c>remote_interrupted</c>, <c>restart-local</c> serves it
/// again locally and says so; never a silent truncation.
/// </summary>
/// <remarks>
/// 1900 answer tokens take the tiny model seconds even on a fast machine, while the first one reaches the edge in
/// milliseconds, so the kill always lands mid-answer.
/// </remarks>
[Collection(ClusterCollection.Name)]
public sealed class HeavyKilledMidAnswerTests : IAsyncLifetime
{
    private const string Key = "killed-heavy-test-key";
    private const int LongAnswer = 1900;

    private readonly int _heavyHttpPort = TestPaths.FreePort();
    private readonly int _edgeMqttPort = TestPaths.FreePort();
    private readonly string _deviceId = "kh" + Guid.NewGuid().ToString("N")[..8];
    private DaemonProcess _heavy = null!;
    private EdgeServer? _edge;

    private string Prefix => $"autoglm/{_deviceId}";

    public async Task InitializeAsync()
    {
        _heavy = new DaemonProcess(TestPaths.NewFolder("heavy"), new Dictionary<string, string>
        {
            ["Cluster__Role"] = "heavy",
            ["Http__Urls"] = $"http://127.0.0.1:{_heavyHttpPort.ToString(CultureInfo.InvariantCulture)}",
            ["Http__ApiKeys__0"] = Key,
            ["Http__RequestsPerMinute"] = "0",
            ["Mqtt__Port"] = TestPaths.FreePort().ToString(CultureInfo.InvariantCulture),
        });
        await _heavy.StartAsync();
    }

    [Theory]
    [InlineData("fail")]
    [InlineData("restart-local")]
    public async Task Job_HeavyKilledAfterFirstTokens_EndsByMidStreamPolicy(string policy)
    {
        _edge = await StartEdgeAsync(policy);
        await using var mqtt = await TestMqttClient.ConnectAsync(_edgeMqttPort, persistent: false, $"{Prefix}/results/#");
        var id = "kh-" + Guid.NewGuid().ToString("N")[..8];

        await mqtt.PublishAsync($"{Prefix}/jobs", $$"""{"id":"{{id}}","prompt":"Hello","seed":1,"max_tokens":{{LongAnswer}},"stream":true}""");
        await mqtt.WaitForAsync(m => m.Topic == $"{Prefix}/results/{id}/stream" && m.Json.TryGetProperty("text", out _), "the first streamed token from the heavy node");
        await _heavy.KillAsync();
        var result = await mqtt.WaitForTopicAsync($"{Prefix}/results/{id}", TimeSpan.FromSeconds(120));

        if (policy == "fail")
        {
            Assert.Equal("remote_interrupted", result.ErrorCode);
            var message = result.Json.GetProperty("error").GetProperty("message").GetString()!;
            Assert.Contains($"heavy node 127.0.0.1:{_heavyHttpPort}", message, StringComparison.Ordinal);
            Assert.Contains("updates", message, StringComparison.Ordinal);
            Assert.Contains("the answer is incomplete", message, StringComparison.Ordinal);
            Assert.False(result.Json.TryGetProperty("text", out _));
        }
        else
        {
            Assert.True(result.ErrorCode is null, result.Text);
            Assert.StartsWith("local:", result.Json.GetProperty("served_by").GetString(), StringComparison.Ordinal);
            Assert.StartsWith("restarted_locally_after_remote_failure: heavy node", result.Json.GetProperty("route_reason").GetString(), StringComparison.Ordinal);
            Assert.Equal(LongAnswer, result.Json.GetProperty("usage").GetProperty("completion_tokens").GetInt32());

            // Stream readers are told to discard what they had: a restart message comes before the local answer's deltas.
            var stream = mqtt.Messages.Where(m => m.Topic == $"{Prefix}/results/{id}/stream").Select(m => m.Json).ToList();
            var restart = stream.FindIndex(m => m.TryGetProperty("restart", out var r) && r.GetBoolean());
            Assert.True(restart > 0, "no restart message on the stream topic after the heavy node's tokens");
            Assert.StartsWith("restarted_locally_after_remote_failure", stream[restart].GetProperty("route_reason").GetString(), StringComparison.Ordinal);
        }

        Assert.DoesNotContain(_edge.Logs.Entries, e => e.Level >= Microsoft.Extensions.Logging.LogLevel.Error && e.EventId.Id is not (6003 or 6004));
    }

    [Fact]
    public async Task StreamedChatCompletion_HeavyKilledAndRestartLocal_RestartChunkThenLocalAnswerAndDone()
    {
        _edge = await StartEdgeAsync("restart-local");
        using var client = _edge.CreateClient();
        client.Timeout = TimeSpan.FromSeconds(120);
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions")
        {
            Content = new StringContent($$"""{"messages":[{"role":"user","content":"Hello"}],"max_tokens":{{LongAnswer}},"seed":1,"stream":true}""", Encoding.UTF8, "application/json"),
        };
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal($"remote:127.0.0.1:{_heavyHttpPort}", response.Headers.GetValues(ChatCompletionsEndpoint.ServedByHeader).Single());
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());

        var chunks = new List<JsonElement>();
        var killed = false;
        var done = false;
        while (await reader.ReadLineAsync() is { } line)
        {
            if (line == "data: [DONE]")
            {
                done = true;
                break;
            }

            if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                chunks.Add(JsonDocument.Parse(line[6..]).RootElement);
                if (!killed && Content(chunks[^1]) is { Length: > 0 })
                {
                    await _heavy.KillAsync();
                    killed = true;
                }
            }
        }

        Assert.True(done, "the stream ended without [DONE]");
        var restart = chunks.FindIndex(c => c.TryGetProperty("restarted", out var r) && r.GetBoolean());
        Assert.True(restart > 0, "no restart chunk after the heavy node's tokens");
        Assert.StartsWith("local:", chunks[restart].GetProperty("served_by").GetString(), StringComparison.Ordinal);
        Assert.StartsWith("restarted_locally_after_remote_failure", chunks[restart].GetProperty("route_reason").GetString(), StringComparison.Ordinal);
        Assert.Equal($"remote:127.0.0.1:{_heavyHttpPort}", chunks[0].GetProperty("served_by").GetString());
        var last = chunks.Last(c => c.GetProperty("choices").GetArrayLength() > 0);
        Assert.Equal("length", last.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        Assert.StartsWith("restarted_locally_after_remote_failure", last.GetProperty("route_reason").GetString(), StringComparison.Ordinal);
        Assert.NotEmpty(string.Concat(chunks.Skip(restart).Select(Content)));
    }

    [Fact]
    public async Task StreamedChatCompletion_HeavyKilledAndFail_StreamCutWithoutDone()
    {
        _edge = await StartEdgeAsync("fail");
        using var client = _edge.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions")
        {
            Content = new StringContent($$"""{"messages":[{"role":"user","content":"Hello"}],"max_tokens":{{LongAnswer}},"seed":1,"stream":true}""", Encoding.UTF8, "application/json"),
        };
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());

        var killed = false;
        var done = false;
        try
        {
            while (await reader.ReadLineAsync() is { } line)
            {
                done |= line == "data: [DONE]";
                if (!killed && line.StartsWith("data: {", StringComparison.Ordinal) && Content(JsonDocument.Parse(line[6..]).RootElement) is { Length: > 0 })
                {
                    await _heavy.KillAsync();
                    killed = true;
                }
            }
        }
        catch (HttpIOException)
        {
            // The edge aborts the connection: the client must not take the fragment for a whole answer.
        }
        catch (IOException)
        {
        }

        Assert.True(killed);
        Assert.False(done, "a stream cut by the heavy node's death must not end with [DONE]");
        await Poll.UntilAsync(() => _edge.Logs.Contains(6003) || _edge.Logs.Contains(6004), "the edge to log the interrupted answer");
    }

    private static string Content(JsonElement chunk) =>
        chunk.GetProperty("choices") is { ValueKind: JsonValueKind.Array } choices && choices.GetArrayLength() > 0
        && choices[0].GetProperty("delta").TryGetProperty("content", out var content) ? content.GetString() ?? "" : "";

    private Task<EdgeServer> StartEdgeAsync(string policy) => EdgeServer.StartAsync(
        "Cluster:Policy=remote-first",
        $"Cluster:MidStreamFailure={policy}",
        $"Cluster:Nodes:0:Url=http://127.0.0.1:{_heavyHttpPort.ToString(CultureInfo.InvariantCulture)}/v1",
        $"Cluster:Nodes:0:ApiKey={Key}",
        $"Mqtt:Port={_edgeMqttPort.ToString(CultureInfo.InvariantCulture)}",
        $"Mqtt:DeviceId={_deviceId}");

    public async Task DisposeAsync()
    {
        if (_edge is not null)
        {
            await _edge.DisposeAsync();
        }

        await _heavy.DisposeAsync();
    }
}
