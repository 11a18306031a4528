using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using AutoGlm.Edge.Engine;
using AutoGlm.Edge.Hosting;
using AutoGlm.Runtime.Building;
using AutoGlm.Runtime.Generation;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;

namespace AutoGlm.Bench;

/// <summary>
/// HTTP-overhead benchmark: the same requests through the OpenAI-compatible API on loopback and straight into the
/// engine, in one process and one run, then aggregate throughput with several concurrent streaming clients.
/// </summary>
internal static class HttpOverhead
{
    public static async Task<int> RunAsync(string[] args)
    {
        // HTTP-overhead benchmark: the same requests through the OpenAI-compatible API on loopback and straight into the
        // engine, in one process and one run, then aggregate throughput with several concurrent streaming clients.
        var settings = BenchSettings.Parse(args);
        var modelPath = settings.ModelPath ?? BuildTinyModel();
        Environment.SetEnvironmentVariable("AUTOGLM_STATE_DIR", Path.Combine(Path.GetTempPath(), "autoglm-bench-state"));

        var builder = EdgeHost.CreateBuilder(
        [
            "--Http:Urls=http://127.0.0.1:0",
            $"--Runtime:ModelPath={modelPath}",
            "--Http:RequestsPerMinute=0",
            "--Http:ConcurrentStreamsPerKey=0",
            "--Logging:LogLevel:Default=Warning",
            "--Logging:LogLevel:Microsoft.Hosting.Lifetime=Warning",
        ]);
        await using var app = EdgeHost.Build(builder);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var engine = app.Services.GetRequiredService<EngineHost>().Engine;
        using var http = new HttpClient { BaseAddress = new Uri(address.TrimEnd('/') + "/"), Timeout = TimeSpan.FromMinutes(10) };
        var modelId = engine.Package.Manifest.Name;

        Console.WriteLine($"model {modelId} on {engine.ExecutionProvider}, {Environment.ProcessorCount} cores, max_tokens {settings.MaxTokens}, {settings.Requests} requests per path, server {address}");

        // Warm-up: both paths, so neither pays for first-call costs.
        for (var i = 0; i < 2; i++)
        {
            await Direct(engine, settings, i);
            await OverHttp(http, modelId, settings, i);
        }

        var direct = new List<Sample>();
        var overHttp = new List<Sample>();
        for (var i = 0; i < settings.Requests; i++)
        {
            // Alternate, so drift (thermal, other load) hits both paths alike.
            direct.Add(await Direct(engine, settings, i));
            overHttp.Add(await OverHttp(http, modelId, settings, i));
        }

        Console.WriteLine();
        Console.WriteLine("| path | median TTFT (ms) | median decode tokens/s | median tokens |");
        Console.WriteLine("|---|---|---|---|");
        Print("engine (IChatClient, in-process)", direct);
        Print("HTTP API (SSE over loopback)", overHttp);

        Console.WriteLine();
        Console.WriteLine($"| concurrent streaming clients | requests | aggregate tokens/s | median TTFT (ms) | median per-stream decode tokens/s |");
        Console.WriteLine("|---|---|---|---|---|");
        foreach (var clients in settings.Concurrency)
        {
            var perClient = Math.Max(1, settings.Requests / clients);
            var samples = new List<Sample>[clients];
            var wall = Stopwatch.StartNew();
            await Task.WhenAll(Enumerable.Range(0, clients).Select(async c =>
            {
                samples[c] = [];
                for (var i = 0; i < perClient; i++)
                {
                    samples[c].Add(await OverHttp(http, modelId, settings, (c * 1000) + i));
                }
            }));
            wall.Stop();
            var all = samples.SelectMany(s => s).ToList();
            var aggregate = all.Sum(s => s.Tokens) / wall.Elapsed.TotalSeconds;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {clients} | {all.Count} | {aggregate:F1} | {Median(all.Select(s => s.TtftMs)):F1} | {Median(all.Select(s => s.DecodeTokensPerSecond)):F1} |"));
        }

        await app.StopAsync();
        return 0;

        static string BuildTinyModel()
        {
            var directory = Path.Combine(Path.GetTempPath(), "autoglm-bench-model-" + Environment.ProcessId);
            SyntheticModelBuilder.Build(SyntheticModelSpec.Tiny, directory);
            return directory;
        }

        static ChatMessage[] Prompt(int i) => [new(ChatRole.User, $"Request {i}: describe what the camera at the gate sees, in detail.")];

        static async Task<Sample> Direct(LocalEngine engine, BenchSettings settings, int i)
        {
            var options = new ChatOptions { MaxOutputTokens = settings.MaxTokens, Temperature = 0.8f, Seed = i };
            var start = Stopwatch.GetTimestamp();
            long first = 0;
            var tokens = 0;
            await foreach (var update in engine.GetStreamingResponseAsync(Prompt(i), options))
            {
                if (first == 0 && update.Contents.OfType<TextContent>().Any(t => t.Text.Length > 0))
                {
                    first = Stopwatch.GetTimestamp();
                }

                if (update.Contents.OfType<UsageContent>().FirstOrDefault() is { } usage)
                {
                    tokens = (int)(usage.Details.OutputTokenCount ?? 0);
                }
            }

            return Sample.From(start, first, Stopwatch.GetTimestamp(), tokens);
        }

        static async Task<Sample> OverHttp(HttpClient http, string modelId, BenchSettings settings, int i)
        {
            var body = JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["model"] = modelId,
                ["messages"] = new[] { new Dictionary<string, string> { ["role"] = "user", ["content"] = ((TextContent)Prompt(i)[0].Contents[0]).Text } },
                ["max_tokens"] = settings.MaxTokens,
                ["temperature"] = 0.8,
                ["seed"] = i,
                ["stream"] = true,
                ["stream_options"] = new Dictionary<string, bool> { ["include_usage"] = true },
            });
            using var request = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
            var start = Stopwatch.GetTimestamp();
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            response.EnsureSuccessStatusCode();
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            long first = 0;
            var tokens = 0;
            while (await reader.ReadLineAsync() is { } line)
            {
                if (!line.StartsWith("data: {", StringComparison.Ordinal))
                {
                    continue;
                }

                using var chunk = JsonDocument.Parse(line.AsMemory(6));
                var root = chunk.RootElement;
                if (first == 0 && root.GetProperty("choices") is { ValueKind: JsonValueKind.Array } choices && choices.GetArrayLength() > 0
                    && choices[0].GetProperty("delta").TryGetProperty("content", out var content) && content.GetString() is { Length: > 0 })
                {
                    first = Stopwatch.GetTimestamp();
                }

                if (root.TryGetProperty("usage", out var usage))
                {
                    tokens = usage.GetProperty("completion_tokens").GetInt32();
                }
            }

            return Sample.From(start, first, Stopwatch.GetTimestamp(), tokens);
        }

        static double Median(IEnumerable<double> values)
        {
            var sorted = values.Order().ToArray();
            return sorted.Length == 0 ? double.NaN : sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
        }

        static void Print(string name, List<Sample> samples) =>
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {name} | {Median(samples.Select(s => s.TtftMs)):F2} | {Median(samples.Select(s => s.DecodeTokensPerSecond)):F1} | {Median(samples.Select(s => (double)s.Tokens)):F0} |"));
    }
}
