using System.Security.Cryptography.X509Certificates;
using MQTTnet;
using MQTTnet.Exceptions;
using MQTTnet.Formatter;
using MQTTnet.Protocol;
using AutoGlm.Cluster.Contract;

namespace AutoGlm.Edge.Mqtt;

/// <summary>
/// The daemon's one MQTT 5 client: a persistent session (clean start off, session expiry), the retained
/// <c>…/status</c> with an <c>offline</c> last will, the job subscriptions, and reconnection with backoff.
/// </summary>
/// <remarks>
/// Thread-safe. Received messages go to <see cref="MessageReceived"/> one at a time (MQTTnet's receive loop);
/// <see cref="Connected"/> runs after every (re)connection once the subscriptions are up. Owns the client.
/// </remarks>
public sealed partial class MqttConnection : IAsyncDisposable
{
    private readonly MqttOptions _options;
    private readonly MqttTopics _topics;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly IMqttClient _client;
    private readonly SemaphoreSlim _lost = new(0, 1);
    private readonly CancellationTokenSource _stopping = new();
    private readonly MqttClientProfile _profile;
    private Task? _reconnectLoop;
    private volatile bool _subscribed;

    /// <summary>The daemon's job intake connection: <see cref="MqttClientProfile.Intake"/>.</summary>
    public MqttConnection(MqttOptions options, MqttTopics topics, TimeProvider time, ILogger<MqttConnection> logger)
        : this(options, topics, time, logger, MqttClientProfile.Intake(options, topics))
    {
    }

    /// <summary>A connection with the same broker settings (host, TLS, credentials, backoff) in another role, e.g. the sensors'.</summary>
    public MqttConnection(MqttOptions options, MqttTopics topics, TimeProvider time, ILogger<MqttConnection> logger, MqttClientProfile profile)
    {
        _options = options;
        _topics = topics;
        _profile = profile;
        _time = time;
        _logger = logger;
        _client = new MqttClientFactory().CreateMqttClient();
        _client.ApplicationMessageReceivedAsync += OnMessageAsync;
        _client.DisconnectedAsync += OnDisconnectedAsync;
    }

    /// <summary>Handles each received message; must set <c>AutoAcknowledge = false</c> and acknowledge itself.</summary>
    public Func<MqttApplicationMessageReceivedEventArgs, Task>? MessageReceived { get; set; }

    /// <summary>Runs after each successful (re)connection and subscription.</summary>
    public Func<CancellationToken, Task>? Connected { get; set; }

    /// <summary>The retained status document published on each connection.</summary>
    public Func<byte[]>? StatusDocument { get; set; }

    /// <summary>Whether the client is connected with its subscriptions in place.</summary>
    public bool IsConnected => _client.IsConnected && _subscribed;

