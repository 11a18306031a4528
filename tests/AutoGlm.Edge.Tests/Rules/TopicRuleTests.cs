using System.Globalization;
using System.Text;
using AutoGlm.Edge.Mqtt;
using AutoGlm.Edge.Rules;
using AutoGlm.Edge.Tests.Http;
using AutoGlm.Edge.Tests.Sensors;
using AutoGlm.Edge.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace AutoGlm.Edge.Tests.Rules;

/// <summary>
/// Topic rules: what a rule makes of a message (Frigate's and zigbee2mqtt's shapes), its limits, its configuration
/// errors, and inside the daemon on the embedded broker and on Mosquitto, events on other systems' topics answered on
/// the rule's topic and its retained latest-answer topic.
/// </summary>
public sealed class TopicRuleTests
{
    // The shape of a Frigate 0.14 event on frigate/events, cut down.
    private const string FrigateEvent = """{"type":"new","before":{"label":"person","camera":"front"},"after":{"id":"1700000000.1-abc","label":"person","camera":"front","score":0.87,"current_zones":["porch","drive"]}}""";
    private static readonly DateTimeOffset Now = new(2026, 12, 2, 8, 30, 0, TimeSpan.Zero);

    [Fact]
    public void Prompt_FrigateEvent_FillsFieldsArraysAndTheBuiltIns()
    {
        var rule = new TopicRule(new TopicRuleOptions
        {
            Name = "porch",
            Topic = "frigate/events",
            Prompt = "A {after.label} ({after.score}) at {after.camera} in {after.current_zones.0}, {time}, via {topic} for {rule}. {{json}}",
        });

        var prompt = rule.Prompt("frigate/events", Encoding.UTF8.GetBytes(FrigateEvent), Now);

        Assert.Equal("A person (0.87) at front in porch, 2026-12-02T08:30:00Z, via frigate/events for porch. {json}", prompt);
    }

    [Fact]
    public void Prompt_MatchOnFields_OnlyMatchingMessagesMakeAPrompt()
    {
        var rule = new TopicRule(new TopicRuleOptions
        {
            Name = "people",
            Topic = "frigate/events",
            Match = new() { ["type"] = "new", ["after.label"] = "person" },
        });

        Assert.NotNull(rule.Prompt("frigate/events", Encoding.UTF8.GetBytes(FrigateEvent), Now));
        Assert.Null(rule.Prompt("frigate/events", Encoding.UTF8.GetBytes(FrigateEvent.Replace("\"type\":\"new\"", "\"type\":\"end\"", StringComparison.Ordinal)), Now));
        Assert.Null(rule.Prompt("frigate/events", Encoding.UTF8.GetBytes(FrigateEvent.Replace("\"label\":\"person\",\"camera\":\"front\",\"score\"", "\"label\":\"car\",\"camera\":\"front\",\"score\"", StringComparison.Ordinal)), Now));
    }

    [Fact]
    public void Prompt_Zigbee2MqttBooleanField_ComparedAndFilledAsItsJsonText()
    {
        var rule = new TopicRule(new TopicRuleOptions { Name = "door", Topic = "zigbee2mqtt/+", Prompt = "Contact is {contact}, battery {battery}%", Match = new() { ["contact"] = "false" } });

        Assert.Equal("Contact is false, battery 97%", rule.Prompt("zigbee2mqtt/front_door", """{"contact":false,"battery":97,"linkquality":120}"""u8, Now));
        Assert.Null(rule.Prompt("zigbee2mqtt/front_door", """{"contact":true,"battery":97}"""u8, Now));
    }

