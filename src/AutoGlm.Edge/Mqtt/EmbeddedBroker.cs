using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using MQTTnet.Protocol;
using MQTTnet.Server;

namespace AutoGlm.Edge.Mqtt;

/// <summary>
/// The embedded MQTT broker (MQTTnet.Server), started before the intake when <c>Mqtt:Broker</c> is <c>embedded</c>
/// (the default). It listens exactly on the addresses <c>Mqtt:Host</c> names (<see cref="BrokerAddresses"/>; default
/// 127.0.0.1 only, no IPv6 listener) at <c>Mqtt:Port</c> (1883), and logs each endpoint it opened. With
/// <c>Mqtt:Username</c> and <c>Mqtt:Password</c> set, every client must log in with them; without them the options
/// validator refuses any listener beyond loopback.
/// </summary>
/// <remarks>
/// Retained messages and persistent sessions (their subscriptions, and QoS 1/2 messages queued while their client is
/// away) are kept in <c>broker.db</c> in the state folder (<see cref="BrokerPersistence"/>; <c>Mqtt:Persistence</c>), so
/// they outlive a restart. Clients without an id are given one: MQTT 5 and 3.1.1 with a clean session, as the specs
/// allow and Mosquitto does (<see cref="ClientIds"/>). So that a crash
/// still loses no acknowledged job, the broker hands each job message to <see cref="JobIntake.TryTakeAtBroker"/>
/// before it acknowledges the publish: the publisher's PUBACK comes after the journal commit, as with an external
/// broker. Job messages taken that way are not forwarded to other subscribers of <c>…/jobs</c>. A job the journal
/// cannot take (a full disk) is refused: PUBACK reason code 0x97 (quota exceeded) and a <c>storage_full</c> result.
/// </remarks>
public sealed partial class EmbeddedBroker : IHostedService, IDisposable
{
    private static readonly TimeSpan RefusedLoginWarningInterval = TimeSpan.FromMinutes(1);
    private readonly MqttOptions _options;
    private readonly IServiceProvider _services;
    private readonly ILogger _logger;
    private readonly LogThrottle _refusedLogins;
    private readonly TimeProvider _time;
    private MqttServer? _server;
    private BrokerPersistence? _persistence;

    public EmbeddedBroker(IOptions<MqttOptions> options, IServiceProvider services, TimeProvider time, ILogger<EmbeddedBroker> logger)
    {
        _options = options.Value;
        _services = services;
        _logger = logger;
        _time = time;
        _refusedLogins = new LogThrottle(time, RefusedLoginWarningInterval);
    }

    /// <summary>Whether the broker is running.</summary>
    public bool IsRunning => _server?.IsStarted == true;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (!_options.IsEmbedded)
        {
            return;
        }

        // The validator has checked Mqtt:Host already; this only guards a start without it.
        var addresses = BrokerAddresses.Parse(_options.Host, out var problem)
            ?? throw new MqttException($"Mqtt:Host '{_options.Host}' {problem}", "Mqtt:Host");
        var serverOptions = new MqttServerOptionsBuilder()
            .WithDefaultEndpoint()
            .WithDefaultEndpointBoundIPAddress(addresses.V4 ?? IPAddress.None)
            .WithDefaultEndpointBoundIPV6Address(addresses.V6 ?? IPAddress.None)
            .WithDefaultEndpointPort(_options.Port)
            .WithPersistentSessions(true)
            .WithMaxPendingMessagesPerClient(100_000)
            .Build();
        _server = new MqttServerFactory().CreateMqttServer(serverOptions);
        _server.ValidatingConnectionAsync += e =>
        {
            if (!string.IsNullOrEmpty(_options.Username) && !HasCredentials(e))
            {
                e.ReasonCode = MqttConnectReasonCode.BadUserNameOrPassword;
                if (_refusedLogins.ShouldLog(out var heldBack))
                {
                    Log.LoginRefused(_logger, e.RemoteEndPoint?.ToString() ?? "?", e.ClientId, heldBack);
                }

                return Task.CompletedTask;
            }

            if (string.IsNullOrEmpty(e.ClientId) && !ClientIds.AssignIfAllowed(e))
            {
                e.ReasonCode = MqttConnectReasonCode.ClientIdentifierNotValid;
                return Task.CompletedTask;
            }

            BrokerPersistence.NoteSession(e);
            return Task.CompletedTask;
        };
        if (_options.Persistence)
        {
            var path = Path.Combine(_services.GetRequiredService<Hosting.StateLocation>().Directory, BrokerStore.FileName);
            _persistence = BrokerPersistence.Open(path, _time, _logger);
            _persistence?.Attach(_server);
        }

