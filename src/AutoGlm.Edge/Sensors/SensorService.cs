using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using System.Threading.Channels;
using AutoGlm.Cluster.Contract;
using AutoGlm.Edge.Metrics;
using AutoGlm.Edge.Mqtt;
using Microsoft.Extensions.Options;
using MQTTnet;
using MQTTnet.Protocol;

namespace AutoGlm.Edge.Sensors;

/// <summary>A job a sensor published: its id, topic and payload (the captured frame or clip).</summary>
public sealed record SensorJob(string Sensor, string Trigger, string Id, string Topic, string Prompt, byte[] Payload);

/// <summary>
/// The sensors as one hosted service: on each trigger a sensor captures a frame or a clip and publishes it as a raw
/// job (<c>…/jobs/image</c> or <c>…/jobs/audio</c>, the prompt and options in MQTT 5 user properties) through its own
/// MQTT client on the daemon's broker; it follows its jobs' results on <c>…/results/&lt;id&gt;</c> to drive the
/// status LED. Does nothing unless <c>Sensors:Devices</c> names a sensor.
/// </summary>
/// <remarks>
/// Each sensor captures one trigger at a time, in order; up to <see cref="QueuedTriggersPerSensor"/> triggers wait
/// behind a capture, and a trigger beyond that is logged and counted as dropped. A failed capture or publish is
/// logged at Error, counted, and shown on the LED, and so is anything else a trigger's work throws; the service keeps
/// running. A job whose result does not come within <see cref="SensorsOptions.ResultTimeout"/> is counted as failed.
/// A missing device stops the start with a <see cref="SensorException"/> naming the device node and the configuration
/// key. Thread-safe.
/// </remarks>
public sealed partial class SensorService : IHostedService, IAsyncDisposable
{
    /// <summary>Triggers that may wait while a sensor captures.</summary>
    public const int QueuedTriggersPerSensor = 8;

    private readonly SensorsOptions _options;
    private readonly MqttOptions _mqtt;
    private readonly MqttTopics _topics;
    private readonly TimeProvider _time;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private readonly EdgeMetrics? _metrics;
    private readonly GpioAccess _gpio;
    private readonly ConcurrentDictionary<string, OutstandingJob> _outstanding = new(StringComparer.Ordinal);
    private readonly Dictionary<string, MqttCommandTrigger> _commands = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _ledLock = new();
    private readonly List<Sensor> _sensors = [];
    private readonly List<Task> _workers = [];
    private MqttConnection? _connection;
    private int _busy;
    private int _disposed;
    private bool _failed;

    public SensorService(
        IOptions<SensorsOptions> options,
        MqttOptions mqtt,
        MqttTopics topics,
        TimeProvider time,
        ILoggerFactory loggerFactory,
        EdgeMetrics? metrics = null)
    {
        _options = options.Value;
        _mqtt = mqtt;
        _topics = topics;
        _time = time;
        _loggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger<SensorService>();
        _metrics = metrics;
        _gpio = new GpioAccess(_options.GpioChip);
        ClientId = SensorClientId(mqtt, Environment.MachineName);
    }

    /// <summary>The sensors' MQTT client id: see <see cref="SensorClientId"/>.</summary>
    public string ClientId { get; }

    /// <summary>Makes a sensor's device from its options and key; set before start.</summary>
    // For testing: a device whose captures a test holds back.
    internal Func<SensorOptions, string, (Func<CancellationToken, Task<byte[]>> Capture, IDisposable Device, string Description)> CreateDevice { get; set; } = SensorDrivers.CreateDevice;

    /// <summary>Raised after each job is published (from a sensor's worker).</summary>
    public event Action<SensorJob>? JobPublished;

    /// <summary>The running sensors, in configuration order (empty before start and when none is configured).</summary>
    public IReadOnlyList<Sensor> Sensors => _sensors;

    /// <summary>The status LED, when one is configured and the service has started.</summary>
    public IStatusLed? StatusLed { get; private set; }

    /// <summary>Jobs published and not yet answered.</summary>
    public int Outstanding => _outstanding.Count;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (!_options.IsEnabled)
        {
            return;
        }