    [Theory]
    [InlineData("not json at all", "is not JSON")]
    [InlineData("""{"after":{"camera":"front"}}""", "has no field 'after.label'")]
    public void Prompt_MessageItCannotUse_SaysWhy(string payload, string expected)
    {
        var rule = new TopicRule(new TopicRuleOptions { Name = "porch", Topic = "frigate/events", Prompt = "A {after.label}" });

        var error = Assert.Throws<UnusableMessageException>(() => rule.Prompt("frigate/events", Encoding.UTF8.GetBytes(payload), Now));

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        Assert.Contains("rule 'porch'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TryStartJob_MinIntervalAndMaxOutstanding_DropAndCount()
    {
        var rule = new TopicRule(new TopicRuleOptions { Name = "r", Topic = "t", MinInterval = TimeSpan.FromSeconds(30), MaxOutstanding = 2 });

        Assert.True(rule.TryStartJob(Now));
        Assert.False(rule.TryStartJob(Now.AddSeconds(10)));
        Assert.True(rule.TryStartJob(Now.AddSeconds(31)));
        Assert.False(rule.TryStartJob(Now.AddSeconds(70)));
        rule.EndJob();
        Assert.True(rule.TryStartJob(Now.AddSeconds(71)));

        Assert.Equal(3, rule.Jobs);
        Assert.Equal(2, rule.Dropped);
    }

    [Fact]
    public void Validate_BadRules_EachProblemNamesItsKey()
    {
        var options = new MqttOptions
        {
            DeviceId = "pi",
            Rules =
            [
                new() { Name = "all", Topic = "#" },
                new() { Name = "loop", Topic = "home/+/events", AnswerTopic = "home/answers/events" },
                new() { Name = "bad name!", Topic = "frigate/#/x", Payload = "video", Prompt = "{after.label" },
                new() { Name = "img", Topic = "frigate/front/person/snapshot", Payload = "image", Match = new() { ["a"] = "b" }, MaxOutstanding = 0 },
            ],
        };

        var result = new TopicRulesValidator().Validate(null, options);

        Assert.True(result.Failed);
        var problems = string.Join("\n", result.Failures!);
        Assert.Contains("Mqtt:Rules:0:Topic '#' takes the device's own job or result topics", problems, StringComparison.Ordinal);
        Assert.Contains("Mqtt:Rules:1:AnswerTopic 'home/answers/events' matches the rule's own Topic", problems, StringComparison.Ordinal);
        Assert.Contains("Mqtt:Rules:2:Name must be", problems, StringComparison.Ordinal);
        Assert.Contains("Mqtt:Rules:2:Topic must be an MQTT topic filter", problems, StringComparison.Ordinal);
        Assert.Contains("Mqtt:Rules:2:Payload must be json, text, image or audio (got 'video')", problems, StringComparison.Ordinal);
        Assert.Contains("Mqtt:Rules:2:Prompt has a '{' at 0 that is never closed", problems, StringComparison.Ordinal);
        Assert.Contains("Mqtt:Rules:3:Match needs Payload json", problems, StringComparison.Ordinal);
        Assert.Contains("Mqtt:Rules:3:MaxOutstanding must be between 1 and 1000 (got 0)", problems, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Daemon_BadRule_StartRefusedNamingTheKey()
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(() => EdgeServer.StartAsync(
            "Mqtt:Rules:0:Name=doorbell",
            "Mqtt:Rules:0:Topic=frigate/events",
            "Mqtt:Rules:0:Payload=json",
            "Mqtt:Rules:0:MinInterval=banana"));

        Assert.Contains("Mqtt:Rules:0:MinInterval", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Daemon_EmbeddedBroker_FrigateEventAndSnapshotBecomeJobsAnsweredOnTheirTopics()
    {
        var port = TestPaths.FreePort();
        var device = "rules" + Guid.NewGuid().ToString("N")[..6];
        await using var server = await EdgeServer.StartAsync(RuleSettings(port, device));
        await RunFrigateScenarioAsync(server, port, device);
    }

    [FactNeeding("mosquitto")]
    public async Task Daemon_ExternalMosquitto_FrigateEventAndSnapshotBecomeJobsAnsweredOnTheirTopics()
    {
        await using var mosquitto = await MosquittoBroker.StartAsync();
        var device = "rulesx" + Guid.NewGuid().ToString("N")[..6];
        await using var server = await EdgeServer.StartAsync([.. RuleSettings(mosquitto.Port, device), "Mqtt:Broker=external", "Mqtt:Host=127.0.0.1"]);
        await RunFrigateScenarioAsync(server, mosquitto.Port, device);
    }

    private static string[] RuleSettings(int port, string device) =>
    [
        $"Mqtt:Port={port.ToString(CultureInfo.InvariantCulture)}",
        $"Mqtt:DeviceId={device}",
        "Mqtt:Rules:0:Name=frigate-person",
        "Mqtt:Rules:0:Topic=frigate/events",
        "Mqtt:Rules:0:Prompt=A {after.label} is at the {after.camera} camera. Should I worry?",
        "Mqtt:Rules:0:Match:type=new",
        "Mqtt:Rules:0:Match:after.label=person",
        "Mqtt:Rules:0:MaxOutstanding=4",
        "Mqtt:Rules:0:MaxTokens=3",
        $"Mqtt:Rules:0:AnswerTopic=home/{device}/frigate-answer",
        "Mqtt:Rules:1:Name=front-snapshot",
        "Mqtt:Rules:1:Topic=frigate/+/person/snapshot",
        "Mqtt:Rules:1:Payload=image",
        "Mqtt:Rules:1:Prompt=Who is this?",
        "Mqtt:Rules:1:MaxTokens=3",
    ];

    private static async Task RunFrigateScenarioAsync(EdgeServer server, int port, string device)
    {
        var rules = server.Services.GetRequiredService<TopicRuleService>();
        await using var watcher = await TestMqttClient.ConnectAsync(port, persistent: false, $"home/{device}/#", $"autoglm/{device}/sources/+/answer");

        // A car: filtered out. Garbage: counted, not a job. A person: a job whose answer lands on the rule's topic.
        await watcher.PublishAsync("frigate/events", FrigateEvent.Replace("\"label\":\"person\",\"camera\":\"front\",\"score\"", "\"label\":\"car\",\"camera\":\"front\",\"score\"", StringComparison.Ordinal));
        await watcher.PublishAsync("frigate/events", "}{ not json");
        await watcher.PublishAsync("frigate/events", FrigateEvent);

        var answer = await watcher.WaitForTopicAsync($"home/{device}/frigate-answer");
        Assert.True(answer.ErrorCode is null, answer.Text);
        Assert.StartsWith("frigate-person-", answer.Json.GetProperty("id").GetString(), StringComparison.Ordinal);
        var latest = await watcher.WaitForTopicAsync($"autoglm/{device}/sources/frigate-person/answer");
        Assert.Equal(answer.Json.GetProperty("id").GetString(), latest.Json.GetProperty("id").GetString());
        var person = rules.Rules.Single(r => r.Name == "frigate-person");
        Assert.Equal(1, person.Jobs);
        Assert.Equal(1, person.Unusable);

        // Frigate's snapshot topic carries the JPEG itself: an image job.
        await watcher.PublishAsync("frigate/front/person/snapshot", TestFrames.Jpeg(2));
        var snapshot = await watcher.WaitForTopicAsync($"autoglm/{device}/sources/front-snapshot/answer");
        Assert.True(snapshot.ErrorCode is null, snapshot.Text);
        Assert.True(snapshot.Json.GetProperty("usage").GetProperty("prompt_tokens").GetInt32() > 10, snapshot.Text);

        // The latest answer is retained: a client that comes later gets it at once.
        await using var late = await TestMqttClient.ConnectAsync(port, persistent: false, $"autoglm/{device}/sources/frigate-person/answer");
        var retained = await late.WaitForTopicAsync($"autoglm/{device}/sources/frigate-person/answer");
        Assert.True(retained.Retain);
        server.Logs.AssertNoErrors();
    }
}