    /// <summary>Connects (retrying with backoff until it works or <paramref name="cancellationToken"/> fires), subscribes, and keeps reconnecting.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopping.Token);
        await ConnectWithBackoffAsync(linked.Token).ConfigureAwait(false);
        _reconnectLoop = Task.Run(() => ReconnectLoopAsync(_stopping.Token), CancellationToken.None);
    }

    /// <summary>Publishes a message; false (logged at Debug) when not connected or the broker refused it.</summary>
    public async Task<bool> TryPublishAsync(MqttApplicationMessage message, CancellationToken cancellationToken)
    {
        if (!_client.IsConnected)
        {
            return false;
        }

        try
        {
            var result = await _client.PublishAsync(message, cancellationToken).ConfigureAwait(false);
            if ((int)result.ReasonCode >= 0x80)
            {
                Log.PublishRefused(_logger, message.Topic, result.ReasonCode.ToString(), result.ReasonString);
                return false;
            }

            return true;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex) when (ex is MqttCommunicationException or InvalidOperationException or OperationCanceledException)
        {
            Log.PublishFailed(_logger, message.Topic, ex.Message);
            return false;
        }
    }

    /// <summary>
    /// Disconnects cleanly (no last will) and lets the reconnection loop connect again with the kept session, so the
    /// broker delivers again what this client left unacknowledged.
    /// </summary>
    public async Task ReconnectAsync(CancellationToken cancellationToken)
    {
        if (_client.IsConnected)
        {
            Log.Reconnecting(_logger);
            await _client.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().WithReason(MqttClientDisconnectOptionsReason.NormalDisconnection).Build(), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Publishes the retained <c>offline</c> status and disconnects cleanly (the will is not sent on a clean disconnect).</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_reconnectLoop is not null)
        {
            await _reconnectLoop.ConfigureAwait(false);
        }

        if (_client.IsConnected)
        {
            if (_profile.AnnouncesStatus)
            {
                await TryPublishAsync(Offline(), cancellationToken).ConfigureAwait(false);
            }

            if (_profile.AnnouncesAvailability)
            {
                await TryPublishAsync(Availability("offline"), cancellationToken).ConfigureAwait(false);
            }

            try
            {
                await _client.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().WithReason(MqttClientDisconnectOptionsReason.NormalDisconnection).Build(), cancellationToken).ConfigureAwait(false);
            }
            catch (MqttCommunicationException ex)
            {
                Log.PublishFailed(_logger, "(disconnect)", ex.Message);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        _client.Dispose();
        _stopping.Dispose();
        _lost.Dispose();
    }

    private MqttApplicationMessage Offline() => new MqttApplicationMessageBuilder()
        .WithTopic(_topics.Status)
        .WithPayload("offline")
        .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
        .WithRetainFlag()
        .Build();

    private MqttApplicationMessage Availability(string state) => new MqttApplicationMessageBuilder()
        .WithTopic(_topics.Availability)
        .WithPayload(state)
        .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
        .WithRetainFlag()
        .Build();

    private MqttClientOptions BuildClientOptions()
    {
        var builder = new MqttClientOptionsBuilder()
            .WithProtocolVersion(MqttProtocolVersion.V500)
            .WithTcpServer(_options.ConnectHost, _options.Port)
            .WithClientId(_profile.ClientId)
            .WithCleanStart(!_profile.KeepsSession)
            .WithSessionExpiryInterval(_profile.KeepsSession ? (uint)_options.SessionExpiry.TotalSeconds : 0u)
            .WithKeepAlivePeriod(_options.KeepAlive)
            .WithTimeout(TimeSpan.FromSeconds(10));
        if (_profile.AnnouncesStatus)
        {
            builder.WithWillTopic(_topics.Status)
                .WithWillPayload("offline")
                .WithWillQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
                .WithWillRetain(true);
        }
        else if (_profile.AnnouncesAvailability)
        {
            builder.WithWillTopic(_topics.Availability)
                .WithWillPayload("offline")
                .WithWillQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
                .WithWillRetain(true);
        }

        if (!string.IsNullOrEmpty(_options.Username))
        {
            builder.WithCredentials(_options.Username, _options.Password ?? "");
        }

        if (_options.UseTls)
        {
            builder.WithTlsOptions(tls =>
            {
                tls.UseTls().WithTargetHost(_options.Host);
                if (!string.IsNullOrEmpty(_options.CaCertificatePath))
                {
                    var chain = new X509Certificate2Collection();
                    chain.ImportFromPemFile(_options.CaCertificatePath);
                    tls.WithTrustChain(chain);
                }

                if (!string.IsNullOrEmpty(_options.ClientCertificatePath))
                {
                    tls.WithClientCertificates([X509Certificate2.CreateFromPemFile(_options.ClientCertificatePath, _options.ClientKeyPath)]);
                }
            });
        }

        return builder.Build();
    }

    private async Task ConnectWithBackoffAsync(CancellationToken cancellationToken)
    {
        var delay = _options.ReconnectMinDelay;
        var attempt = 0;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            attempt++;
            try
            {
                await ConnectOnceAsync(cancellationToken).ConfigureAwait(false);
                return;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                throw;
            }
            catch (Exception ex) when (ex is MqttCommunicationException or MqttProtocolViolationException or OperationCanceledException or InvalidOperationException or System.Net.Sockets.SocketException)
            {
                Log.ConnectFailed(_logger, _options.ConnectHost, _options.Port, attempt, delay.TotalSeconds, ex.Message);
            }

            await Task.Delay(delay, _time, cancellationToken).ConfigureAwait(false);
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _options.ReconnectMaxDelay.Ticks));
        }
    }

    private async Task ConnectOnceAsync(CancellationToken cancellationToken)
    {
        _subscribed = false;
        if (_client.IsConnected)
        {
            await _client.DisconnectAsync(new MqttClientDisconnectOptions(), cancellationToken).ConfigureAwait(false);
        }

        var result = await _client.ConnectAsync(BuildClientOptions(), cancellationToken).ConfigureAwait(false);
        if (result.ResultCode != MqttClientConnectResultCode.Success)
        {
            throw new MqttCommunicationException($"the broker refused the connection: {result.ResultCode} {result.ReasonString}");
        }

        // Subscribing again is harmless when the session survived, and needed when it did not.
        var subscribe = new MqttClientSubscribeOptionsBuilder();
        foreach (var filter in _profile.Subscriptions)
        {
            subscribe.WithTopicFilter(filter, MqttQualityOfServiceLevel.AtLeastOnce);
        }

        var subscribed = _profile.Subscriptions.Count == 0 ? null : await _client.SubscribeAsync(subscribe.Build(), cancellationToken).ConfigureAwait(false);
        foreach (var item in subscribed?.Items ?? [])
        {
            if ((int)item.ResultCode >= 0x80)
            {
                throw new MqttCommunicationException($"the broker refused the subscription to '{item.TopicFilter.Topic}': {item.ResultCode}");
            }
        }

        _subscribed = true;
        if (_profile.AnnouncesStatus)
        {
            Log.Connected(_logger, _options.ConnectHost, _options.Port, _profile.ClientId, result.IsSessionPresent, _topics.Prefix);
        }
        else
        {
            Log.ConnectedAs(_logger, _options.ConnectHost, _options.Port, _profile.ClientId, result.IsSessionPresent, string.Join(", ", _profile.Subscriptions));
        }

        if (_profile.AnnouncesStatus && StatusDocument is { } status)
        {
            await TryPublishAsync(
                new MqttApplicationMessageBuilder().WithTopic(_topics.Status).WithPayload(status()).WithContentType("application/json")
                    .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).WithRetainFlag().Build(),
                cancellationToken).ConfigureAwait(false);
        }

        if (_profile.AnnouncesAvailability)
        {
            await TryPublishAsync(Availability("online"), cancellationToken).ConfigureAwait(false);
        }

        if (Connected is { } connected)
        {
            await connected(cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task ReconnectLoopAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                // Wake on a lost connection, and look every few seconds in case a loss went unnoticed.
                await _lost.WaitAsync(TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
                if (!IsConnected)
                {
                    await ConnectWithBackoffAsync(cancellationToken).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            Log.ReconnectStopped(_logger);
        }
    }

    private Task OnDisconnectedAsync(MqttClientDisconnectedEventArgs e)
    {
        _subscribed = false;
        if (!_stopping.IsCancellationRequested && e.ClientWasConnected)
        {
            Log.Disconnected(_logger, e.Reason.ToString(), e.Exception?.Message ?? e.ReasonString ?? "");
            if (_lost.CurrentCount == 0)
            {
                try
                {
                    _lost.Release();
                }
                catch (SemaphoreFullException)
                {
                    // Already signalled by a concurrent disconnect; one wake-up is enough.
                }
            }
        }

        return Task.CompletedTask;
    }

    private Task OnMessageAsync(MqttApplicationMessageReceivedEventArgs e) =>
        MessageReceived is { } handler ? handler(e) : Task.CompletedTask;
}

/// <summary>
/// What one MQTT client of the daemon is for: its client id (the broker keeps its session under it), the filters it
/// subscribes to, and whether it owns the device's retained <c>…/status</c> (and the <c>offline</c> last will).
/// </summary>
/// <param name="ClientId">The MQTT client id; stable, so the broker keeps the session.</param>
/// <param name="Subscriptions">Topic filters subscribed at QoS 1 after every (re)connection.</param>
/// <param name="AnnouncesStatus">Whether this client publishes <c>…/status</c> and leaves the <c>offline</c> will.</param>
/// <param name="KeepsSession">
/// Whether the broker keeps the session while the client is away (clean start off, <c>Mqtt:SessionExpiry</c>), so
/// messages for it wait; otherwise each connection starts clean and nothing is queued for it.
/// </param>
/// <param name="AnnouncesAvailability">
/// Whether this client publishes <c>online</c> to <c>…/availability</c> on every connection and <c>offline</c> when it
/// stops, and leaves <c>offline</c> there as its will (a client with <paramref name="AnnouncesStatus"/> cannot: MQTT
/// has one will per connection).
/// </param>
public sealed record MqttClientProfile(string ClientId, IReadOnlyList<string> Subscriptions, bool AnnouncesStatus, bool KeepsSession = true, bool AnnouncesAvailability = false)
{
    /// <summary>The job intake: <c>Mqtt:ClientId</c>, the job and cancel topics, the device status, and a kept session.</summary>
    public static MqttClientProfile Intake(MqttOptions options, MqttTopics topics) =>
        new(options.ResolvedClientId, [topics.Jobs, topics.ImageJobs, topics.AudioJobs, topics.CancelFilter], AnnouncesStatus: true);
}