        // Devices and triggers first: a missing camera, microphone or GPIO chip stops the start before anything connects.
        // A trigger that fires before the connection is up waits in its sensor's queue.
        try
        {
            for (var i = 0; i < _options.Devices.Count; i++)
            {
                var o = _options.Devices[i];
                var key = $"{SensorsOptions.Section}:Devices:{i}";
                var (capture, device, description) = CreateDevice(o, key);
                var triggers = o.Triggers.Select((t, j) => SensorDrivers.CreateTrigger(t, o.Name, $"{key}:Triggers:{j}", _gpio, _topics, _time)).ToList();
                var sensor = new Sensor(o, capture, device, triggers, o.IsCamera ? _topics.ImageJobs : _topics.AudioJobs);
                _sensors.Add(sensor);
                foreach (var command in triggers.OfType<MqttCommandTrigger>())
                {
                    _commands[command.Topic] = command;
                }

                Log.SensorReady(_logger, o.Name, description, string.Join(", ", triggers.Select(t => t.Name)), sensor.Topic);
            }

            StatusLed = SensorDrivers.CreateLed(_options.StatusLed, _gpio, _time);
            foreach (var sensor in _sensors)
            {
                foreach (var trigger in sensor.Triggers)
                {
                    trigger.Start(e => Enqueue(sensor, e));
                }
            }
        }
        catch (SensorException)
        {
            StopTriggers();
            DisposeDevices();
            throw;
        }

        List<string> filters = [_topics.ResultFilter];
        if (_commands.Count > 0)
        {
            filters.Add(_topics.SensorCaptureFilter);
        }

        // The daemon's connection code and broker settings, as a second client: its own id, no status, and no kept
        // session, so neither stale capture commands nor other jobs' results pile up at the broker while it is away.
        _connection = new MqttConnection(
            _mqtt,
            _topics,
            _time,
            _loggerFactory.CreateLogger<MqttConnection>(),
            new MqttClientProfile(ClientId, filters, AnnouncesStatus: false, KeepsSession: false));
        _connection.MessageReceived = OnMessageAsync;
        _connection.Connected = _ =>
        {
            ForgetOutstanding();
            return Task.CompletedTask;
        };
        await _connection.StartAsync(cancellationToken).ConfigureAwait(false);
        foreach (var sensor in _sensors)
        {
            _workers.Add(Task.Run(() => WorkAsync(sensor, _stopping.Token), CancellationToken.None));
        }

