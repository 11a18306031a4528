using AutoGlm.Edge.Tests.Support;

namespace AutoGlm.Edge.Tests.Mqtt;

/// <summary>
/// Client-chosen MQTT 5 response topics against a running daemon, on both brokers: a forbidden one gets an error
/// result on the job's default topic and nothing on the topic it asked for.
/// </summary>
public abstract class ResponseTopicTests
{
    /// <summary>The device's prefix, the broker's port and the daemon, from the broker's fixture.</summary>
    protected abstract string Prefix { get; }

    protected abstract int Port { get; }

    protected abstract DaemonProcess Daemon { get; }

    public static TheoryData<string, string> ForbiddenTopics() => new()
    {
        { "$SYS/autoglm-test/{id}", "system topic" },
        { "{prefix}/status", "own topics" },
        { "{prefix}/jobs", "own topics" },
        { "{prefix}/jobs/image", "own topics" },
        { "{prefix}/sensors/porch/capture", "own topics" },
        { "{prefix}/answers/{id}", "own topics" },
        { "autoglm/another-device/jobs", "job topic" },
        { "autoglm/another-device/jobs/audio", "job topic" },
    };

    [Theory]
    [MemberData(nameof(ForbiddenTopics))]
    public async Task Job_ForbiddenResponseTopic_ErrorOnDefaultTopicAndNothingOnTheAskedOne(string template, string reason)
    {
        var id = "rt-" + Guid.NewGuid().ToString("N")[..8];
        var asked = template.Replace("{prefix}", Prefix, StringComparison.Ordinal).Replace("{id}", id, StringComparison.Ordinal);
        await using var watcher = await TestMqttClient.ConnectAsync(Port, persistent: false, "#", "$SYS/autoglm-test/#");
        await using var client = await TestMqttClient.ConnectAsync(Port, persistent: false);

        await client.PublishAsync(Prefix + "/jobs", $$"""{"id":"{{id}}","prompt":"Hello","max_tokens":2}""", asked, "corr-" + id);
        var result = await watcher.WaitForTopicAsync($"{Prefix}/results/{id}");

        Assert.Equal("forbidden_response_topic", result.ErrorCode);
        Assert.Equal("corr-" + id, result.CorrelationText);
        var message = result.Json.GetProperty("error").GetProperty("message").GetString();
        Assert.Contains(reason, message, StringComparison.Ordinal);
        Assert.Contains(asked, message, StringComparison.Ordinal);

        // The result is published once, to the one topic journaled with it; so by now nothing else carries it.
        Assert.DoesNotContain(watcher.Messages, m => m.Topic != $"{Prefix}/results/{id}" && IsResultOf(m, id));
        Daemon.AssertNoUnexpectedErrors();
    }

    /// <summary>Whether <paramref name="m"/> is a result (text or error) of job <paramref name="id"/>, not the job itself.</summary>
    internal static bool IsResultOf(Received m, string id)
    {
        try
        {
            var json = m.Json;
            return json.ValueKind == System.Text.Json.JsonValueKind.Object
                && json.TryGetProperty("id", out var jobId) && jobId.ValueKind == System.Text.Json.JsonValueKind.String && jobId.GetString() == id
                && (json.TryGetProperty("error", out _) || json.TryGetProperty("text", out _));
        }
        catch (System.Text.Json.JsonException)
        {
            return false;
        }
    }
}

/// <summary><see cref="ResponseTopicTests"/> with a real Mosquitto.</summary>
public sealed class MosquittoResponseTopicTests(MosquittoDaemonFixture fixture) : ResponseTopicTests, IClassFixture<MosquittoDaemonFixture>
{
    protected override string Prefix => fixture.Prefix;

    protected override int Port => fixture.Broker.Port;

    protected override DaemonProcess Daemon => fixture.Daemon;
}

/// <summary><see cref="ResponseTopicTests"/> with the embedded broker.</summary>
public sealed class EmbeddedResponseTopicTests(EmbeddedDaemonFixture fixture) : ResponseTopicTests, IClassFixture<EmbeddedDaemonFixture>
{
    protected override string Prefix => fixture.Prefix;

    protected override int Port => fixture.Port;

    protected override DaemonProcess Daemon => fixture.Daemon;
}

/// <summary><c>Mqtt:AllowedResponseTopics</c> narrows the response topics a daemon (embedded broker) obeys.</summary>
public sealed class AllowedResponseTopicsTests
{
    [Fact]
    public async Task Job_AllowedResponseTopicsSet_OnlyMatchingTopicsObeyedAndOneWarning()
    {
        var port = TestPaths.FreePort();
        var deviceId = "ar" + Guid.NewGuid().ToString("N")[..8];
        var prefix = $"autoglm/{deviceId}";
        await using var daemon = new DaemonProcess(TestPaths.NewFolder("state"), new Dictionary<string, string>
        {
            ["Mqtt__Port"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Mqtt__DeviceId"] = deviceId,
            ["Mqtt__AllowedResponseTopics__0"] = "reply/allowed/#",
            ["Mqtt__AllowedResponseTopics__1"] = "autoglm-bridge/#",
        });
        await daemon.StartAsync();
        await using var client = await TestMqttClient.ConnectAsync(port, persistent: false, "reply/#", $"{prefix}/results/+");

        var allowed = "ok-" + Guid.NewGuid().ToString("N")[..8];
        await client.PublishAsync(prefix + "/jobs", $$"""{"id":"{{allowed}}","prompt":"Hello","max_tokens":2}""", $"reply/allowed/{allowed}");
        var bridged = "br-" + Guid.NewGuid().ToString("N")[..8];
        await using var bridge = await TestMqttClient.ConnectAsync(port, persistent: false, "autoglm-bridge/#");
        await bridge.PublishAsync(prefix + "/jobs", $$"""{"id":"{{bridged}}","prompt":"Hello","max_tokens":2}""", $"autoglm-bridge/autoglm-bridge-0123456789ab/{bridged}");
        var ids = Enumerable.Range(0, 3).Select(i => $"no{i}-" + Guid.NewGuid().ToString("N")[..8]).ToArray();
        foreach (var id in ids)
        {
            await client.PublishAsync(prefix + "/jobs", $$"""{"id":"{{id}}","prompt":"Hello","max_tokens":2}""", $"reply/other/{id}");
        }

        var result = await client.WaitForTopicAsync($"reply/allowed/{allowed}");
        Assert.Null(result.ErrorCode);
        Assert.Null((await bridge.WaitForTopicAsync($"autoglm-bridge/autoglm-bridge-0123456789ab/{bridged}")).ErrorCode);
        foreach (var id in ids)
        {
            var refused = await client.WaitForTopicAsync($"{prefix}/results/{id}");
            Assert.Equal("forbidden_response_topic", refused.ErrorCode);
            Assert.Contains("matches none of Mqtt:AllowedResponseTopics (reply/allowed/#, autoglm-bridge/#)", refused.Json.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
        }

        Assert.DoesNotContain(client.Messages, m => m.Topic.StartsWith("reply/other/", StringComparison.Ordinal));
        Assert.DoesNotContain(client.Messages, m => m.Topic == $"{prefix}/results/{allowed}");
        await Poll.UntilAsync(() => daemon.Lines.Any(l => l.Contains("[4451]", StringComparison.Ordinal)), "the refusal's warning");
        Assert.Single(daemon.Lines, l => l.Contains("[4451]", StringComparison.Ordinal));
        daemon.AssertNoUnexpectedErrors();
    }
}
