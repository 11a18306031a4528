using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace AutoGlm.Bench;

/// <summary>
/// <c>AutoGlm.Bench mqtt</c>: starts a Mosquitto and the daemon (as a child process, external broker) and measures
/// (1) a plain MQTT 5 request/response round trip through Mosquitto (a responder client echoing to the response
/// topic), (2) publish → result of 1-token jobs through the daemon, and the part of it the daemon adds beyond its own
/// generation time, (3) the sustained intake rate: jobs journaled and acknowledged per second.
/// </summary>
/// <remarks>
/// Options: <c>--samples N</c> (round trips per latency series, default 200), <c>--intake N</c> (jobs in the intake
/// burst, default 2000), <c>--sync Full|Normal</c> (Journal:Synchronous, default Full), <c>--daemon PATH</c>
/// (autoglm-edge.dll; default: the Release, else Debug, build in this repository), <c>--model PATH</c>
/// (default: the built-in tiny model, built once into the bench's state folder).
/// </remarks>
public static class MqttBench
{
    public static async Task<int> RunAsync(string[] args)
    {
        var samples = IntOption(args, "--samples", 200);
        var intake = IntOption(args, "--intake", 2000);
        var sync = Option(args, "--sync") ?? "Full";
        var daemonPath = Option(args, "--daemon") ?? FindDaemon();
        var model = Option(args, "--model");
        var mosquitto = new[] { "/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto", "/usr/bin/mosquitto" }.FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException("mosquitto is not installed (apt-get install mosquitto)");

        var work = Path.Combine(Path.GetTempPath(), "autoglm-bench-mqtt-" + Environment.ProcessId);
        Directory.CreateDirectory(work);
        var port = FreePort();
        File.WriteAllText(Path.Combine(work, "mosquitto.conf"), $"listener {port} 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\nmax_queued_messages 0\nmax_inflight_messages 0\n");
        using var broker = Start(mosquitto, ["-c", Path.Combine(work, "mosquitto.conf")], []);
        await WaitAsync(() => CanConnect(port), "mosquitto to listen");

        var device = "bench";
        var environment = new Dictionary<string, string>
        {
            ["AUTOGLM_STATE_DIR"] = Path.Combine(work, "state"),
            ["AUTOGLM__Urls"] = "http://127.0.0.1:0",
            ["AUTOGLM__Http__Urls"] = "http://127.0.0.1:0",
            ["AUTOGLM__Logging__LogLevel__Default"] = "Warning",
            ["AUTOGLM__Logging__LogLevel__Microsoft.Hosting.Lifetime"] = "Warning",
            ["AUTOGLM__Mqtt__Broker"] = "external",
            ["AUTOGLM__Mqtt__Port"] = port.ToString(CultureInfo.InvariantCulture),
            ["AUTOGLM__Mqtt__DeviceId"] = device,
            ["AUTOGLM__Mqtt__QueueCapacity"] = (intake + 100).ToString(CultureInfo.InvariantCulture),
            ["AUTOGLM__Mqtt__StatsInterval"] = "00:00:00.100",
            ["AUTOGLM__Journal__Synchronous"] = sync,
        };
        if (model is not null)
        {
            environment["AUTOGLM__Runtime__ModelPath"] = model;
        }

        using var client = await ConnectAsync(port, "bench-client");
        var received = new ConcurrentDictionary<string, (long Timestamp, byte[] Payload)>();
        var waiters = new ConcurrentDictionary<string, TaskCompletionSource>();
        long accepted = 0, acceptedAt = 0;
        client.ApplicationMessageReceivedAsync += e =>
        {
            var now = Stopwatch.GetTimestamp();
            var m = e.ApplicationMessage;
            if (m.Topic == $"autoglm/{device}/stats")
            {
                var count = JsonDocument.Parse(System.Buffers.BuffersExtensions.ToArray(m.Payload)).RootElement.GetProperty("jobs_accepted").GetInt64();
                if (count > Interlocked.Read(ref accepted))
                {
                    Interlocked.Exchange(ref acceptedAt, now);
                    Interlocked.Exchange(ref accepted, count);
                }
            }
            else if (m.CorrelationData is { } correlation)
            {
                var key = Encoding.UTF8.GetString(correlation);
                received[key] = (now, System.Buffers.BuffersExtensions.ToArray(m.Payload));
                waiters.GetOrAdd(key, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
            }

            return Task.CompletedTask;
        };
        await client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder()
            .WithTopicFilter("bench/reply/#", MqttQualityOfServiceLevel.AtLeastOnce)
            .WithTopicFilter($"autoglm/{device}/stats", MqttQualityOfServiceLevel.AtMostOnce)
            .Build());

        // 1. Plain Mosquitto request/response: a responder that answers on the response topic.
        using var responder = await ConnectAsync(port, "bench-responder");
        responder.ApplicationMessageReceivedAsync += e => responder.PublishAsync(new MqttApplicationMessageBuilder()
            .WithTopic(e.ApplicationMessage.ResponseTopic).WithPayload(e.ApplicationMessage.Payload)
            .WithCorrelationData(e.ApplicationMessage.CorrelationData).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
        await responder.SubscribeAsync("bench/echo", MqttQualityOfServiceLevel.AtLeastOnce);
        var echo = await RoundTripsAsync(client, received, waiters, samples, i => ("bench/echo", $"echo-{i}", """{"id":"x","prompt":"hi","max_tokens":1}"""));

        // 2. The daemon: 1-token jobs, one at a time.
        Console.Error.WriteLine($"starting the daemon ({daemonPath}) against mosquitto on {port}");
        using var daemon = Start("dotnet", [daemonPath, "run"], environment);
        await WaitAsync(() => Retained(port, $"autoglm/{device}/status"), "the daemon to come online", TimeSpan.FromMinutes(5));
        await RoundTripsAsync(client, received, waiters, 20, i => ($"autoglm/{device}/jobs", $"warm-{i}", $$"""{"id":"warm-{{i}}","prompt":"hi","max_tokens":1,"temperature":0}"""));
        var jobs = await RoundTripsAsync(client, received, waiters, samples, i => ($"autoglm/{device}/jobs", $"lat-{i}", $$"""{"id":"lat-{{i}}","prompt":"hi","max_tokens":1,"temperature":0}"""));
        var generation = Enumerable.Range(0, samples)
            .Select(i => JsonDocument.Parse(received[$"lat-{i}"].Payload).RootElement.GetProperty("timings").GetProperty("total_ms").GetDouble())
            .ToArray();
        var added = jobs.Zip(generation, (e2e, engine) => e2e - engine).ToArray();

        // 3. Intake: a burst of jobs that parse, journal and queue like any other but are answered without the engine
        //    (route remote is refused by the runner), so the rate is the intake's, not the model's.
        var before = Interlocked.Read(ref accepted);
        var start = Stopwatch.GetTimestamp();
        var inFlight = new SemaphoreSlim(256);
        var publishes = new List<Task>();
        for (var i = 0; i < intake; i++)
        {
            await inFlight.WaitAsync();
            var payload = $$"""{"id":"in-{{i}}","prompt":"hi","max_tokens":1,"route":"remote"}""";
            publishes.Add(client.PublishStringAsync($"autoglm/{device}/jobs", payload, MqttQualityOfServiceLevel.AtLeastOnce).ContinueWith(_ => inFlight.Release(), TaskScheduler.Default));
        }

        await Task.WhenAll(publishes);
        await WaitAsync(() => Interlocked.Read(ref accepted) - before >= intake, "the daemon to accept the burst", TimeSpan.FromMinutes(10));
        var intakeSeconds = Stopwatch.GetElapsedTime(start, Interlocked.Read(ref acceptedAt)).TotalSeconds;

        Console.WriteLine($"# MQTT benchmark ({DateTime.UtcNow:yyyy-MM-dd}, {Environment.ProcessorCount} cores, Journal:Synchronous={sync}, {samples} samples)");
        Console.WriteLine("| series | p50 ms | p90 ms | p99 ms | mean ms |");
        Console.WriteLine("|---|---|---|---|---|");
        Row("plain Mosquitto request/response round trip", echo);
        Row("daemon: publish → result, 1-token job", jobs);
        Row("daemon: generation inside the job (timings.total_ms)", generation);
        Row("daemon: added beyond generation (intake, journal, queue, publish)", added);
        Console.WriteLine();
        Console.WriteLine($"intake: {intake} jobs journaled and acknowledged in {intakeSeconds:F2} s = {intake / intakeSeconds:F0} jobs/s (stats resolution 0.1 s)");

        Stop(daemon);
        broker.Kill();
        return 0;
    }

    private static async Task<double[]> RoundTripsAsync(IMqttClient client, ConcurrentDictionary<string, (long Timestamp, byte[] Payload)> received, ConcurrentDictionary<string, TaskCompletionSource> waiters, int count, Func<int, (string Topic, string Correlation, string Payload)> request)
    {
        var times = new double[count];
        for (var i = 0; i < count; i++)
        {
            var (topic, correlation, payload) = request(i);
            var sent = Stopwatch.GetTimestamp();
            await client.PublishAsync(new MqttApplicationMessageBuilder()
                .WithTopic(topic).WithPayload(payload).WithResponseTopic("bench/reply/" + correlation)
                .WithCorrelationData(Encoding.UTF8.GetBytes(correlation)).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
            await waiters.GetOrAdd(correlation, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task.WaitAsync(TimeSpan.FromMinutes(1));
            times[i] = Stopwatch.GetElapsedTime(sent, received[correlation].Timestamp).TotalMilliseconds;
        }

        return times;
    }

    private static void Row(string name, double[] values)
    {
        var sorted = values.Order().ToArray();
        double P(double q) => sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(q * sorted.Length) - 1)];
        Console.WriteLine($"| {name} | {P(0.5):F2} | {P(0.9):F2} | {P(0.99):F2} | {sorted.Average():F2} |");
    }

    private static async Task<IMqttClient> ConnectAsync(int port, string id)
    {
        var client = new MqttClientFactory().CreateMqttClient();
        await client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port).WithProtocolVersion(MqttProtocolVersion.V500).WithClientId(id).Build());
        return client;
    }

    private static bool Retained(int port, string topic)
    {
        using var client = ConnectAsync(port, "bench-probe-" + Guid.NewGuid().ToString("N")[..6]).GetAwaiter().GetResult();
        var seen = false;
        client.ApplicationMessageReceivedAsync += e =>
        {
            seen |= e.ApplicationMessage.ConvertPayloadToString().Contains("online", StringComparison.Ordinal);
            return Task.CompletedTask;
        };
        client.SubscribeAsync(topic, MqttQualityOfServiceLevel.AtLeastOnce).GetAwaiter().GetResult();
        Thread.Sleep(200);
        return seen;
    }

    private static async Task WaitAsync(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        var bound = Stopwatch.StartNew();
        while (!condition())
        {
            if (bound.Elapsed > (timeout ?? TimeSpan.FromSeconds(30)))
            {
                throw new TimeoutException("timed out waiting for " + what);
            }

            await Task.Delay(20);
        }
    }

    private static Process Start(string file, string[] args, Dictionary<string, string> environment)
    {
        var info = new ProcessStartInfo(file, args) { UseShellExecute = false };
        foreach (var (key, value) in environment)
        {
            info.Environment[key] = value;
        }

        return Process.Start(info)!;
    }

    private static void Stop(Process process)
    {
        if (!process.HasExited)
        {
            process.Kill();
            process.WaitForExit();
        }
    }

    private static string FindDaemon()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            foreach (var configuration in new[] { "Release", "Debug" })
            {
                var path = Path.Combine(dir.FullName, "src", "AutoGlm.Edge", "bin", configuration, "net10.0", "autoglm-edge.dll");
                if (File.Exists(path))
                {
                    return path;
                }
            }
        }

        throw new FileNotFoundException("build the daemon first (dotnet build -c Release src/AutoGlm.Edge) or pass --daemon");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static bool CanConnect(int port)
    {
        try
        {
            using var tcp = new TcpClient();
            tcp.Connect("127.0.0.1", port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static string? Option(string[] args, string name) =>
        Array.IndexOf(args, name) is var i and >= 0 && i + 1 < args.Length ? args[i + 1] : null;

    private static int IntOption(string[] args, string name, int fallback) =>
        Option(args, name) is { } text ? int.Parse(text, CultureInfo.InvariantCulture) : fallback;
}