        var intake = _services.GetRequiredService<JobIntake>();
        _server.InterceptingPublishAsync += e =>
        {
            try
            {
                if (_persistence?.IsRedelivery(e.ApplicationMessage) == true)
                {
                    // Delivered again to the one client it was queued for after a restart; it is no new job.
                    return Task.CompletedTask;
                }

                if (intake.TryTakeAtBroker(e.ApplicationMessage))
                {
                    e.ProcessPublish = false;
                }
            }
            catch (JournalFullException ex)
            {
                // Not journaled, so not taken: the broker shares the daemon's disk and process, so routing it on would
                // only lose it. The publisher sees a failed PUBACK (MQTT 5) and gets the error result.
                e.ProcessPublish = false;
                e.Response.ReasonCode = MQTTnet.Protocol.MqttPubAckReasonCode.QuotaExceeded;
                e.Response.ReasonString = "storage_full: the job journal cannot be written; send the job again later";
                intake.AnswerNotTaken(ex);
                Log.NotTaken(_logger, ex.JobId ?? "(no id)", e.ApplicationMessage.Topic, e.ClientId, ex.InnerException!.Message, ex.ReplyTopic);
            }

            return Task.CompletedTask;
        };

        try
        {
            await _server.StartAsync().ConfigureAwait(false);
        }
        catch (SocketException ex)
        {
            DisposeAfterFailedStart();
            throw CannotListen(addresses, ex);
        }

        foreach (var address in addresses.All)
        {
            Log.Listening(_logger, BrokerAddresses.Describe(address, _options.Port));
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_server is { IsStarted: true })
        {
            await _server.StopAsync(new MqttServerStopOptions()).ConfigureAwait(false);
            Log.Stopped(_logger);
        }
    }

    public void Dispose()
    {
        _server?.Dispose();
        _persistence?.Dispose();
    }

    private bool HasCredentials(ValidatingConnectionEventArgs e)
    {
        var user = Encoding.UTF8.GetBytes(e.UserName ?? "");
        var password = e.RawPassword ?? [];
        return CryptographicOperations.FixedTimeEquals(user, Encoding.UTF8.GetBytes(_options.Username ?? ""))
            & CryptographicOperations.FixedTimeEquals(password, Encoding.UTF8.GetBytes(_options.Password ?? ""));
    }

    // One listener may have opened before the other failed: close it, so the port is not left half taken.
    private void DisposeAfterFailedStart()
    {
        _server?.Dispose();
        _server = null;
    }

    // MQTTnet does not say which listener failed; find it by binding each endpoint once more, now that ours are closed.
    private MqttException CannotListen(BrokerAddresses addresses, SocketException ex)
    {
        var failed = addresses.All.FirstOrDefault(a => !CanBind(a, _options.Port)) ?? addresses.All[0];
        var endpoint = BrokerAddresses.Describe(failed, _options.Port);
        var message = ex.SocketErrorCode switch
        {
            SocketError.AddressAlreadyInUse => $"the embedded MQTT broker cannot listen on {endpoint}: the port is already in use (another broker or daemon?); set Mqtt:Port to a free port, or Mqtt:Broker=external to use the broker that is there",
            SocketError.AddressNotAvailable => $"the embedded MQTT broker cannot listen on {endpoint}: the address is not on this machine; check Mqtt:Host",
            SocketError.AccessDenied => $"the embedded MQTT broker cannot listen on {endpoint}: permission denied (a port below 1024 needs privileges); set Mqtt:Port",
            _ => $"the embedded MQTT broker cannot listen on {endpoint}: {ex.Message}; check Mqtt:Host and Mqtt:Port",
        };
        return new MqttException(message, ex.SocketErrorCode == SocketError.AddressNotAvailable ? "Mqtt:Host" : "Mqtt:Port", ex);
    }

    private static bool CanBind(IPAddress address, int port)
    {
        try
        {
            using var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(address, port));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static partial class Log
    {
        [LoggerMessage(4401, LogLevel.Information, "Embedded MQTT broker listening on {Endpoint}")]
        public static partial void Listening(ILogger logger, string endpoint);

        [LoggerMessage(4402, LogLevel.Information, "Embedded MQTT broker stopped")]
        public static partial void Stopped(ILogger logger);

        [LoggerMessage(4404, LogLevel.Warning, "Embedded MQTT broker refused a login from {Endpoint} (client id '{ClientId}'): wrong or missing Mqtt:Username/Mqtt:Password ({HeldBack} more refused since the last such warning)")]
        public static partial void LoginRefused(ILogger logger, string endpoint, string clientId, int heldBack);

        [LoggerMessage(4420, LogLevel.Warning, "Refused job {JobId} on {Topic} from {ClientId}: the job journal cannot be written ({Problem}); the publisher got PUBACK 0x97 (quota exceeded) and a storage_full result on {ReplyTopic}")]
        public static partial void NotTaken(ILogger logger, string jobId, string topic, string clientId, string problem, string replyTopic);
    }
}
