using System.Globalization;
using System.Net;
using System.Text;
using AutoGlm.Edge.Tests.Support;

namespace AutoGlm.Edge.Tests.Mqtt;

/// <summary>
/// Messages built to break the intake (lone surrogates, invalid UTF-8, huge numbers, deep nesting, NUL), on the
/// embedded broker and on a real Mosquitto: each is answered, none wedges the intake, and a good job is still
/// answered after them and after a restart.
/// </summary>
public sealed class PoisonMessageTests
{
    /// <summary>A poison payload and the error code its answer must carry (null: it is a valid job).</summary>
    public sealed record Poison(string Name, byte[] Payload, string? ExpectedCode);

    public static IReadOnlyList<Poison> Corpus()
    {
        var list = new List<Poison>();
        void Json(string name, string json, string? code) => list.Add(new Poison(name, Encoding.UTF8.GetBytes(json), code));

        // The 25 lone surrogates that wedged the intake behind an external broker.
        for (var i = 0; i < 25; i++)
        {
            Json($"lone high surrogate {i}", $$"""{"id":"ls{{i}}","prompt":"a\ud800b"}""", "invalid_json");
        }

        Json("lone low surrogate", """{"id":"ls-low","prompt":"a\udc00"}""", "invalid_json");
        Json("reversed surrogate pair", """{"id":"ls-rev","messages":[{"role":"user","content":"\udc00\ud800"}]}""", "invalid_json");
        Json("lone surrogate in the id", """{"id":"x\ud800","prompt":"hi"}""", "invalid_json");
        Json("lone surrogate in a field name", """{"id":"ls-name","prompt":"hi","\ud800":1}""", "invalid_json");
        Json("lone surrogate in a message field name", """{"id":"ls-mname","messages":[{"role":"user","\udbff":"x"}]}""", "invalid_json");
        Json("lone surrogate in a role", """{"id":"ls-role","messages":[{"role":"\ud800","content":"x"}]}""", "invalid_json");
        Json("lone surrogate in the route", """{"id":"ls-route","prompt":"hi","route":"\ud800"}""", "invalid_json");
        Json("lone surrogate in an image", """{"id":"ls-image","prompt":"hi","image":"data:image/png;base64,\ud800"}""", "invalid_json");
        list.Add(new Poison("invalid UTF-8 in the prompt", [.. "{\"id\":\"bad-utf8\",\"prompt\":\"a"u8, 0xC3, 0x28, .. "\"}"u8], "invalid_json"));
        list.Add(new Poison("overlong UTF-8 NUL", [.. "{\"id\":\"overlong\",\"prompt\":\"a"u8, 0xC0, 0x80, .. "\"}"u8], "invalid_json"));
        list.Add(new Poison("UTF-8 encoded surrogate", [.. "{\"id\":\"cesu\",\"prompt\":\"a"u8, 0xED, 0xA0, 0x80, .. "\"}"u8], "invalid_json"));
        list.Add(new Poison("raw NUL byte in a string", [.. "{\"id\":\"raw-nul\",\"prompt\":\"a"u8, 0x00, .. "b\"}"u8], "invalid_json"));
        Json("huge temperature", """{"id":"huge-t","prompt":"hi","temperature":1e400}""", "invalid_job");
        Json("huge top_p", """{"id":"huge-p","prompt":"hi","top_p":-1e400}""", "invalid_job");
        Json("huge seed", """{"id":"huge-s","prompt":"hi","seed":123456789012345678901234567890}""", "invalid_job");
        Json("huge max_tokens exponent", """{"id":"huge-m","prompt":"hi","max_tokens":1e308}""", "invalid_job");
        Json("huge deadline", """{"id":"huge-d","prompt":"hi","deadline_ms":18446744073709551616}""", "invalid_job");
        Json("deep nesting", $$"""{"id":"deep","prompt":"hi","messages":{{new string('[', 5000)}}{{new string(']', 5000)}}}""", "invalid_json");
        Json("deep objects", string.Concat(Enumerable.Repeat("{\"a\":", 3000)) + "1" + new string('}', 3000), "invalid_json");
        Json("NUL in the id", """{"id":"nul\u0000id","prompt":"hi"}""", "invalid_job");
        Json("NUL in a role", """{"id":"nul-role","messages":[{"role":"user\u0000","content":"hi"}]}""", "invalid_job");
        Json("NUL in the prompt (a valid job)", """{"id":"nul-prompt","prompt":"a\u0000b","max_tokens":2}""", null);
        return list;
    }

