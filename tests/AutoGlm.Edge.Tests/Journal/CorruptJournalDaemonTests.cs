using System.Globalization;
using AutoGlm.Edge.Tests.Support;

namespace AutoGlm.Edge.Tests.Journal;

/// <summary>The daemon started on a damaged journal: it moves the journal aside, says so in one line, and serves jobs.</summary>
public sealed class CorruptJournalDaemonTests
{
    [Theory]
    [MemberData(nameof(JournalCorruption.All), MemberType = typeof(JournalCorruption))]
    public async Task Start_DamagedJournal_MovedAsideLoggedInOneLineAndJobsServed(string kind)
    {
        var state = TestPaths.NewFolder("state");
        var journalPath = Path.Combine(state, "journal.db");
        JournalCorruption.WriteJournal(journalPath, unfinished: 1500);
        JournalCorruption.Damage(journalPath, kind);
        var port = TestPaths.FreePort();
        var device = "corrupt" + Guid.NewGuid().ToString("N")[..6];
        await using var daemon = new DaemonProcess(state, new Dictionary<string, string>
        {
            ["Mqtt__Port"] = port.ToString(CultureInfo.InvariantCulture),
            ["Mqtt__DeviceId"] = device,
        });

        await daemon.StartAsync();

        var line = Assert.Single(daemon.Lines, l => l.Contains("[4701]", StringComparison.Ordinal) || l.Contains("[4702]", StringComparison.Ordinal));
        var moved = Assert.Single(Directory.GetFiles(state, "journal.db.corrupt-*"), f => !f.EndsWith("-wal", StringComparison.Ordinal) && !f.EndsWith("-shm", StringComparison.Ordinal));
        Assert.Matches(@"journal\.db\.corrupt-\d{8}T\d{6}Z$", moved);
        Assert.Contains(moved, line, StringComparison.Ordinal);
        Assert.Contains(journalPath, line, StringComparison.Ordinal);
        Assert.DoesNotContain(daemon.Lines, l => l.Contains("SqliteException", StringComparison.Ordinal));

        await using var client = await TestMqttClient.ConnectAsync(port, persistent: false, $"autoglm/{device}/results/+");
        await client.PublishAsync($"autoglm/{device}/jobs", """{"id":"after-damage","prompt":"Hello","max_tokens":3}""");
        var result = await client.WaitForTopicAsync($"autoglm/{device}/results/after-damage");
        Assert.True(result.ErrorCode is null, result.Text);
        daemon.AssertNoUnexpectedErrors(4701, 4702);
    }
}
