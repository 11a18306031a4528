using AutoGlm.Edge.Tests.Support;

namespace AutoGlm.Edge.Tests.Mqtt;

/// <summary>
/// Nothing is lost: the daemon is SIGKILLed with jobs running and waiting, or its broker restarts mid-run, and every
/// job still gets exactly one result.
/// </summary>
public sealed class CrashSafetyTests : IAsyncLifetime
{
    private MosquittoBroker _broker = null!;

    public async Task InitializeAsync() => _broker = await MosquittoBroker.StartAsync();

    public async Task DisposeAsync() => await _broker.DisposeAsync();

    [Fact]
    public async Task SigkillWhileJobsRun_Restart_EveryJobGetsExactlyOneResult()
    {
        const int jobCount = 24;
        var device = "crash" + Guid.NewGuid().ToString("N")[..6];
        await using var daemon = NewDaemon(device, TestPaths.NewFolder("state"));
        await daemon.StartAsync();
        await using var client = await TestMqttClient.ConnectAsync(_broker.Port, persistent: true, $"autoglm/{device}/results/+", $"autoglm/{device}/status");
        var ids = Enumerable.Range(0, jobCount).Select(i => $"job{i:D2}").ToArray();
        foreach (var id in ids)
        {
            await client.PublishAsync($"autoglm/{device}/jobs", $$"""{"id":"{{id}}","prompt":"Tell me about {{id}}","max_tokens":40,"seed":{{id.Length}}}""");
        }

        // Some results are out and the rest are running or waiting: the worst moment to die.
        await Poll.UntilAsync(() => Results(client, device).Count >= 3, "the first results");
        await daemon.KillAsync();
        var beforeRestart = Results(client, device).Count;
        Assert.True(beforeRestart < jobCount, "every job finished before the kill; the test proves nothing");
        await client.WaitForAsync(m => m.Topic == $"autoglm/{device}/status" && m.Text == "offline", "the last will");

        await daemon.StartAsync();
        await Poll.UntilAsync(() => ids.All(id => Results(client, device).Any(r => r.Topic.EndsWith("/" + id, StringComparison.Ordinal))), "a result for every job", TimeSpan.FromSeconds(180));

        var results = Results(client, device);
        foreach (var id in ids)
        {
            var mine = results.Where(r => r.Topic == $"autoglm/{device}/results/{id}").ToList();
            // QoS 1 is at least once: a result the broker took just before the kill may be sent again, but it is the same result.
            Assert.Single(mine.Select(r => r.Text).Distinct());
            Assert.Null(mine[0].ErrorCode);
        }

        Assert.Equal(ids.Order(), results.Select(r => r.Topic.Split('/')[^1]).Distinct().Order());
        var replay = daemon.Lines.Single(l => l.StartsWith("[2]", StringComparison.Ordinal) && l.Contains("Job journal:", StringComparison.Ordinal));
        Assert.Matches(@"\(([1-9]\d*) unfinished jobs run again\)", replay);
        daemon.AssertNoUnexpectedErrors();
    }

