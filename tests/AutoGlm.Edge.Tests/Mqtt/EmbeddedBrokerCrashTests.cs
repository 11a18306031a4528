using System.Globalization;
using AutoGlm.Edge.Tests.Support;

namespace AutoGlm.Edge.Tests.Mqtt;

/// <summary>
/// With the embedded broker, broker and daemon die together; a job whose publisher got its PUBACK must still have
/// been journaled, because the broker takes job messages into the journal before it acknowledges them.
/// </summary>
public sealed class EmbeddedBrokerCrashTests
{
    private const string LongPrompt = "Describe, in as much detail as you can, everything that the camera on the north wall of the shed sees right now";

    [Fact]
    public async Task SigkillRightAfterPubacks_Restart_EveryAcknowledgedJobWasJournaled()
    {
        const int jobCount = 200;
        var port = TestPaths.FreePort();
        var device = "emcrash" + Guid.NewGuid().ToString("N")[..6];
        await using var daemon = new DaemonProcess(TestPaths.NewFolder("state"), new Dictionary<string, string>
        {
            ["Mqtt__Port"] = port.ToString(CultureInfo.InvariantCulture),
            ["Mqtt__DeviceId"] = device,
            ["Mqtt__MaxConcurrentJobs"] = "1",
            ["Mqtt__QueueCapacity"] = "1000",
        });
        await daemon.StartAsync();
        var ids = Enumerable.Range(0, jobCount).Select(i => $"e{i:D3}").ToArray();
        var publisher = await TestMqttClient.ConnectAsync(port, persistent: false);

        // All at once, each complete when the broker has acknowledged it (QoS 1); then die at once.
        await Task.WhenAll(ids.Select(id => publisher.PublishAsync($"autoglm/{device}/jobs", $$"""{"id":"{{id}}","prompt":"{{LongPrompt}}","max_tokens":8}""")));
        await daemon.KillAsync();
        try
        {
            await publisher.DisposeAsync();
        }
        catch (MQTTnet.Exceptions.MqttCommunicationException)
        {
            // Its broker died with the daemon: there is nothing to disconnect from.
        }

        await daemon.StartAsync();
        await using var client = await TestMqttClient.ConnectAsync(port, persistent: false, $"autoglm/{device}/results/+");

        // The same ids again with a one-word prompt: a journaled job is answered for its first, long prompt; a lost
        // one would run the short one.
        foreach (var id in ids)
        {
            await client.PublishAsync($"autoglm/{device}/jobs", $$"""{"id":"{{id}}","prompt":"x","max_tokens":1}""");
        }

        await Poll.UntilAsync(
            () => ids.All(id => client.Messages.Any(m => m.Topic == $"autoglm/{device}/results/{id}")),
            "a result for every job",
            TimeSpan.FromSeconds(240));
        var results = ids.ToDictionary(id => id, id => client.Messages.First(m => m.Topic == $"autoglm/{device}/results/{id}"));
        Assert.All(results.Values, r => Assert.True(r.ErrorCode is null, r.Text));
        var lost = results.Where(r => r.Value.Json.GetProperty("usage").GetProperty("prompt_tokens").GetInt32() < 20).Select(r => r.Key).ToList();
        Assert.True(lost.Count == 0, $"{lost.Count} acknowledged jobs were lost in the crash: {string.Join(", ", lost.Take(20))}");
    }
}
