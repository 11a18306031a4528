using System.Diagnostics;
using System.Reflection;
using AutoGlm.Cluster.Contract;
using AutoGlm.Edge.Engine;
using AutoGlm.Edge.Hosting;
using AutoGlm.Edge.Journal;
using AutoGlm.Runtime.Modalities;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Hosting.Systemd;
using Microsoft.Extensions.Options;
using MQTTnet;
using MQTTnet.Protocol;

namespace AutoGlm.Edge.Mqtt;

/// <summary>
/// The MQTT front door as one hosted service, started after the engine: replays the journal, starts the runner
/// and the result publisher, connects and subscribes (so systemd hears READY=1 only once jobs can arrive), and
/// publishes the retained <c>…/status</c> and periodic <c>…/stats</c>.
/// </summary>
/// <remarks>
/// Stopping (SIGTERM) goes in order: stop acknowledging new jobs, let running jobs finish within
/// <see cref="MqttOptions.ShutdownGracePeriod"/>, publish the results there are, publish <c>offline</c>, disconnect.
/// </remarks>
public sealed partial class MqttService : IHostedService, IProgressProbe, IReadinessCheck
{
    /// <summary>How long one message may be in handling before readiness calls the intake stalled.</summary>
    private static readonly TimeSpan HandlingLimit = TimeSpan.FromSeconds(30);

    private readonly MqttOptions _options;
    private readonly MqttTopics _topics;
    private readonly MqttConnection _connection;
    private readonly JobIntake _intake;
    private readonly JobRunner _runner;
    private readonly ResultPublisher _publisher;
    private readonly JobQueue _queue;
    private readonly JobJournal _journal;
    private readonly JournalOptions _journalOptions;
    private readonly JobCounters _counters;
    private readonly EngineHost _engine;
    private readonly IServiceProvider _services;
    private readonly ISystemdNotifier? _notifier;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly DateTimeOffset _startedAt;
    private string _adaptersInStatus = "";
    private Task? _statsLoop;
    private Task? _journalProbeLoop;

    public MqttService(
        IOptions<MqttOptions> options,
        MqttTopics topics,
        MqttConnection connection,
        JobIntake intake,
        JobRunner runner,
        ResultPublisher publisher,
        JobQueue queue,
        JobJournal journal,
        IOptions<JournalOptions> journalOptions,
        JobCounters counters,
        EngineHost engine,
        IServiceProvider services,
        TimeProvider time,
        ILogger<MqttService> logger,
        ISystemdNotifier? notifier = null)
    {
        _options = options.Value;
        _topics = topics;
        _connection = connection;
        _intake = intake;
        _runner = runner;
        _publisher = publisher;
        _queue = queue;
        _journal = journal;
        _journalOptions = journalOptions.Value;
        _counters = counters;
        _engine = engine;
        _services = services;
        _notifier = notifier;
        _time = time;
        _logger = logger;
        _startedAt = time.GetUtcNow();
    }

    /// <inheritdoc/>
    public string ProbeName => "MQTT intake";

    /// <inheritdoc/>
    public bool IsMakingProgress(TimeSpan limit) => _runner.IsRunning && _runner.SinceLastLoop < limit && _intake.Stall(limit) is null;

    /// <inheritdoc/>
    public string? NotReadyReason()
    {
        if (_journal.WriteProblem is { } problem)
        {
            return _options.IsEmbedded
                ? $"the job journal {_journal.Path} cannot be written ({problem}); new jobs are refused (PUBACK 0x97, error storage_full)"
                : $"the job journal {_journal.Path} cannot be written ({problem}); new jobs stay unacknowledged at the broker {_options.ConnectHost}:{_options.Port}";
        }

        return _intake.Stall(HandlingLimit) is { } stall ? "the MQTT intake is stalled: " + stall : null;
    }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var replayed = _intake.Replay();
        Log.Journal(_logger, _journal.Path, replayed);
        _runner.Start(() => _services.GetRequiredService<IChatClient>(), ServedBy());
        _publisher.Start();

        _connection.MessageReceived = _intake.HandleAsync;
        _connection.StatusDocument = StatusDocument;
        _connection.Connected = _ =>
        {
            _publisher.Kick();
            return Task.CompletedTask;
        };
        Notify($"STATUS=connecting to the MQTT broker {_options.ConnectHost}:{_options.Port}");
        if (_options.IsEmbedded)
        {
            // Before the client connects (its "connected" line is what publishers wait for): from the first
            // acknowledged job on, the broker journals jobs before their PUBACK.
            _intake.TakeFromEmbeddedBroker();
        }