    [Fact]
    public async Task BrokerRestartsMidRun_DaemonReconnects_NoJobOrResultLost()
    {
        const int perBatch = 10;
        var device = "bounce" + Guid.NewGuid().ToString("N")[..6];
        await using var daemon = NewDaemon(device, TestPaths.NewFolder("state"));
        await daemon.StartAsync();
        await using var client = await TestMqttClient.ConnectAsync(_broker.Port, persistent: true, $"autoglm/{device}/results/+");
        var first = Enumerable.Range(0, perBatch).Select(i => $"a{i:D2}").ToArray();
        var second = Enumerable.Range(0, perBatch).Select(i => $"b{i:D2}").ToArray();
        foreach (var id in first)
        {
            await client.PublishAsync($"autoglm/{device}/jobs", $$"""{"id":"{{id}}","prompt":"Before {{id}}","max_tokens":40}""");
        }

        await Poll.UntilAsync(() => Results(client, device).Count >= 2, "the first results");
        await _broker.StopAsync();
        Assert.DoesNotContain(_broker.Output, l => l.Contains("Error saving", StringComparison.Ordinal));
        await _broker.StartAgainAsync();

        await Poll.UntilAsync(() => client.IsConnected, "the test client to reconnect");
        await Poll.UntilAsync(() => daemon.Lines.Count(l => l.Contains("Connected to the MQTT broker", StringComparison.Ordinal)) >= 2, "the daemon to reconnect");
        foreach (var id in second)
        {
            await client.PublishAsync($"autoglm/{device}/jobs", $$"""{"id":"{{id}}","prompt":"After {{id}}","max_tokens":4}""");
        }

        string[] Missing() => [.. first.Concat(second).Where(id => !Results(client, device).Any(r => r.Topic.EndsWith("/" + id, StringComparison.Ordinal)))];
        try
        {
            await Poll.UntilAsync(() => Missing().Length == 0, "a result for every job", TimeSpan.FromSeconds(180));
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            throw new Xunit.Sdk.XunitException($"no result for {string.Join(", ", Missing())}; daemon log:\n{string.Join("\n", daemon.Lines.TakeLast(80))}\nbroker:\n{string.Join("\n", _broker.Output.TakeLast(40))}");
        }

        foreach (var id in first.Concat(second))
        {
            var mine = Results(client, device).Where(r => r.Topic == $"autoglm/{device}/results/{id}").ToList();
            Assert.Single(mine.Select(r => r.Text).Distinct());
            Assert.Null(mine[0].ErrorCode);
        }

        Assert.Contains(daemon.Lines, l => l.Contains("Lost the MQTT connection", StringComparison.Ordinal));
        daemon.AssertNoUnexpectedErrors();
    }

    [Fact]
    public async Task SigtermWithJobsRunning_RunningOnesFinish_RestRunAfterRestart()
    {
        const int jobCount = 12;
        var device = "term" + Guid.NewGuid().ToString("N")[..6];
        await using var daemon = NewDaemon(device, TestPaths.NewFolder("state"));
        await daemon.StartAsync();
        await using var client = await TestMqttClient.ConnectAsync(_broker.Port, persistent: true, $"autoglm/{device}/results/+");
        var ids = Enumerable.Range(0, jobCount).Select(i => $"t{i:D2}").ToArray();
        foreach (var id in ids)
        {
            await client.PublishAsync($"autoglm/{device}/jobs", $$"""{"id":"{{id}}","prompt":"Drain {{id}}","max_tokens":40}""");
        }

        await Poll.UntilAsync(() => Results(client, device).Count >= 1, "the first result");
        var exitCode = await daemon.TerminateAsync();
        Assert.True(exitCode == 0, $"exit code {exitCode}:\n" + string.Join("\n", daemon.Lines.TakeLast(30)));
        Assert.DoesNotContain(daemon.Lines, l => l.Contains("grace period over", StringComparison.OrdinalIgnoreCase));
        Assert.Contains(daemon.Lines, l => l.Contains("MQTT intake stopped", StringComparison.Ordinal));

        await daemon.StartAsync();
        await Poll.UntilAsync(() => ids.All(id => Results(client, device).Any(r => r.Topic.EndsWith("/" + id, StringComparison.Ordinal))), "a result for every job", TimeSpan.FromSeconds(180));
        foreach (var id in ids)
        {
            var mine = Results(client, device).Where(r => r.Topic == $"autoglm/{device}/results/{id}").ToList();
            Assert.Single(mine);
            Assert.Null(mine[0].ErrorCode);
        }

        daemon.AssertNoUnexpectedErrors();
    }

    private static List<Received> Results(TestMqttClient client, string device) =>
        [.. client.Messages.Where(m => m.Topic.StartsWith($"autoglm/{device}/results/", StringComparison.Ordinal))];

    private DaemonProcess NewDaemon(string device, string state) => new(state, new Dictionary<string, string>
    {
        ["Mqtt__Broker"] = "external",
        ["Mqtt__Port"] = _broker.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Mqtt__DeviceId"] = device,
        ["Mqtt__MaxConcurrentJobs"] = "2",
        ["Mqtt__ReconnectMinDelay"] = "00:00:00.200",
        ["Mqtt__ReconnectMaxDelay"] = "00:00:01",
        ["Mqtt__KeepAlive"] = "00:00:05",
        ["Mqtt__ShutdownGracePeriod"] = "00:00:30",
    });
}
