using AutoGlm.Edge.Tests.Support;

namespace AutoGlm.Edge.Tests.Mqtt;

/// <summary>The default set-up: the daemon runs its own MQTTnet broker. Its queue holds 2 jobs and it runs 1 at a time.</summary>
public sealed class EmbeddedBrokerTests(EmbeddedDaemonFixture fixture) : IClassFixture<EmbeddedDaemonFixture>
{
    private string Jobs => fixture.Prefix + "/jobs";

    [Fact]
    public async Task Job_OnEmbeddedBroker_ResultOnResultsTopic()
    {
        var id = "emb-" + Guid.NewGuid().ToString("N")[..8];
        await fixture.Client.PublishAsync(Jobs, $$"""{"id":"{{id}}","prompt":"Hello","max_tokens":3,"seed":2}""", $"{fixture.ReplyRoot}/{id}", "c1");

        var result = await fixture.Client.WaitForTopicAsync($"{fixture.ReplyRoot}/{id}");

        Assert.Null(result.ErrorCode);
        Assert.Equal("c1", result.CorrelationText);
        fixture.Daemon.AssertNoUnexpectedErrors();
    }

    [Fact]
    public async Task Status_OnEmbeddedBroker_IsRetainedOnline()
    {
        // Once the status is out (seen live or retained by the fixture's client), a client that subscribes later gets it retained.
        await fixture.Client.WaitForTopicAsync(fixture.Prefix + "/status");
        await using var late = await TestMqttClient.ConnectAsync(fixture.Port, persistent: false, fixture.Prefix + "/status");

        var status = await late.WaitForTopicAsync(fixture.Prefix + "/status");

        Assert.True(status.Retain);
        Assert.Equal("online", status.Json.GetProperty("state").GetString());
        Assert.Equal(fixture.DeviceId, status.Json.GetProperty("device_id").GetString());
    }

    [Fact]
    public async Task QueueFull_AnswersOverloadedAtOnce_AndTheSameIdMayBeSentAgain()
    {
        var tag = Guid.NewGuid().ToString("N")[..6];
        var ids = Enumerable.Range(0, 4).Select(i => $"load{i}-{tag}").ToArray();
        foreach (var id in ids)
        {
            await fixture.Client.PublishAsync(Jobs, $$"""{"id":"{{id}}","prompt":"Keep going","max_tokens":1900}""");
        }

        // One runs, two wait, so the fourth cannot be queued whatever the timing.
        var refused = await fixture.Client.WaitForTopicAsync($"{fixture.Prefix}/results/{ids[3]}");
        Assert.Equal("overloaded", refused.ErrorCode);
        Assert.Contains("Mqtt:QueueCapacity", refused.Json.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);

        foreach (var id in ids[..3])
        {
            await fixture.Client.PublishAsync($"{Jobs}/{id}/cancel", "");
        }

        foreach (var id in ids[..3])
        {
            var result = await fixture.Client.WaitForTopicAsync($"{fixture.Prefix}/results/{id}");
            Assert.Contains(result.ErrorCode, new[] { "cancelled", "overloaded" });
        }

        await fixture.Client.PublishAsync(Jobs, $$"""{"id":"{{ids[3]}}","prompt":"Now?","max_tokens":2}""", $"{fixture.ReplyRoot}/again/{ids[3]}");
        var retried = await fixture.Client.WaitForTopicAsync($"{fixture.ReplyRoot}/again/{ids[3]}");
        Assert.Null(retried.ErrorCode);
        fixture.Daemon.AssertNoUnexpectedErrors();
    }
}