    [Theory]
    [InlineData("embedded")]
    [InlineData("mosquitto")]
    public async Task PoisonMessages_EachAnsweredThenGoodJobsStillAnswered_AlsoAfterRestart(string broker)
    {
        var external = broker == "mosquitto";
        if (external)
        {
            Assert.True(MosquittoBroker.Executable() is not null, "mosquitto is not installed (apt-get install mosquitto mosquitto-clients)");
        }

        await using var mosquitto = external ? await MosquittoBroker.StartAsync() : null;
        var port = mosquitto?.Port ?? TestPaths.FreePort();
        var httpPort = TestPaths.FreePort();
        var device = "poison" + Guid.NewGuid().ToString("N")[..6];
        var replies = "poison-replies/" + Guid.NewGuid().ToString("N")[..8];
        var settings = new Dictionary<string, string>
        {
            ["Mqtt__Port"] = port.ToString(CultureInfo.InvariantCulture),
            ["Mqtt__DeviceId"] = device,
            ["Http__Urls"] = $"http://127.0.0.1:{httpPort}",
        };
        if (external)
        {
            settings["Mqtt__Broker"] = "external";
        }

        await using var daemon = new DaemonProcess(TestPaths.NewFolder("state"), settings);
        await daemon.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}/") };
        var client = await TestMqttClient.ConnectAsync(port, persistent: false, $"{replies}/#");
        try
        {
            var corpus = Corpus();
            for (var i = 0; i < corpus.Count; i++)
            {
                await client.PublishAsync($"autoglm/{device}/jobs", corpus[i].Payload, $"{replies}/{i}");
            }

            await Poll.UntilAsync(
                () => Enumerable.Range(0, corpus.Count).All(i => client.Messages.Any(m => m.Topic == $"{replies}/{i}")),
                $"an answer to every poison message (missing: {string.Join(", ", Enumerable.Range(0, corpus.Count).Where(i => !client.Messages.Any(m => m.Topic == $"{replies}/{i}")).Select(i => corpus[i].Name).Take(10))})",
                TimeSpan.FromSeconds(120));
            var wrong = Enumerable.Range(0, corpus.Count)
                .Select(i => (corpus[i], client.Messages.First(m => m.Topic == $"{replies}/{i}")))
                .Where(p => p.Item2.ErrorCode != p.Item1.ExpectedCode)
                .Select(p => $"{p.Item1.Name}: expected {p.Item1.ExpectedCode ?? "a success"}, got {p.Item2.Text}")
                .ToList();
            Assert.True(wrong.Count == 0, string.Join("\n", wrong));

            await AssertGoodJobAnsweredAsync(client, device, replies, "good-before");
            Assert.Equal(HttpStatusCode.OK, await Readiness.StatusAsync(http));

            // The poison must not come back after a restart (acknowledged, so the broker does not deliver it again).
            Assert.Equal(0, await daemon.TerminateAsync());
            if (!external)
            {
                await client.DisposeAsync();
            }

            await daemon.StartAsync();
            if (!external)
            {
                client = await TestMqttClient.ConnectAsync(port, persistent: false, $"{replies}/#");
            }

            await AssertGoodJobAnsweredAsync(client, device, replies, "good-after");
            await Poll.UntilAsync(Readiness.Is(http, HttpStatusCode.OK), "readiness after the restart");
            Assert.DoesNotContain(daemon.Lines, l => l.Contains("Job ls0 seen again", StringComparison.Ordinal));
            daemon.AssertNoUnexpectedErrors();
        }
        finally
        {
            await client.DisposeAsync();
        }
    }

    private static async Task AssertGoodJobAnsweredAsync(TestMqttClient client, string device, string replies, string id)
    {
        await client.PublishAsync($"autoglm/{device}/jobs", $$"""{"id":"{{id}}","prompt":"Hello","max_tokens":3}""", $"{replies}/{id}");
        var result = await client.WaitForTopicAsync($"{replies}/{id}", TimeSpan.FromSeconds(60));
        Assert.True(result.ErrorCode is null, result.Text);
    }
}
