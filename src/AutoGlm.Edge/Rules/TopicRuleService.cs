using AutoGlm.Cluster.Contract;
using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using System.Threading.Channels;
using AutoGlm.Edge.Mqtt;
using AutoGlm.Runtime.Modalities;
using MQTTnet;
using MQTTnet.Protocol;

namespace AutoGlm.Edge.Rules;

/// <summary>
/// Runs <c>Mqtt:Rules</c>: its own MQTT client on the daemon's broker (embedded or external) subscribes to each rule's
/// topic, turns the messages that pass the rule into jobs on the device's own job topics — so they are journaled,
/// queued and answered like any job — and follows their results on <c>…/results/&lt;id&gt;</c> to publish each answer
/// to the rule's <c>AnswerTopic</c> and, retained, to <c>…/sources/&lt;rule&gt;/answer</c>.
/// </summary>
/// <remarks>
/// Messages are handed from the client's receive loop to one worker through a bounded queue (a full queue drops and
/// counts them), since publishing from the receive loop would wait on acknowledgements that loop has to read. A
/// message a rule cannot use is counted and logged at most once a minute per rule; nothing a message holds stops the
/// service.
/// </remarks>
public sealed partial class TopicRuleService : IHostedService, IAsyncDisposable
{
    /// <summary>How long a rule's job may wait for its answer before its slot is given back.</summary>
    public static readonly TimeSpan ResultTimeout = TimeSpan.FromMinutes(10);

    private const int QueueCapacity = 256;
    private readonly MqttOptions _mqtt;
    private readonly MqttTopics _topics;
    private readonly TimeProvider _time;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private readonly List<TopicRule> _rules;
    private readonly Dictionary<string, LogThrottle> _warnings = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (TopicRule Rule, ITimer Expiry)> _outstanding = new(StringComparer.Ordinal);
    private readonly Channel<MqttApplicationMessage> _inbox = Channel.CreateBounded<MqttApplicationMessage>(new BoundedChannelOptions(QueueCapacity) { SingleReader = true, FullMode = BoundedChannelFullMode.DropWrite });
    private readonly CancellationTokenSource _stopping = new();
    private MqttConnection? _connection;
    private Task? _worker;
    private long _overflowed;
    private int _disposed;

    public TopicRuleService(MqttOptions mqtt, MqttTopics topics, TimeProvider time, ILoggerFactory loggerFactory)
    {
        _mqtt = mqtt;
        _topics = topics;
        _time = time;
        _loggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger<TopicRuleService>();
        _rules = [.. mqtt.Rules.Select(o => new TopicRule(o))];
        foreach (var rule in _rules)
        {
            _warnings[rule.Name] = new LogThrottle(time, TimeSpan.FromMinutes(1));
        }
    }

    /// <summary>The rules, in configuration order.</summary>
    public IReadOnlyList<TopicRule> Rules => _rules;

    /// <summary>Messages dropped because the rules' queue was full.</summary>
    public long Overflowed => Interlocked.Read(ref _overflowed);

    /// <summary>The rules' MQTT client id: <c>&lt;Mqtt:ClientId&gt;-rules</c>.</summary>
    public string ClientId => _mqtt.ResolvedClientId + "-rules";

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (_rules.Count == 0)
        {
            return;
        }

        List<string> filters = [.. _rules.Select(r => r.Options.Topic).Distinct(StringComparer.Ordinal), _topics.ResultFilter];

        // No kept session: messages that arrived while the daemon was down are old news for a rule (a doorbell from an hour ago).
        _connection = new MqttConnection(
            _mqtt,
            _topics,
            _time,
            _loggerFactory.CreateLogger<MqttConnection>(),
            new MqttClientProfile(ClientId, filters, AnnouncesStatus: false, KeepsSession: false));
        _connection.MessageReceived = e =>
        {
            if (!_inbox.Writer.TryWrite(e.ApplicationMessage))
            {
                Interlocked.Increment(ref _overflowed);
            }

            return Task.CompletedTask;
        };
        _connection.Connected = _ =>
        {
            ForgetOutstanding();
            return Task.CompletedTask;
        };
        await _connection.StartAsync(cancellationToken).ConfigureAwait(false);
        _worker = Task.Run(() => WorkAsync(_stopping.Token), CancellationToken.None);
        foreach (var rule in _rules)
        {
            Log.RuleReady(_logger, rule.Name, rule.Options.Topic, rule.Options.ResolvedPayload, string.IsNullOrEmpty(rule.Options.AnswerTopic) ? "(none)" : rule.Options.AnswerTopic, _topics.SourceAnswer(rule.Name));
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_connection is null || _stopping.IsCancellationRequested)
        {
            return;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        _inbox.Writer.TryComplete();
        if (_worker is not null)
        {
            await _worker.ConfigureAwait(false);
        }

        await _connection.StopAsync(cancellationToken).ConfigureAwait(false);
        foreach (var (_, job) in _outstanding)
        {
            job.Expiry.Dispose();
        }
    }

