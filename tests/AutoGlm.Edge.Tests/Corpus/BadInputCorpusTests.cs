using System.Globalization;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Nodes;
using AutoGlm.Edge.Cli;
using AutoGlm.Edge.Tests.Http;
using AutoGlm.Edge.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace AutoGlm.Edge.Tests.Corpus;

/// <summary>
/// The whole bad-input corpus (<c>Corpus/data</c>) against one daemon through both front doors: every HTTP body, MQTT
/// message and media file (as an HTTP data URI, an MQTT JSON job and a raw MQTT frame) is answered with its code, and
/// the daemon still answers a good request on each door afterwards; and every bad setting stops the start with one line.
/// </summary>
public sealed class BadInputCorpusTests
{
    private static readonly TimeSpan AnswerTimeout = TimeSpan.FromSeconds(180);

    [Fact]
    public async Task Corpus_BothFrontDoors_EachCaseAnsweredWithItsCode_ThenGoodRequestsStillAnswered()
    {
        var port = TestPaths.FreePort();
        var device = "corpus" + Guid.NewGuid().ToString("N")[..6];
        var prefix = $"autoglm/{device}";
        await using var server = await EdgeServer.StartAsync(
        [
            $"Mqtt:Port={port}",
            $"Mqtt:DeviceId={device}",
            "Http:MaxRequestBodyBytes=2097152",
            .. BadInput.MqttLimits.Select(l => $"{l.Key}={l.Value}"),
        ]);
        var reply = "corpus-reply/" + Guid.NewGuid().ToString("N")[..8];
        await using var mqtt = await TestMqttClient.ConnectAsync(port, persistent: false, $"{reply}/#");
        using var http = server.CreateClient();
        var wrong = new List<string>();
        var cases = 0;

        foreach (var body in BadInput.Http())
        {
            cases++;
            await CheckHttpAsync(http, $"http '{body.Name}'", body.Body, body.Status, body.Code, wrong);
        }

        var media = BadInput.Media();
        foreach (var item in media)
        {
            cases++;
            await CheckHttpAsync(http, $"media over http '{item.Name}'", MediaBody(item), item.HttpStatus, item.HttpCode, wrong);
        }

        // MQTT: everything is published first (QoS 1, to a response topic with the case as correlation data), then the
        // answers are matched; a message the intake could not take would leave its case without an answer.
        var expected = new List<(string Name, string Code)>();
        async Task PublishAsync(string name, string topic, byte[] payload, string code, IEnumerable<(string, string)> properties)
        {
            await mqtt.PublishAsync(topic, payload, reply, expected.Count.ToString(CultureInfo.InvariantCulture), properties);
            expected.Add((name, code));
        }

        foreach (var message in BadInput.Mqtt(prefix))
        {
            await PublishAsync($"mqtt '{message.Name}'", message.Topic, message.Payload, message.Code, message.UserProperties);
        }

        foreach (var item in media)
        {
            var json = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object>
            {
                ["id"] = BadInput.NewId(), ["prompt"] = "What is it?", ["max_tokens"] = 4, [item.Kind] = Convert.ToBase64String(item.Bytes),
            });
            await PublishAsync($"media as an mqtt json job '{item.Name}'", prefix + "/jobs", json, item.MqttCode, []);
            await PublishAsync($"media as a raw mqtt frame '{item.Name}'", $"{prefix}/jobs/{item.Kind}", item.Bytes, item.MqttCode, [("id", BadInput.NewId())]);
        }

        cases += expected.Count;
        await Poll.UntilAsync(
            () => mqtt.Messages.Select(m => m.CorrelationText).Distinct().Count() >= expected.Count,
            $"an answer to each of {expected.Count} MQTT messages",
            AnswerTimeout);
        for (var i = 0; i < expected.Count; i++)
        {
            var answers = mqtt.Messages.Where(m => m.Topic == reply && m.CorrelationText == i.ToString(CultureInfo.InvariantCulture)).ToList();
            var (code, message) = answers.Count == 1 && answers[0].Json.TryGetProperty("error", out var error)
                ? (error.GetProperty("code").GetString(), error.GetProperty("message").GetString())
                : (null, null);
            if (answers.Count != 1 || code != expected[i].Code || string.IsNullOrWhiteSpace(message))
            {
                wrong.Add($"{expected[i].Name}: expected {expected[i].Code}, got {answers.Count} answer(s): {(answers.Count > 0 ? Clip(answers[0].Text) : "none")}");
            }
        }

