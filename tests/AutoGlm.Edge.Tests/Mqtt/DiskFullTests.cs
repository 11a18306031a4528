using System.Globalization;
using System.Net;
using System.Text;
using AutoGlm.Edge.Tests.Support;
using MQTTnet;

namespace AutoGlm.Edge.Tests.Mqtt;

/// <summary>
/// The daemon with its embedded broker and its journal on a 2 MB tmpfs that fills up: no job whose publisher got a
/// success PUBACK is lost, the others are refused visibly, readiness says why, and it recovers by itself.
/// </summary>
public sealed class DiskFullTests
{
    // Long enough that the journal's WAL fills in a few dozen jobs.
    private static readonly string Prompt = string.Concat(Enumerable.Repeat("What does the camera by the north door see? ", 40));

    [FactNeedingTmpfs]
    public async Task EmbeddedBroker_DiskFills_AcknowledgedJobsAnsweredOthersRefusedThenRecovers()
    {
        using var disk = Tmpfs.Mount("2m");
        var port = TestPaths.FreePort();
        var httpPort = TestPaths.FreePort();
        var device = "full" + Guid.NewGuid().ToString("N")[..6];
        var jobs = $"autoglm/{device}/jobs";
        await using var daemon = new DaemonProcess(TestPaths.NewFolder("state"), new Dictionary<string, string>
        {
            ["Mqtt__Port"] = port.ToString(CultureInfo.InvariantCulture),
            ["Mqtt__DeviceId"] = device,
            ["Mqtt__MaxConcurrentJobs"] = "1",
            ["Mqtt__QueueCapacity"] = "1000",
            ["Http__Urls"] = $"http://127.0.0.1:{httpPort}",
            ["Journal__Path"] = Path.Combine(disk.Folder, "journal.db"),
            ["Journal__WriteProbeInterval"] = "00:00:00.250",
        });
        await daemon.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}/") };
        await using var client = await TestMqttClient.ConnectAsync(port, persistent: false, $"autoglm/{device}/results/+");
        await Poll.UntilAsync(Readiness.Is(http, HttpStatusCode.OK), "readiness after the start (HTTP listens just after the MQTT connection)");

        var filler = disk.Fill();
        var accepted = new List<string>();
        var refused = new List<string>();
        for (var i = 0; i < 400 && refused.Count < 5; i++)
        {
            var id = $"full{i:D3}";
            var reason = await client.PublishForReasonAsync(jobs, Encoding.UTF8.GetBytes($$"""{"id":"{{id}}","prompt":"{{Prompt}}","max_tokens":2}"""));
            if (reason == MqttClientPublishReasonCode.Success)
            {
                accepted.Add(id);
            }
            else
            {
                Assert.Equal(MqttClientPublishReasonCode.QuotaExceeded, reason);
                refused.Add(id);
            }
        }

        Assert.True(refused.Count == 5, $"the broker acknowledged {accepted.Count} jobs on a full disk and refused none");
        var notReady = await http.GetAsync("health/ready");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, notReady.StatusCode);
        Assert.Contains("journal", await notReady.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        string Result(string id) => $"autoglm/{device}/results/{id}";
        await Poll.UntilAsync(
            () => accepted.Concat(refused).All(id => client.Messages.Any(m => m.Topic == Result(id))),
            "a result for every job, taken or refused",
            TimeSpan.FromSeconds(180));
        var lost = accepted.Where(id => client.Messages.First(m => m.Topic == Result(id)).ErrorCode is not null).ToList();
        Assert.True(lost.Count == 0, $"acknowledged jobs answered with an error: {string.Join(", ", lost.Select(id => client.Messages.First(m => m.Topic == Result(id)).Text))}");
        Assert.All(refused, id => Assert.Equal("storage_full", client.Messages.First(m => m.Topic == Result(id)).ErrorCode));

        File.Delete(filler);
        await Poll.UntilAsync(Readiness.Is(http, HttpStatusCode.OK), "readiness once the disk has room again");
        foreach (var id in new[] { "after1", "after2", "after3" })
        {
            Assert.Equal(MqttClientPublishReasonCode.Success, await client.PublishForReasonAsync(jobs, Encoding.UTF8.GetBytes($$"""{"id":"{{id}}","prompt":"Hello","max_tokens":2}""")));
            var result = await client.WaitForTopicAsync(Result(id));
            Assert.Null(result.ErrorCode);
        }

        // 4520: the journal cannot be written (said once); nothing else.
        daemon.AssertNoUnexpectedErrors(4520);
        Assert.Contains(daemon.Lines, l => l.Contains("[4520]", StringComparison.Ordinal));
    }

    [FactNeedingTmpfs]
    public async Task ExternalBroker_DiskFills_JobsWaitAtTheBrokerAndAreAnsweredWhenSpaceReturns()
    {
        Assert.True(MosquittoBroker.Executable() is not null, "mosquitto is not installed (apt-get install mosquitto mosquitto-clients)");
        using var disk = Tmpfs.Mount("2m");
        await using var broker = await MosquittoBroker.StartAsync();
        var httpPort = TestPaths.FreePort();
        var device = "fullx" + Guid.NewGuid().ToString("N")[..6];
        var jobs = $"autoglm/{device}/jobs";
        await using var daemon = new DaemonProcess(TestPaths.NewFolder("state"), new Dictionary<string, string>
        {
            ["Mqtt__Broker"] = "external",
            ["Mqtt__Port"] = broker.Port.ToString(CultureInfo.InvariantCulture),
            ["Mqtt__DeviceId"] = device,
            ["Mqtt__MaxConcurrentJobs"] = "1",
            ["Mqtt__QueueCapacity"] = "1000",
            ["Http__Urls"] = $"http://127.0.0.1:{httpPort}",
            ["Journal__Path"] = Path.Combine(disk.Folder, "journal.db"),
            ["Journal__WriteProbeInterval"] = "00:00:00.250",
        });
        await daemon.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}/") };
        await using var client = await TestMqttClient.ConnectAsync(broker.Port, persistent: false, $"autoglm/{device}/results/+");

        var filler = disk.Fill();
        var ids = Enumerable.Range(0, 80).Select(i => $"fullx{i:D3}").ToList();
        foreach (var id in ids)
        {
            await client.PublishAsync(jobs, $$"""{"id":"{{id}}","prompt":"{{Prompt}}","max_tokens":2}""");
        }

        string Result(string id) => $"autoglm/{device}/results/{id}";
        await Poll.UntilAsync(Readiness.Is(http, HttpStatusCode.ServiceUnavailable), "readiness to say the journal cannot be written");
        var body = await (await http.GetAsync("health/ready")).Content.ReadAsStringAsync();
        Assert.Contains("unacknowledged at the broker", body, StringComparison.Ordinal);
        Assert.Contains(daemon.Lines, l => l.Contains("stays unacknowledged at the broker", StringComparison.Ordinal));

        File.Delete(filler);
        await Poll.UntilAsync(
            () => ids.All(id => client.Messages.Any(m => m.Topic == Result(id))),
            "a result for every job once the disk has room (left at the broker, delivered again after a reconnection)",
            TimeSpan.FromSeconds(180));
        Assert.All(ids, id => Assert.Null(client.Messages.First(m => m.Topic == Result(id)).ErrorCode));
        await Poll.UntilAsync(Readiness.Is(http, HttpStatusCode.OK), "readiness once the disk has room again");
        daemon.AssertNoUnexpectedErrors(4520);
    }
}
