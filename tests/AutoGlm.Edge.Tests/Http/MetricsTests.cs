using System.Globalization;
using System.Text.RegularExpressions;
using static AutoGlm.Edge.Tests.Http.ApiHelpers;

namespace AutoGlm.Edge.Tests.Http;

/// <summary><c>GET /metrics</c> is Prometheus text and counts what the server just did.</summary>
[Collection(DefaultServerCollection.Name)]
public sealed partial class MetricsTests(DefaultServerFixture fixture) : IDisposable
{
    private readonly EdgeServer _server = fixture.Server;

    [Fact]
    public async Task GetMetrics_AfterRequests_ParsesAndCountsThem()
    {
        using var client = _server.CreateClient();
        var before = Parse(await client.GetStringAsync("metrics"));

        for (var i = 0; i < 3; i++)
        {
            Assert.True((await client.PostAsync("v1/chat/completions", Json(ChatBody()))).IsSuccessStatusCode);
        }

        Assert.Equal(404, (int)(await client.GetAsync("v1/nothing-here")).StatusCode);
        var text = await client.GetStringAsync("metrics");
        var after = Parse(text);

        double Requests(List<Sample> samples, string route, string status) =>
            samples.Where(s => s.Name == "autoglm_edge_requests" && s.Labels.GetValueOrDefault("route") == route && s.Labels.GetValueOrDefault("status") == status).Sum(s => s.Value);
        double Sum(List<Sample> samples, string name) => samples.Where(s => s.Name == name).Sum(s => s.Value);

        Assert.True(Requests(after, "/v1/chat/completions", "200") - Requests(before, "/v1/chat/completions", "200") >= 3, text);
        Assert.True(Requests(after, "unmatched", "404") - Requests(before, "unmatched", "404") >= 1, text);
        Assert.True(Sum(after, "autoglm_edge_completion_tokens") - Sum(before, "autoglm_edge_completion_tokens") >= 3, text);
        Assert.True(Sum(after, "autoglm_edge_prompt_tokens") > Sum(before, "autoglm_edge_prompt_tokens"), text);
        Assert.True(Sum(after, "autoglm_edge_time_to_first_token_seconds_count") - Sum(before, "autoglm_edge_time_to_first_token_seconds_count") >= 3, text);
        Assert.Contains(after, s => s.Name == "autoglm_edge_time_to_first_token_seconds_bucket" && s.Labels.ContainsKey("le"));
        Assert.Contains(after, s => s.Name == "autoglm_edge_decode_tokens_per_second_bucket");
        Assert.Contains(after, s => s.Name == "autoglm_edge_queue_depth");
        Assert.Contains(after, s => s.Name == "autoglm_edge_active_sequences");
        Assert.Contains(after, s => s.Name == "autoglm_edge_loaded_adapters");
        Assert.Contains(after, s => s.Name == "autoglm_edge_execution_provider" && s.Labels.GetValueOrDefault("provider") == "cpu" && s.Value == 1);
    }

    [Fact]
    public async Task Adapters_LoadOnFirstImage_UnloadWhenIdle_AsMetricsShow()
    {
        await using var server = await EdgeServer.StartAsync("Runtime:Media:AdapterIdleTimeout=00:00:01");
        using var client = server.CreateClient();
        async Task<(double Loaded, double Memory, double Loads)> VisionAsync()
        {
            var text = await client.GetStringAsync("metrics");
            var samples = Parse(text);
            double Value(string name) => samples.SingleOrDefault(s => s.Name == name && s.Labels.GetValueOrDefault("adapter") == "vision")?.Value
                ?? throw new Xunit.Sdk.XunitException($"no {name} for the vision adapter in:\n{text}");
            return (Value("autoglm_edge_adapter_loaded"), Value("autoglm_edge_adapter_memory_bytes"), Value("autoglm_edge_adapter_loads"));
        }

        Assert.Equal((0d, 0d, 0d), await VisionAsync());
        var image = Convert.ToBase64String(AutoGlm.Tests.Media.TestMedia.Checkerboard(64, 4));
        Assert.True((await client.PostAsync("v1/chat/completions", Json(ChatBody($"\"image\":\"{image}\"")))).IsSuccessStatusCode);

        var (loaded, memory, loads) = await VisionAsync();
        Assert.Equal((1d, 1d), (loaded, loads));
        Assert.True(memory > 100_000, $"the vision adapter holds {memory} bytes");
        await Support.Poll.UntilAsync(async () => (await VisionAsync()).Loaded == 0, "the idle vision adapter to unload");

        Assert.Equal((0d, 0d, 1d), await VisionAsync());
        server.Logs.AssertNoErrors();
    }

    public void Dispose() => _server.Logs.AssertNoErrors();

    /// <summary>A strict reader of the Prometheus text format: every line is a comment, a HELP/TYPE line, or a sample.</summary>
    private static List<Sample> Parse(string text)
    {
        var samples = new List<Sample>();
        foreach (var line in text.Split('\n'))
        {
            if (line.Length == 0 || line == "# EOF")
            {
                continue;
            }

            if (line.StartsWith('#'))
            {
                Assert.Matches(CommentLine(), line);
                continue;
            }

            var match = SampleLine().Match(line);
            Assert.True(match.Success, $"not a Prometheus sample line: {line}");
            var labels = LabelPair().Matches(match.Groups["labels"].Value).ToDictionary(m => m.Groups[1].Value, m => Regex.Unescape(m.Groups[2].Value));
            var value = match.Groups["value"].Value switch
            {
                "+Inf" => double.PositiveInfinity,
                "-Inf" => double.NegativeInfinity,
                var v => double.Parse(v, CultureInfo.InvariantCulture),
            };
            samples.Add(new Sample(match.Groups["name"].Value, labels, value));
        }

        Assert.NotEmpty(samples);
        return samples;
    }

    private sealed record Sample(string Name, Dictionary<string, string> Labels, double Value);

    [GeneratedRegex(@"^# (HELP [a-zA-Z_:][a-zA-Z0-9_:]* .*|TYPE [a-zA-Z_:][a-zA-Z0-9_:]* (counter|gauge|histogram|summary|untyped)|.*)$")]
    private static partial Regex CommentLine();

    [GeneratedRegex(@"^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>([a-zA-Z_][a-zA-Z0-9_]*=""([^""\\]|\\.)*"",?)*)\})? (?<value>[-+]?(\d+(\.\d*)?([eE][-+]?\d+)?|Inf|NaN))( -?\d+)?$")]
    private static partial Regex SampleLine();

    [GeneratedRegex(@"([a-zA-Z_][a-zA-Z0-9_]*)=""((?:[^""\\]|\\.)*)""")]
    private static partial Regex LabelPair();
}
