using System.Diagnostics.Metrics;
using AutoGlm.Edge.Engine;
using AutoGlm.Edge.Hosting;

namespace AutoGlm.Edge.Metrics;

/// <summary>
/// The daemon's metrics, as <see cref="System.Diagnostics.Metrics"/> instruments on the meter <c>AutoGlm.Edge</c>;
/// every front door (HTTP, MQTT) records into this one instance, told apart by the <c>source</c> tag.
/// </summary>
/// <remarks>
/// Thread-safe (instruments are). The gauges read the engine when scraped and report nothing while it is loading.
/// Exported as Prometheus text on <c>GET /metrics</c> (see <c>docs/http-api.md</c> for the names).
/// </remarks>
public sealed class EdgeMetrics
{
    /// <summary>The meter's name, for exporters.</summary>
    public const string MeterName = "AutoGlm.Edge";

    private static readonly double[] SecondsBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
    private static readonly double[] SpeedBuckets = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000];

    private readonly Counter<long> _requests;
    private readonly Counter<long> _promptTokens;
    private readonly Counter<long> _completionTokens;
    private readonly Counter<long> _cachedPromptTokens;
    private readonly Histogram<double> _timeToFirstToken;
    private readonly Histogram<double> _decodeSpeed;
    private readonly Counter<long> _sensorCaptures;
    private readonly Counter<long> _sensorCaptureFailures;
    private readonly Counter<long> _sensorJobsPublished;

    public EdgeMetrics(IMeterFactory meterFactory, EngineHost engineHost)
    {
        var meter = Meter = meterFactory.Create(MeterName);
        _requests = meter.CreateCounter<long>("requests", description: "Requests answered, by source (http, mqtt), route and status.");
        _promptTokens = meter.CreateCounter<long>("prompt_tokens", description: "Prompt tokens processed, by source.");
        _completionTokens = meter.CreateCounter<long>("completion_tokens", description: "Tokens generated, by source.");
        _cachedPromptTokens = meter.CreateCounter<long>("cached_prompt_tokens", description: "Prompt tokens taken from the engine's prefix cache instead of prefilled, by source.");
        _timeToFirstToken = meter.CreateHistogram(
            "time_to_first_token_seconds",
            unit: "s",
            description: "From a request's arrival to its first generated text, queueing included.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = SecondsBuckets });
        _decodeSpeed = meter.CreateHistogram(
            "decode_tokens_per_second",
            description: "Decode speed of each request that generated at least two tokens (tokens per second).",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = SpeedBuckets });
        _sensorCaptures = meter.CreateCounter<long>("sensor_captures", description: "Frames and clips captured by the sensors, by sensor.");
        _sensorCaptureFailures = meter.CreateCounter<long>("sensor_capture_failures", description: "Triggers that did not become a job (capture or publish failed, or too many waiting), by sensor and reason.");
        _sensorJobsPublished = meter.CreateCounter<long>("sensor_jobs_published", description: "Jobs the sensors published to the device's jobs topics, by sensor.");
        meter.CreateObservableGauge("queue_depth", () => Observe(engineHost, e => e.QueueDepth), description: "Requests waiting for a slot in the engine.");
        meter.CreateObservableGauge("active_sequences", () => Observe(engineHost, e => e.ActiveSequences), description: "Sequences holding an engine slot.");
        meter.CreateObservableGauge(
            "replica_outstanding",
            () => engineHost.Replicas?.Replicas.Select(r => new Measurement<int>(r.Outstanding, new KeyValuePair<string, object?>("replica", r.Name))) ?? [],
            description: "Requests in flight on each engine replica (Runtime:Devices with several devices).");
        meter.CreateObservableCounter(
            "replica_requests",
            () => engineHost.Replicas?.Replicas.Select(r => new Measurement<long>(r.Served, new KeyValuePair<string, object?>("replica", r.Name))) ?? [],
            description: "Requests given to each engine replica since start.");
        meter.CreateObservableGauge("loaded_adapters", () => Observe(engineHost, e => e.Adapters.Count(a => a.Loaded)), description: "Vision and audio adapters loaded now.");
        meter.CreateObservableGauge("adapter_loaded", () => ObserveAdapters(engineHost, a => a.Loaded ? 1 : 0), description: "1 while the adapter's ONNX session is in memory, else 0; by adapter.");
        meter.CreateObservableGauge("adapter_memory_bytes", () => ObserveAdapters(engineHost, a => a.MemoryBytes), description: "Weight bytes an adapter holds while loaded (its ONNX file); by adapter.");
        meter.CreateObservableCounter("adapter_loads", () => ObserveAdapters(engineHost, a => a.Loads), description: "Times an adapter was loaded (first use, or use after an idle unload); by adapter.");
        meter.CreateObservableGauge(
            "execution_provider",
            () => engineHost.IsReady ? [new Measurement<int>(1, new KeyValuePair<string, object?>("provider", engineHost.Provider))] : Array.Empty<Measurement<int>>(),
            description: "Always 1, labelled with the execution provider that runs the model (info-style).");
    }

    /// <summary>This instance's meter (one per host: exporters pick it by identity, not by name, so hosts in one process stay apart).</summary>
    public Meter Meter { get; }

    /// <summary>Counts one answered request.</summary>
    /// <param name="source"><c>http</c> or <c>mqtt</c>.</param>
    /// <param name="route">The route or topic kind (<c>/v1/chat/completions</c>).</param>
    /// <param name="status">The HTTP status, or the status an MQTT result maps to.</param>
    public void RecordRequest(string source, string route, int status) =>
        _requests.Add(1, new("source", source), new("route", route), new("status", status));

    /// <summary>Counts the tokens of one finished generation; <paramref name="cachedPromptTokens"/> of its prompt came from the prefix cache.</summary>
    public void RecordTokens(string source, int promptTokens, int completionTokens, int cachedPromptTokens = 0)
    {
        _promptTokens.Add(promptTokens, new KeyValuePair<string, object?>("source", source));
        _completionTokens.Add(completionTokens, new KeyValuePair<string, object?>("source", source));
        _cachedPromptTokens.Add(cachedPromptTokens, new KeyValuePair<string, object?>("source", source));
    }

    /// <summary>Records the time from arrival to the first generated text.</summary>
    public void RecordTimeToFirstToken(string source, TimeSpan elapsed) =>
        _timeToFirstToken.Record(elapsed.TotalSeconds, new KeyValuePair<string, object?>("source", source));

    /// <summary>Records one request's decode speed; ignored when it is not positive.</summary>
    public void RecordDecodeSpeed(string source, double tokensPerSecond)
    {
        if (tokensPerSecond > 0)
        {
            _decodeSpeed.Record(tokensPerSecond, new KeyValuePair<string, object?>("source", source));
        }
    }

    /// <summary>Counts one capture of <paramref name="sensor"/>.</summary>
    public void RecordSensorCapture(string sensor) => _sensorCaptures.Add(1, new KeyValuePair<string, object?>("sensor", sensor));

    /// <summary>Counts one trigger of <paramref name="sensor"/> that did not become a job.</summary>
    /// <param name="sensor">The sensor's name.</param>
    /// <param name="reason"><c>capture</c>, <c>publish</c>, <c>dropped</c>, <c>no_result</c> (no result within <c>Sensors:ResultTimeout</c>) or <c>unexpected</c> (anything else a trigger's work threw).</param>
    public void RecordSensorFailure(string sensor, string reason) =>
        _sensorCaptureFailures.Add(1, new("sensor", sensor), new("reason", reason));

    /// <summary>Counts one job published by <paramref name="sensor"/>.</summary>
    public void RecordSensorJob(string sensor) => _sensorJobsPublished.Add(1, new KeyValuePair<string, object?>("sensor", sensor));

    /// <summary>One measurement per adapter, summed over the engine replicas (none with <c>Runtime:Backend=openai</c>).</summary>
    private static IEnumerable<Measurement<long>> ObserveAdapters(EngineHost host, Func<AutoGlm.Runtime.Modalities.AdapterStatus, long> read) =>
        host.LocalEngines
            .SelectMany(e => e.Adapters)
            .GroupBy(a => a.Name)
            .Select(g => new Measurement<long>(g.Sum(read), new KeyValuePair<string, object?>("adapter", g.Key)));

    private static IEnumerable<Measurement<int>> Observe(EngineHost host, Func<AutoGlm.Runtime.Generation.LocalEngine, int> read) =>
        host.LocalEngines.Count > 0 ? [new Measurement<int>(host.LocalEngines.Sum(read))] : [];
}