        Log.Started(_logger, _sensors.Count, string.Join(", ", _sensors.Select(s => s.Name)), _topics.Prefix, StatusLed is not null);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_stopping.IsCancellationRequested || _connection is null)
        {
            return;
        }

        StopTriggers();
        await _stopping.CancelAsync().ConfigureAwait(false);
        try
        {
            // Workers catch what a trigger's work throws; this is in case one still ends in a fault.
            await Task.WhenAll(_workers).ConfigureAwait(false);
        }
        finally
        {
            try
            {
                await _connection.StopAsync(cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                var outstanding = _outstanding.Count;
                foreach (var job in _outstanding.Values)
                {
                    job.Expiry.Dispose();
                }

                DisposeDevices();
                Log.Stopped(_logger, outstanding);
            }
        }
    }

    /// <summary>Stops (if running) and releases the client; idempotent, since the container disposes it both as itself and as a hosted service.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await StopAsync(CancellationToken.None).ConfigureAwait(false);
        if (_connection is not null)
        {
            await _connection.DisposeAsync().ConfigureAwait(false);
        }

        _stopping.Dispose();
    }

    /// <summary>
    /// The sensors' MQTT client id: <c>&lt;Mqtt:ClientId&gt;-sensors</c> when <c>Mqtt:ClientId</c> is set; else
    /// <c>autoglm-&lt;device&gt;-sensors-&lt;machine&gt;</c>, since <c>autoglm-edge sensors</c> on another machine names the
    /// device that answers as its <c>Mqtt:DeviceId</c>, and two clients with one id make the broker drop one of them in
    /// turn. The machine name is cut to its first 32 characters of <c>A-Z a-z 0-9 _ -</c> (others become <c>-</c>).
    /// </summary>
    public static string SensorClientId(MqttOptions mqtt, string machineName)
    {
        if (!string.IsNullOrWhiteSpace(mqtt.ClientId))
        {
            return mqtt.ClientId + "-sensors";
        }

        var machine = MachineChars().Replace(machineName, "-");
        machine = machine.Length > 32 ? machine[..32] : machine;
        return $"{mqtt.ResolvedClientId}-sensors-{(machine.Length == 0 ? "host" : machine)}";
    }

    /// <summary>The prompt template with <c>{sensor}</c>, <c>{trigger}</c> and <c>{time}</c> (UTC, ISO 8601 to the second) filled in.</summary>
    public static string RenderPrompt(string template, string sensor, string trigger, DateTimeOffset time) =>
        template.Replace("{sensor}", sensor, StringComparison.Ordinal)
            .Replace("{trigger}", trigger, StringComparison.Ordinal)
            .Replace("{time}", time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture), StringComparison.Ordinal);

    private static ReadOnlyMemory<byte> Utf8(string value) => System.Text.Encoding.UTF8.GetBytes(value);

    [System.Text.RegularExpressions.GeneratedRegex("[^A-Za-z0-9_-]")]
    private static partial System.Text.RegularExpressions.Regex MachineChars();

    private void Enqueue(Sensor sensor, TriggerEvent trigger)
    {
        sensor.CountTrigger();
        if (!sensor.Queue.Writer.TryWrite(trigger))
        {
            sensor.CountFailure();
            _metrics?.RecordSensorFailure(sensor.Name, "dropped");
            Log.TriggerDropped(_logger, sensor.Name, trigger.Trigger, QueuedTriggersPerSensor);
            Failed();
        }
    }

    private async Task WorkAsync(Sensor sensor, CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var trigger in sensor.Queue.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                try
                {
                    await CaptureAndPublishAsync(sensor, trigger, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    // A publish failing in a way MqttConnection does not turn into false, or a JobPublished handler
                    // throwing: without this the worker would fault unseen and the sensor would never capture again.
                    sensor.CountFailure();
                    _metrics?.RecordSensorFailure(sensor.Name, "unexpected");
                    Log.TriggerFailed(_logger, sensor.Name, trigger.Trigger, ex.Message, ex);
                    Failed();
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            Log.WorkerStopped(_logger, sensor.Name);
        }
    }

    private async Task CaptureAndPublishAsync(Sensor sensor, TriggerEvent trigger, CancellationToken cancellationToken)
    {
        Log.Triggered(_logger, sensor.Name, trigger.Trigger);
        Busy(+1);
        byte[] payload;
        try
        {
            payload = await sensor.Capture(cancellationToken).ConfigureAwait(false);
            sensor.CountCapture();
            _metrics?.RecordSensorCapture(sensor.Name);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // A driver may fail in ways its wrapper did not foresee; the sensor must still go on with the next trigger.
            sensor.CountFailure();
            _metrics?.RecordSensorFailure(sensor.Name, "capture");
            Log.CaptureFailed(_logger, sensor.Name, trigger.Trigger, ex.Message, ex is SensorException ? null : ex);
            Busy(-1, failed: true);
            return;
        }

        var now = _time.GetUtcNow();
        var id = $"{sensor.Name}-{now.UtcDateTime.ToString("yyyyMMdd'T'HHmmssfff", CultureInfo.InvariantCulture)}-{Guid.NewGuid().ToString("N")[..8]}";
        var prompt = trigger.Prompt ?? RenderPrompt(sensor.Options.ResolvedPrompt, sensor.Name, trigger.Trigger, now);
        var builder = new MqttApplicationMessageBuilder()
            .WithTopic(sensor.Topic)
            .WithPayload(payload)
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
            .WithUserProperty("id", Utf8(id))
            .WithUserProperty("prompt", Utf8(prompt))
            .WithUserProperty("route", Utf8(sensor.Options.Route.ToLowerInvariant()))
            .WithUserProperty("priority", Utf8(sensor.Options.Priority.ToLowerInvariant()));
        if (sensor.Options.MaxTokens is { } maxTokens)
        {
            builder.WithUserProperty("max_tokens", Utf8(maxTokens.ToString(CultureInfo.InvariantCulture)));
        }

        // Outstanding before the publish: the result can arrive before the PUBACK does.
        _outstanding[id] = new OutstandingJob(sensor, _time.CreateTimer(_ => Expire(id), null, _options.ResultTimeout, Timeout.InfiniteTimeSpan));
        Log.Prompt(_logger, id, prompt);
        bool sent;
        try
        {
            sent = await _connection!.TryPublishAsync(builder.Build(), cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            // Not outstanding after all; the worker logs and counts the exception (or stops, when cancelled).
            Busy(Forget(id) ? -1 : 0, failed: cancellationToken.IsCancellationRequested ? null : true);
            throw;
        }

        if (!sent)
        {
            sensor.CountFailure();
            _metrics?.RecordSensorFailure(sensor.Name, "publish");
            Log.PublishFailed(_logger, sensor.Name, id, sensor.Topic);

            // A reconnection in between may have forgotten the job already, and counted it out.
            Busy(Forget(id) ? -1 : 0, failed: true);
            return;
        }

        sensor.CountPublished();
        _metrics?.RecordSensorJob(sensor.Name);
        Log.Published(_logger, sensor.Name, id, payload.Length, sensor.Topic, trigger.Trigger);
        JobPublished?.Invoke(new SensorJob(sensor.Name, trigger.Trigger, id, sensor.Topic, prompt, payload));
    }

    private Task OnMessageAsync(MqttApplicationMessageReceivedEventArgs e)
    {
        var message = e.ApplicationMessage;
        if (_commands.TryGetValue(message.Topic, out var command))
        {
            if (!command.Receive(System.Buffers.BuffersExtensions.ToArray(message.Payload)))
            {
                Log.CommandIgnored(_logger, message.Topic);
            }
        }
        else if (_topics.ResultJobId(message.Topic) is { } id && _outstanding.TryRemove(id, out var job))
        {
            job.Expiry.Dispose();
            OnResult(job.Sensor, id, message);
        }

        return Task.CompletedTask;
    }

    private void OnResult(Sensor sensor, string id, MqttApplicationMessage message)
    {
        var failed = true;
        try
        {
            using var document = JsonDocument.Parse(message.Payload);
            var root = document.RootElement;
            if (root.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.Object)
            {
                Log.JobFailed(_logger, sensor.Name, id, error.TryGetProperty("code", out var code) ? code.GetString() ?? "" : "", error.TryGetProperty("message", out var text) ? text.GetString() ?? "" : "");
            }
            else
            {
                var answer = root.TryGetProperty("text", out var text) && text.ValueKind == JsonValueKind.String ? text.GetString() ?? "" : "";
                Log.JobAnswered(_logger, sensor.Name, id, answer.Length);
                Log.Answer(_logger, id, answer);
                failed = false;
            }
        }
        catch (JsonException ex)
        {
            Log.JobFailed(_logger, sensor.Name, id, "invalid_result", ex.Message);
        }

        sensor.CountAnswered(failed);
        Busy(-1, failed);

        // The sensor's latest answer, retained on one fixed topic for automations; off the receive loop, which a QoS 1
        // publish would wait on.
        var latest = new MqttApplicationMessageBuilder()
            .WithTopic(_topics.SourceAnswer(sensor.Name))
            .WithPayload(System.Buffers.BuffersExtensions.ToArray(message.Payload))
            .WithContentType("application/json")
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
            .WithRetainFlag()
            .Build();
        _ = Task.Run(
            async () =>
            {
                try
                {
                    await _connection!.TryPublishAsync(latest, _stopping.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    // Stopping: the latest answer before this one stays retained.
                }
            },
            CancellationToken.None);
    }

    /// <summary>
    /// On a (re)connection: the session starts clean, so results published while the client was away will not come;
    /// stop waiting for them (the LED would otherwise stay busy). The results themselves are still on their topics.
    /// </summary>
    private void ForgetOutstanding()
    {
        var forgotten = 0;
        foreach (var id in _outstanding.Keys)
        {
            if (Forget(id))
            {
                forgotten++;
            }
        }

        if (forgotten > 0)
        {
            Log.OutstandingForgotten(_logger, forgotten);
            Busy(-forgotten);
        }
    }

    /// <summary>Stops waiting for the result of <paramref name="id"/>; false when nothing waited for it any more.</summary>
    private bool Forget(string id)
    {
        if (!_outstanding.TryRemove(id, out var job))
        {
            return false;
        }

        job.Expiry.Dispose();
        return true;
    }

    /// <summary>The result of <paramref name="id"/> did not come within <see cref="SensorsOptions.ResultTimeout"/>: the answering device is gone, or lost the job.</summary>
    private void Expire(string id)
    {
        if (!_outstanding.TryRemove(id, out var job))
        {
            return;
        }

        job.Expiry.Dispose();
        job.Sensor.CountFailure();
        _metrics?.RecordSensorFailure(job.Sensor.Name, "no_result");
        Log.ResultTimedOut(_logger, job.Sensor.Name, id, _options.ResultTimeout);
        Busy(-1, failed: true);
    }

    /// <summary>Counts work in or out and shows the LED state; <paramref name="failed"/> (when given) is the outcome of the work that ended.</summary>
    private void Busy(int delta, bool? failed = null)
    {
        lock (_ledLock)
        {
            _busy += delta;
            if (failed is { } outcome)
            {
                _failed = outcome;
            }

            StatusLed?.Show(_busy > 0 ? LedState.Busy : _failed ? LedState.Error : LedState.Idle);
        }
    }

    private void Failed()
    {
        lock (_ledLock)
        {
            _failed = true;
            StatusLed?.Show(_busy > 0 ? LedState.Busy : LedState.Error);
        }
    }

    private void StopTriggers()
    {
        foreach (var sensor in _sensors)
        {
            foreach (var trigger in sensor.Triggers)
            {
                trigger.Dispose();
            }

            sensor.Queue.Writer.TryComplete();
        }
    }

    private void DisposeDevices()
    {
        foreach (var sensor in _sensors)
        {
            sensor.Device.Dispose();
        }

        StatusLed?.Dispose();
        _gpio.Dispose();
    }
}

/// <summary>A job waiting for its result: whose it is, and the timer that gives up on it.</summary>
internal sealed record OutstandingJob(Sensor Sensor, ITimer Expiry);

/// <summary>One running sensor: its options, capture function, triggers, trigger queue and counters.</summary>
/// <remarks>Counters are thread-safe. The <see cref="SensorService"/> owns the device and the triggers.</remarks>
public sealed class Sensor
{
    private long _triggers;
    private long _captures;
    private long _failures;
    private long _published;
    private long _answered;
    private long _errorResults;

    internal Sensor(SensorOptions options, Func<CancellationToken, Task<byte[]>> capture, IDisposable device, IReadOnlyList<ITriggerSource> triggers, string topic)
    {
        Options = options;
        Capture = capture;
        Device = device;
        Triggers = triggers;
        Topic = topic;
        Queue = Channel.CreateBounded<TriggerEvent>(new BoundedChannelOptions(SensorService.QueuedTriggersPerSensor)
        {
            // Wait, not DropWrite: with DropWrite TryWrite reports success for the item it drops, so nobody would know.
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = true,
        });
    }

    /// <summary>The sensor's name.</summary>
    public string Name => Options.Name;

    /// <summary>Its configuration.</summary>
    public SensorOptions Options { get; }

    /// <summary>The camera or microphone (an <see cref="ICamera"/> or <see cref="IMicrophone"/>).</summary>
    public IDisposable Device { get; }

    /// <summary>Its triggers, in configuration order.</summary>
    public IReadOnlyList<ITriggerSource> Triggers { get; }

    /// <summary>Where its jobs go: <c>…/jobs/image</c> or <c>…/jobs/audio</c>.</summary>
    public string Topic { get; }

    /// <summary>Triggers received (queued or dropped).</summary>
    public long TriggerCount => Interlocked.Read(ref _triggers);

    /// <summary>Frames or clips captured.</summary>
    public long Captures => Interlocked.Read(ref _captures);

    /// <summary>Triggers that did not become a job: failed captures and publishes, and dropped triggers.</summary>
    public long Failures => Interlocked.Read(ref _failures);

    /// <summary>Jobs published.</summary>
    public long Published => Interlocked.Read(ref _published);

    /// <summary>Results received for its jobs.</summary>
    public long Answered => Interlocked.Read(ref _answered);

    /// <summary>Of those, error results.</summary>
    public long ErrorResults => Interlocked.Read(ref _errorResults);

    internal Func<CancellationToken, Task<byte[]>> Capture { get; }

    internal Channel<TriggerEvent> Queue { get; }

    internal void CountTrigger() => Interlocked.Increment(ref _triggers);

    internal void CountCapture() => Interlocked.Increment(ref _captures);

    internal void CountFailure() => Interlocked.Increment(ref _failures);

    internal void CountPublished() => Interlocked.Increment(ref _published);

    internal void CountAnswered(bool failed)
    {
        Interlocked.Increment(ref _answered);
        if (failed)
        {
            Interlocked.Increment(ref _errorResults);
        }
    }
}