    /// <summary>Stops (if running) and releases the client; idempotent, since the container disposes it both as itself and as a hosted service.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
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

    private async Task WorkAsync(CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var message in _inbox.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                try
                {
                    await HandleAsync(message, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    // Whatever one message does, the next one is still read.
                    Log.MessageFailed(_logger, message.Topic, ex);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    private async Task HandleAsync(MqttApplicationMessage message, CancellationToken cancellationToken)
    {
        if (_topics.ResultJobId(message.Topic) is { } id)
        {
            if (_outstanding.TryRemove(id, out var job))
            {
                job.Expiry.Dispose();
                job.Rule.EndJob();
                await PublishAnswerAsync(job.Rule, id, message, cancellationToken).ConfigureAwait(false);
            }

            return;
        }

        if (_topics.IsOwn(message.Topic))
        {
            return;
        }

        foreach (var rule in _rules.Where(r => r.Takes(message.Topic)))
        {
            await ApplyAsync(rule, message, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task ApplyAsync(TopicRule rule, MqttApplicationMessage message, CancellationToken cancellationToken)
    {
        var payload = System.Buffers.BuffersExtensions.ToArray(message.Payload);
        var now = _time.GetUtcNow();
        string? prompt;
        try
        {
            prompt = rule.Prompt(message.Topic, payload, now);
            var problem = rule.Options.ResolvedPayload switch
            {
                "image" => MediaSniffer.SniffImage(payload).Problem,
                "audio" => MediaSniffer.SniffAudio(payload).Problem,
                _ => null,
            };
            if (problem is not null)
            {
                throw new UnusableMessageException($"a message for rule '{rule.Name}' {problem}");
            }
        }
        catch (UnusableMessageException ex)
        {
            rule.CountUnusable();
            if (_warnings[rule.Name].ShouldLog(out var heldBack))
            {
                Log.Unusable(_logger, rule.Name, message.Topic, ex.Message, heldBack);
            }

            return;
        }

        if (prompt is null)
        {
            return;
        }

        if (!rule.TryStartJob(now))
        {
            if (_warnings[rule.Name].ShouldLog(out var heldBack))
            {
                Log.Dropped(_logger, rule.Name, message.Topic, rule.Options.MinInterval, rule.Options.MaxOutstanding, heldBack);
            }

            return;
        }

        var id = $"{rule.Name}-{now.UtcDateTime.ToString("yyyyMMdd'T'HHmmssfff", CultureInfo.InvariantCulture)}-{Guid.NewGuid().ToString("N")[..8]}";
        _outstanding[id] = (rule, _time.CreateTimer(_ => Expire(id), null, ResultTimeout, Timeout.InfiniteTimeSpan));
        if (!await _connection!.TryPublishAsync(Job(rule, id, prompt, payload), cancellationToken).ConfigureAwait(false))
        {
            if (_outstanding.TryRemove(id, out var job))
            {
                job.Expiry.Dispose();
                rule.EndJob();
            }

            Log.PublishFailed(_logger, rule.Name, id);
            return;
        }

        Log.JobPublished(_logger, rule.Name, id, message.Topic);
    }

    private MqttApplicationMessage Job(TopicRule rule, string id, string prompt, byte[] payload)
    {
        var o = rule.Options;
        if (o.ResolvedPayload is "image" or "audio")
        {
            // The raw-media job contract, as the daemon's own sensors send it.
            var builder = new MqttApplicationMessageBuilder()
                .WithTopic(o.ResolvedPayload == "image" ? _topics.ImageJobs : _topics.AudioJobs)
                .WithPayload(payload)
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
                .WithUserProperty("id", Utf8(id))
                .WithUserProperty("prompt", Utf8(prompt))
                .WithUserProperty("route", Utf8(o.Route.ToLowerInvariant()))
                .WithUserProperty("priority", Utf8(o.Priority.ToLowerInvariant()));
            if (o.MaxTokens is { } maxTokens)
            {
                builder.WithUserProperty("max_tokens", Utf8(maxTokens.ToString(CultureInfo.InvariantCulture)));
            }

            return builder.Build();
        }

        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("id", id);
            json.WriteString("prompt", prompt);
            json.WriteString("route", o.Route.ToLowerInvariant());
            json.WriteString("priority", o.Priority.ToLowerInvariant());
            if (o.MaxTokens is { } maxTokens)
            {
                json.WriteNumber("max_tokens", maxTokens);
            }

            json.WriteEndObject();
        }

        return new MqttApplicationMessageBuilder()
            .WithTopic(_topics.Jobs)
            .WithPayload(buffer.ToArray())
            .WithContentType("application/json")
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
            .Build();
    }

    private async Task PublishAnswerAsync(TopicRule rule, string id, MqttApplicationMessage result, CancellationToken cancellationToken)
    {
        var payload = System.Buffers.BuffersExtensions.ToArray(result.Payload);
        if (!string.IsNullOrEmpty(rule.Options.AnswerTopic))
        {
            await _connection!.TryPublishAsync(Answer(rule.Options.AnswerTopic, payload, retain: false), cancellationToken).ConfigureAwait(false);
        }

        await _connection!.TryPublishAsync(Answer(_topics.SourceAnswer(rule.Name), payload, retain: true), cancellationToken).ConfigureAwait(false);
        Log.Answered(_logger, rule.Name, id, rule.Options.AnswerTopic ?? "(none)");
    }

    private static MqttApplicationMessage Answer(string topic, byte[] payload, bool retain) => new MqttApplicationMessageBuilder()
        .WithTopic(topic)
        .WithPayload(payload)
        .WithContentType("application/json")
        .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
        .WithRetainFlag(retain)
        .Build();

    private void Expire(string id)
    {
        if (_outstanding.TryRemove(id, out var job))
        {
            job.Expiry.Dispose();
            job.Rule.EndJob();
            Log.ResultTimedOut(_logger, job.Rule.Name, id, ResultTimeout);
        }
    }

    // A new connection has a new session: results published while it was away will not come.
    private void ForgetOutstanding()
    {
        foreach (var id in _outstanding.Keys)
        {
            if (_outstanding.TryRemove(id, out var job))
            {
                job.Expiry.Dispose();
                job.Rule.EndJob();
            }
        }
    }

    private static ReadOnlyMemory<byte> Utf8(string value) => System.Text.Encoding.UTF8.GetBytes(value);

    private static partial class Log
    {
        [LoggerMessage(4851, LogLevel.Information, "Rule {Rule}: {Payload} messages on {Topic} become jobs; answers to {AnswerTopic} and, retained, {LatestTopic}")]
        public static partial void RuleReady(ILogger logger, string rule, string topic, string payload, string answerTopic, string latestTopic);

        [LoggerMessage(4852, LogLevel.Information, "Rule {Rule}: job {JobId} from a message on {Topic}")]
        public static partial void JobPublished(ILogger logger, string rule, string jobId, string topic);

        [LoggerMessage(4853, LogLevel.Information, "Rule {Rule}: job {JobId} answered; published to {AnswerTopic} and the rule's latest-answer topic")]
        public static partial void Answered(ILogger logger, string rule, string jobId, string answerTopic);

        [LoggerMessage(4854, LogLevel.Warning, "Rule {Rule}: a message on {Topic} was not used: {Problem} ({HeldBack} more unused or dropped since the last such warning)")]
        public static partial void Unusable(ILogger logger, string rule, string topic, string problem, int heldBack);

        [LoggerMessage(4855, LogLevel.Warning, "Rule {Rule}: a message on {Topic} was dropped: the rule's MinInterval ({MinInterval}) has not passed or MaxOutstanding ({MaxOutstanding}) jobs wait for their answers ({HeldBack} more unused or dropped since the last such warning)")]
        public static partial void Dropped(ILogger logger, string rule, string topic, TimeSpan minInterval, int maxOutstanding, int heldBack);

        [LoggerMessage(4856, LogLevel.Warning, "Rule {Rule}: job {JobId} could not be published (not connected, or the broker refused it)")]
        public static partial void PublishFailed(ILogger logger, string rule, string jobId);

        [LoggerMessage(4857, LogLevel.Warning, "Rule {Rule}: no result for job {JobId} within {Timeout}; its slot is free again")]
        public static partial void ResultTimedOut(ILogger logger, string rule, string jobId, TimeSpan timeout);

        [LoggerMessage(4858, LogLevel.Error, "Rules: handling a message on {Topic} failed")]
        public static partial void MessageFailed(ILogger logger, string topic, Exception exception);
    }
}