        Assert.True(wrong.Count == 0, $"{wrong.Count} of {cases} cases answered wrongly:\n" + string.Join("\n", wrong));
        Assert.True(cases >= 200, $"the corpus holds {cases} cases through the front doors");

        var (good, goodBody) = await ApiHelpers.PostChatAsync(http, ApiHelpers.ChatBody());
        Assert.True(good.IsSuccessStatusCode, goodBody.ToJsonString());
        var goodId = BadInput.NewId();
        await mqtt.PublishAsync(prefix + "/jobs", $$"""{"id":"{{goodId}}","prompt":"Still there?","max_tokens":2}""", reply, "good");
        var goodJob = await mqtt.WaitForAsync(m => m.CorrelationText == "good", "the good job's result", AnswerTimeout);
        Assert.Null(goodJob.ErrorCode);
        server.Logs.AssertNoErrors();
    }

    [Fact]
    public void Configuration_EachBadSetting_StopsTheStartWithOneLineNamingIt()
    {
        var settings = BadInput.Configuration();
        var wrong = new List<string>();
        foreach (var setting in settings)
        {
            string? line = null;
            try
            {
                using var app = EdgeServer.Build($"{setting.Key}={setting.Value}");
                app.Services.GetRequiredService<IStartupValidator>().Validate();
            }
            catch (Exception ex)
            {
                line = HostRunner.Describe(ex);
            }

            if (line is null || !line.StartsWith(setting.Error, StringComparison.Ordinal) || line.Contains('\n', StringComparison.Ordinal))
            {
                wrong.Add($"{setting.Key}={setting.Value}: expected '{setting.Error}…', got {(line is null ? "a start" : "'" + line + "'")}");
            }
        }

        Assert.True(wrong.Count == 0, string.Join("\n", wrong));
        Assert.True(settings.Count >= 25, $"the corpus holds {settings.Count} settings");
    }

    private static async Task CheckHttpAsync(HttpClient http, string name, byte[] body, int status, string code, List<string> wrong)
    {
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        using var response = await http.PostAsync("v1/chat/completions", content);
        var text = await response.Content.ReadAsStringAsync();
        var error = TryParse(text)?["error"];
        var gotCode = error?["code"]?.GetValue<string>();
        if ((int)response.StatusCode != status || gotCode != code || string.IsNullOrWhiteSpace(error?["message"]?.GetValue<string>()))
        {
            wrong.Add($"{name}: expected {status} {code}, got {(int)response.StatusCode} {Clip(text)}");
        }
    }

    private static byte[] MediaBody(BadMedia item)
    {
        var data = Convert.ToBase64String(item.Bytes);
        JsonObject part = item.Kind == "image"
            ? new() { ["type"] = "image_url", ["image_url"] = new JsonObject { ["url"] = $"data:{ImageType(item.Bytes)};base64,{data}" } }
            : new() { ["type"] = "input_audio", ["input_audio"] = new JsonObject { ["data"] = data, ["format"] = item.Bytes.AsSpan().StartsWith("ID3"u8) ? "mp3" : "wav" } };
        var body = new JsonObject
        {
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = new JsonArray(part, new JsonObject { ["type"] = "text", ["text"] = "What is it?" }) }),
            ["max_tokens"] = 4,
        };
        return JsonSerializer.SerializeToUtf8Bytes(body);
    }

    /// <summary>The type a client would claim for the file: what its first bytes say, else PNG.</summary>
    private static string ImageType(byte[] bytes) => bytes switch
    {
        [0xFF, 0xD8, ..] => "image/jpeg",
        [(byte)'G', (byte)'I', (byte)'F', ..] => "image/gif",
        [(byte)'B', (byte)'M', ..] => "image/bmp",
        [(byte)'R', (byte)'I', (byte)'F', (byte)'F', _, _, _, _, (byte)'W', (byte)'E', (byte)'B', (byte)'P', ..] => "image/webp",
        _ => "image/png",
    };

    private static JsonNode? TryParse(string text)
    {
        try
        {
            return JsonNode.Parse(text);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static string Clip(string text) => text.Length <= 300 ? text : text[..300] + "…";
}
