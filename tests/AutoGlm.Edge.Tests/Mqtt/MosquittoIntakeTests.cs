using System.Diagnostics;
using System.Text;
using AutoGlm.Edge.Tests.Support;

namespace AutoGlm.Edge.Tests.Mqtt;

/// <summary>The daemon against a real Mosquitto: results, streaming, duplicates, cancel, deadlines, bad input, real CLI clients.</summary>
public sealed class MosquittoIntakeTests(MosquittoDaemonFixture fixture) : IClassFixture<MosquittoDaemonFixture>
{
    private string Jobs => fixture.Prefix + "/jobs";

    private static string Id(string name) => $"{name}-{Guid.NewGuid():N}"[..(name.Length + 9)];

    [Fact]
    public async Task Job_WithResponseTopic_ResultCarriesCorrelationData()
    {
        var id = Id("rt");
        await fixture.Client.PublishAsync(Jobs, $$"""{"id":"{{id}}","prompt":"Hello","max_tokens":4,"seed":7}""", $"{fixture.ReplyRoot}/{id}", "corr-" + id);

        var result = await fixture.Client.WaitForTopicAsync($"{fixture.ReplyRoot}/{id}");

        Assert.Equal("corr-" + id, result.CorrelationText);
        Assert.Null(result.ErrorCode);
        Assert.Equal(id, result.Json.GetProperty("id").GetString());
        Assert.Equal(4, result.Json.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        Assert.StartsWith("local:glm-synthetic-tiny@cpu", result.Json.GetProperty("served_by").GetString(), StringComparison.Ordinal);
        Assert.True(result.Json.GetProperty("timings").GetProperty("total_ms").GetDouble() >= 0);
        fixture.Daemon.AssertNoUnexpectedErrors();
    }

    [Fact]
    public async Task Job_SamePromptTwice_ResultUsageCarriesCachedTokens()
    {
        var (one, two) = (Id("cache1"), Id("cache2"));
        var prompt = "Say something about slot reuse " + Guid.NewGuid().ToString("N");
        await fixture.Client.PublishAsync(Jobs, $$"""{"id":"{{one}}","prompt":"{{prompt}}","max_tokens":3,"temperature":0}""");
        var first = await fixture.Client.WaitForTopicAsync($"{fixture.Prefix}/results/{one}");
        await fixture.Client.PublishAsync(Jobs, $$"""{"id":"{{two}}","prompt":"{{prompt}}","max_tokens":3,"temperature":0}""");
        var second = await fixture.Client.WaitForTopicAsync($"{fixture.Prefix}/results/{two}");

        var usage = second.Json.GetProperty("usage");
        Assert.Null(second.ErrorCode);
        Assert.Equal(usage.GetProperty("prompt_tokens").GetInt32() - 1, usage.GetProperty("cached_tokens").GetInt32());
        Assert.Equal(first.Json.GetProperty("text").GetString(), second.Json.GetProperty("text").GetString());
        fixture.Daemon.AssertNoUnexpectedErrors();
    }

    [Fact]
    public async Task Job_WithoutResponseTopic_ResultOnResultsTopic()
    {
        var id = Id("plain");
        await fixture.Client.PublishAsync(Jobs, $$"""{"id":"{{id}}","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}],"max_tokens":3,"temperature":0.5,"top_p":0.9,"seed":1,"enable_thinking":false,"route":"local","priority":"high"}""");

        var result = await fixture.Client.WaitForTopicAsync($"{fixture.Prefix}/results/{id}");

        Assert.Null(result.ErrorCode);
        Assert.Equal(3, result.Json.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        fixture.Daemon.AssertNoUnexpectedErrors();
    }

    [Fact]
    public async Task Job_Stream_DeltasThenEndThenResult()
    {
        var id = Id("stream");
        await fixture.Client.PublishAsync(Jobs, $$"""{"id":"{{id}}","prompt":"Count","max_tokens":6,"seed":3,"stream":true}""");

        var result = await fixture.Client.WaitForTopicAsync($"{fixture.Prefix}/results/{id}");
        await fixture.Client.WaitForAsync(m => m.Topic == $"{fixture.Prefix}/results/{id}/stream" && m.Text.Contains("\"done\":true", StringComparison.Ordinal), "the end of the stream");

        var deltas = fixture.Client.Messages.Where(m => m.Topic == $"{fixture.Prefix}/results/{id}/stream" && m.Json.TryGetProperty("text", out _)).ToList();
        Assert.NotEmpty(deltas);
        Assert.Equal(result.Json.GetProperty("text").GetString(), string.Concat(deltas.OrderBy(d => d.Json.GetProperty("seq").GetInt32()).Select(d => d.Json.GetProperty("text").GetString())));
        fixture.Daemon.AssertNoUnexpectedErrors();
    }

    [Fact]
    public async Task Job_EnableThinking_ReasoningSeparateFromText()
    {
        var id = Id("think");
        await fixture.Client.PublishAsync(Jobs, $$"""{"id":"{{id}}","prompt":"Think first","max_tokens":6,"seed":5,"enable_thinking":true,"stream":true}""");

        var result = await fixture.Client.WaitForTopicAsync($"{fixture.Prefix}/results/{id}");

        Assert.Null(result.ErrorCode);
        Assert.Equal(System.Text.Json.JsonValueKind.String, result.Json.GetProperty("reasoning").ValueKind);
        Assert.Contains(fixture.Client.Messages, m => m.Topic == $"{fixture.Prefix}/results/{id}/stream" && m.Json.TryGetProperty("reasoning", out _));
        fixture.Daemon.AssertNoUnexpectedErrors();
    }

    [Fact]
    public async Task Job_SameIdTwice_RunsOnceAndAnswersTheSameResult()
    {
        var id = Id("dup");
        var job = $$"""{"id":"{{id}}","prompt":"Once","max_tokens":5}""";
        await fixture.Client.PublishAsync(Jobs, job, $"{fixture.ReplyRoot}/{id}", "first");
        var first = await fixture.Client.WaitForAsync(m => m.CorrelationText == "first" && m.Topic == $"{fixture.ReplyRoot}/{id}", "the first result");

        await fixture.Client.PublishAsync(Jobs, job, $"{fixture.ReplyRoot}/{id}", "second");
        var second = await fixture.Client.WaitForAsync(m => m.CorrelationText == "second" && m.Topic == $"{fixture.ReplyRoot}/{id}", "the second answer");

        Assert.Equal(first.Text, second.Text);
        Assert.Single(fixture.Daemon.Lines, l => l.Contains($"Job {id} seen again", StringComparison.Ordinal));
        fixture.Daemon.AssertNoUnexpectedErrors();
    }

    [Fact]
    public async Task Job_CancelledWhileRunning_AnswersCancelled()
    {
        var id = Id("cancel");
        await fixture.Client.PublishAsync(Jobs, $$"""{"id":"{{id}}","prompt":"Go on","max_tokens":1900}""");
        await fixture.Client.PublishAsync($"{Jobs}/{id}/cancel", "");

        var result = await fixture.Client.WaitForTopicAsync($"{fixture.Prefix}/results/{id}");

        Assert.Equal("cancelled", result.ErrorCode);
        fixture.Daemon.AssertNoUnexpectedErrors();
    }

    [Fact]
    public async Task Job_DeadlinePasses_AnswersTimeout()
    {
        var id = Id("late");
        await fixture.Client.PublishAsync(Jobs, $$"""{"id":"{{id}}","prompt":"Slowly","max_tokens":1900,"deadline_ms":1}""");

        var result = await fixture.Client.WaitForTopicAsync($"{fixture.Prefix}/results/{id}");

        Assert.Equal("timeout", result.ErrorCode);
        Assert.Contains("deadline_ms", result.Json.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
        fixture.Daemon.AssertNoUnexpectedErrors();
    }

    [Fact]
    public async Task ImageJob_PngWithUserProperties_IsAnswered()
    {
        var id = Id("img");
        await fixture.Client.PublishAsync(fixture.Prefix + "/jobs/image", AutoGlm.Tests.Media.TestMedia.Checkerboard(32, 2), userProperties: [("id", id), ("prompt", "What is this?"), ("max_tokens", "8")]);

        var result = await fixture.Client.WaitForTopicAsync($"{fixture.Prefix}/results/{id}");

        Assert.Null(result.ErrorCode);
        Assert.True(result.Json.GetProperty("usage").GetProperty("completion_tokens").GetInt32() > 0);
        fixture.Daemon.AssertNoUnexpectedErrors();
    }

    [Fact]
    public async Task Status_IsRetained_NamesModelAndExecutionProvider()
    {
        await using var late = await TestMqttClient.ConnectAsync(fixture.Broker.Port, persistent: false, fixture.Prefix + "/status", fixture.Prefix + "/stats");

        var status = await late.WaitForTopicAsync(fixture.Prefix + "/status");
        var stats = await late.WaitForTopicAsync(fixture.Prefix + "/stats");

        Assert.True(status.Retain);
        Assert.Equal("online", status.Json.GetProperty("state").GetString());
        Assert.Equal("glm-synthetic-tiny", status.Json.GetProperty("model").GetString());
        Assert.Equal("cpu", status.Json.GetProperty("execution_provider").GetString());
        Assert.Equal(["vision", "audio"], status.Json.GetProperty("adapters").EnumerateArray().Select(a => a.GetProperty("name").GetString()));
        Assert.True(stats.Retain);
        foreach (var key in new[] { "queue_depth", "jobs_done", "jobs_failed", "decode_tokens_per_second", "memory_bytes" })
        {
            Assert.True(stats.Json.TryGetProperty(key, out _), "stats lack " + key);
        }
    }

    [Fact]
    public async Task MosquittoClients_PublishJob_SubscriberReceivesResult()
    {
        var id = Id("cli");
        var ready = $"{fixture.ReplyRoot}/cli-ready-{id}";
        var output = new StringBuilder();
        using var sub = Process.Start(new ProcessStartInfo("mosquitto_sub", ["-V", "mqttv5", "-h", "127.0.0.1", "-p", fixture.Broker.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-q", "1", "-v", "-t", ready, "-t", $"{fixture.Prefix}/results/{id}", "-t", $"{fixture.ReplyRoot}/cli/{id}"])
        {
            RedirectStandardOutput = true,
            UseShellExecute = false,
        })!;
        sub.OutputDataReceived += (_, e) =>
        {
            lock (output)
            {
                output.AppendLine(e.Data);
            }
        };
        sub.BeginOutputReadLine();
        string Seen()
        {
            lock (output)
            {
                return output.ToString();
            }
        }

        try
        {
            // mosquitto_sub subscribes in the background: ping until it shows it is listening.
            await Poll.UntilAsync(
                () =>
                {
                    fixture.Client.PublishAsync(ready, "ping").GetAwaiter().GetResult();
                    return Seen().Contains(ready, StringComparison.Ordinal);
                },
                "mosquitto_sub to subscribe");

            await RunAsync("mosquitto_pub", "-V", "mqttv5", "-h", "127.0.0.1", "-p", fixture.Broker.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-q", "1", "-t", Jobs, "-m", $$"""{"id":"{{id}}","prompt":"Hello from mosquitto_pub","max_tokens":4}""");
            await RunAsync("mosquitto_pub", "-V", "mqttv5", "-h", "127.0.0.1", "-p", fixture.Broker.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-q", "1", "-t", Jobs,
                "-D", "publish", "response-topic", $"{fixture.ReplyRoot}/cli/{id}", "-D", "publish", "correlation-data", "cli-corr",
                "-m", $$"""{"id":"{{id}}-b","prompt":"Hello again","max_tokens":2}""");

            await Poll.UntilAsync(() => Seen().Contains($"{fixture.Prefix}/results/{id} {{\"id\":\"{id}\",\"text\":", StringComparison.Ordinal), "mosquitto_sub to print the result");
            await Poll.UntilAsync(() => Seen().Contains($"{fixture.ReplyRoot}/cli/{id} {{\"id\":\"{id}-b\",\"text\":", StringComparison.Ordinal), "mosquitto_sub to print the result on the response topic");
        }
        finally
        {
            sub.Kill();
            await sub.WaitForExitAsync();
        }

        fixture.Daemon.AssertNoUnexpectedErrors();
    }

    [Fact]
    public async Task BadPayloadCorpus_EachGetsTheRightError_ThenAGoodJobIsAnswered()
    {
        var cases = Corpus.BadInput.Mqtt(fixture.Prefix);
        Assert.True(cases.Count >= 40, $"the corpus holds {cases.Count} payloads");
        var reply = $"{fixture.ReplyRoot}/bad";
        for (var i = 0; i < cases.Count; i++)
        {
            await fixture.Client.PublishAsync(cases[i].Topic, cases[i].Payload, reply, $"case-{i}", cases[i].UserProperties);
        }

        await Poll.UntilAsync(
            () => Enumerable.Range(0, cases.Count).All(i => fixture.Client.Messages.Any(m => m.Topic == reply && m.CorrelationText == $"case-{i}")),
            "an answer to every bad payload",
            TimeSpan.FromSeconds(120));

        var wrong = new List<string>();
        for (var i = 0; i < cases.Count; i++)
        {
            var answers = fixture.Client.Messages.Where(m => m.Topic == reply && m.CorrelationText == $"case-{i}").ToList();
            var answer = answers[0];
            var message = answer.Json.TryGetProperty("error", out var error) ? error.GetProperty("message").GetString() : null;
            if (answers.Count != 1 || answer.ErrorCode != cases[i].Code || string.IsNullOrWhiteSpace(message))
            {
                wrong.Add($"{i} {cases[i].Name}: expected {cases[i].Code}, got {answers.Count} answers, first {answer.Text[..Math.Min(300, answer.Text.Length)]}");
            }
        }

        Assert.True(wrong.Count == 0, string.Join("\n", wrong));

        var good = Id("good");
        await fixture.Client.PublishAsync(Jobs, $$"""{"id":"{{good}}","prompt":"Still there?","max_tokens":2}""");
        var result = await fixture.Client.WaitForTopicAsync($"{fixture.Prefix}/results/{good}");
        Assert.Null(result.ErrorCode);
        fixture.Daemon.AssertNoUnexpectedErrors();
    }

    private static async Task RunAsync(string file, params string[] args)
    {
        using var process = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardError = true, UseShellExecute = false })!;
        var error = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"{file} failed ({process.ExitCode}): {error}");
    }
}