        await _connection.StartAsync(cancellationToken).ConfigureAwait(false);

        _statsLoop = Task.Run(() => StatsLoopAsync(_stopping.Token), CancellationToken.None);
        _journalProbeLoop = Task.Run(() => JournalProbeLoopAsync(_stopping.Token), CancellationToken.None);
        Notify($"STATUS=taking jobs on {_topics.Jobs} ({replayed} replayed from the journal)");
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _intake.StopAccepting();
        Notify($"STATUS=stopping: letting {_runner.Running} running jobs finish");
        await _stopping.CancelAsync().ConfigureAwait(false);
        await _runner.StopAsync(_options.ShutdownGracePeriod, cancellationToken).ConfigureAwait(false);
        await _publisher.StopAsync(TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
        if (_statsLoop is not null)
        {
            await _statsLoop.ConfigureAwait(false);
        }

        if (_journalProbeLoop is not null)
        {
            await _journalProbeLoop.ConfigureAwait(false);
        }

        await _connection.StopAsync(cancellationToken).ConfigureAwait(false);
        Log.Stopped(_logger, _queue.Count);
    }

    private string ServedBy() => _engine.ServedBy;

    private byte[] StatusDocument() => ResultJson.Write(writer =>
    {
        writer.WriteString("state", "online");
        writer.WriteString("device_id", _options.ResolvedDeviceId);
        writer.WriteString("version", typeof(MqttService).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0");
        writer.WriteString("model", _engine.ModelId);
        writer.WriteString("execution_provider", _engine.Provider);
        if (_engine.LocalEngine is { } local)
        {
            writer.WriteNumber("context_length", local.ContextLength);
        }

        _adaptersInStatus = LoadedAdapters();
        WriteAdapters(writer);
        writer.WriteString("started_at", _startedAt);
    });

    /// <summary>
    /// The package's adapters over every engine replica: loaded on any, bytes, loads and encodes summed, last use the
    /// latest. Empty with <c>Runtime:Backend=openai</c> (the backend's own adapters are its business).
    /// </summary>
    private List<AdapterStatus> Adapters() =>
        [.. _engine.LocalEngines.SelectMany(e => e.Adapters).GroupBy(a => a.Name).Select(g => new AdapterStatus(
            g.Key, g.Any(a => a.Loaded), g.Sum(a => a.MemoryBytes), g.Sum(a => a.Loads), g.Sum(a => a.Encodes), g.Max(a => a.LastUsed)))];

    /// <summary>Which adapters are loaded, as a short key (to see when the retained status needs publishing again).</summary>
    private string LoadedAdapters() => string.Join(',', Adapters().Where(a => a.Loaded).Select(a => a.Name));

    /// <summary>The package's adapters: whether each is loaded, what it holds, how often it was used.</summary>
    private void WriteAdapters(System.Text.Json.Utf8JsonWriter writer)
    {
        writer.WriteStartArray("adapters");
        foreach (var adapter in Adapters())
        {
            writer.WriteStartObject();
            writer.WriteString("name", adapter.Name);
            writer.WriteBoolean("loaded", adapter.Loaded);
            writer.WriteNumber("memory_bytes", adapter.MemoryBytes);
            writer.WriteNumber("loads", adapter.Loads);
            writer.WriteNumber("encodes", adapter.Encodes);
            if (adapter.LastUsed is { } lastUsed)
            {
                writer.WriteString("last_used", lastUsed);
            }

            writer.WriteEndObject();
        }

        writer.WriteEndArray();
    }

    private byte[] StatsDocument()
    {
        var (prefill, decode) = _engine.LocalEngine?.MeasuredSpeed ?? (0, 0);
        using var process = Process.GetCurrentProcess();
        return ResultJson.Write(writer =>
        {
            writer.WriteNumber("queue_depth", _queue.Count);
            writer.WriteNumber("queue_capacity", _queue.Capacity);
            writer.WriteNumber("running", _runner.Running);
            writer.WriteNumber("jobs_accepted", _counters.Accepted);
            writer.WriteNumber("jobs_done", _counters.Done);
            writer.WriteNumber("jobs_failed", _counters.Failed);
            writer.WriteNumber("results_published", _publisher.Published);
            writer.WriteNumber("tokens_generated", _counters.CompletionTokens);
            writer.WriteNumber("decode_tokens_per_second", Math.Round(decode, 2));
            writer.WriteNumber("prefill_tokens_per_second", Math.Round(prefill, 2));
            writer.WriteNumber("memory_bytes", process.WorkingSet64);
            writer.WriteNumber("managed_memory_bytes", GC.GetTotalMemory(forceFullCollection: false));
            if (_engine.Replicas is { } dispatcher)
            {
                writer.WriteStartArray("replicas");
                foreach (var replica in dispatcher.Replicas)
                {
                    writer.WriteStartObject();
                    writer.WriteString("name", replica.Name);
                    writer.WriteNumber("outstanding", replica.Outstanding);
                    writer.WriteNumber("requests", replica.Served);
                    writer.WriteEndObject();
                }

                writer.WriteEndArray();
            }

            writer.WriteNumber("uptime_s", Math.Round((_time.GetUtcNow() - _startedAt).TotalSeconds, 1));
            WriteAdapters(writer);
        });
    }

    private async Task StatsLoopAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(_options.StatsInterval, _time);
        var lastPrune = DateTimeOffset.MinValue;
        try
        {
            do
            {
                var message = new MqttApplicationMessageBuilder()
                    .WithTopic(_topics.Stats)
                    .WithPayload(StatsDocument())
                    .WithContentType("application/json")
                    .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtMostOnce)
                    .WithRetainFlag()
                    .Build();
                await _connection.TryPublishAsync(message, cancellationToken).ConfigureAwait(false);
                if (LoadedAdapters() != _adaptersInStatus)
                {
                    // An adapter was loaded or unloaded since the retained status was written: write it again.
                    var status = new MqttApplicationMessageBuilder().WithTopic(_topics.Status).WithPayload(StatusDocument()).WithContentType("application/json")
                        .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).WithRetainFlag().Build();
                    await _connection.TryPublishAsync(status, cancellationToken).ConfigureAwait(false);
                }

                var now = _time.GetUtcNow();
                if (now - lastPrune >= _journalOptions.PruneInterval)
                {
                    lastPrune = now;
                    var pruned = _journal.Prune(now - _journalOptions.Retention);
                    if (pruned > 0)
                    {
                        Log.Pruned(_logger, pruned, _journalOptions.Retention);
                    }
                }
            }
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            Log.StatsStopped(_logger);
        }
    }

    /// <summary>
    /// While the journal cannot be written, tries a write every <see cref="JournalOptions.WriteProbeInterval"/>; once it
    /// works, results kept in memory are written, and an external broker is made to deliver again what was left there.
    /// </summary>
    private async Task JournalProbeLoopAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(_journalOptions.WriteProbeInterval, _time);
        var failing = false;
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                if (_journal.WriteProblem is { } problem)
                {
                    if (!failing)
                    {
                        failing = true;
                        Log.JournalUnwritable(_logger, _journal.Path, problem, _options.IsEmbedded ? "refused (PUBACK 0x97, storage_full)" : "left unacknowledged at the broker");
                        Notify($"STATUS=not taking jobs: the job journal {_journal.Path} cannot be written");
                    }

                    if (!_journal.ProbeWrite())
                    {
                        continue;
                    }
                }

                if (failing)
                {
                    failing = false;
                    Log.JournalWritable(_logger, _journal.Path);
                    Notify($"STATUS=taking jobs on {_topics.Jobs}");
                    _publisher.Kick();
                }

                if (!_options.IsEmbedded && _intake.TakeLeftAtBroker())
                {
                    await _connection.ReconnectAsync(cancellationToken).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            Log.StatsStopped(_logger);
        }
    }

    private void Notify(string state) => _notifier?.Notify(new ServiceState(state));

    private static partial class Log
    {
        [LoggerMessage(4501, LogLevel.Information, "Job journal: {Path} ({Replayed} unfinished jobs run again)")]
        public static partial void Journal(ILogger logger, string path, int replayed);

        [LoggerMessage(4502, LogLevel.Information, "MQTT intake stopped ({Queued} queued jobs stay journaled for the next start)")]
        public static partial void Stopped(ILogger logger, int queued);

        [LoggerMessage(4503, LogLevel.Information, "Pruned {Count} finished jobs older than {Retention} from the journal")]
        public static partial void Pruned(ILogger logger, int count, TimeSpan retention);

        [LoggerMessage(4504, LogLevel.Debug, "Stats loop stopped")]
        public static partial void StatsStopped(ILogger logger);

        [LoggerMessage(4520, LogLevel.Error, "The job journal {Path} cannot be written ({Problem}); /health/ready says not ready and new jobs are {Fate} until it can")]
        public static partial void JournalUnwritable(ILogger logger, string path, string problem, string fate);

        [LoggerMessage(4521, LogLevel.Information, "The job journal {Path} can be written again; taking jobs")]
        public static partial void JournalWritable(ILogger logger, string path);
    }
}
