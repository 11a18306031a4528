using System.Net;
using Microsoft.Extensions.Options;
using MQTTnet.Server;

namespace AutoGlm.Edge.Mqtt;

/// <summary>
/// The embedded MQTT broker (MQTTnet.Server), started before the intake when <c>Mqtt:Broker</c> is <c>embedded</c>
/// (the default), on <c>Mqtt:Host</c>:<c>Mqtt:Port</c> (127.0.0.1:1883).
/// </summary>
/// <remarks>
/// Sessions live in memory: they survive client reconnections but not a restart of the daemon. So that a crash
/// still loses no acknowledged job, the broker hands each job message to <see cref="JobIntake.TryTakeAtBroker"/>
/// before it acknowledges the publish: the publisher's PUBACK comes after the journal commit, as with an external
/// broker. Job messages taken that way are not forwarded to other subscribers of <c>…/jobs</c>. A job the journal
/// cannot take (a full disk) is refused: PUBACK reason code 0x97 (quota exceeded) and a <c>storage_full</c> result.
/// </remarks>
public sealed partial class EmbeddedBroker : IHostedService, IDisposable
{
    private readonly MqttOptions _options;
    private readonly IServiceProvider _services;
    private readonly ILogger _logger;
    private MqttServer? _server;

    public EmbeddedBroker(IOptions<MqttOptions> options, IServiceProvider services, ILogger<EmbeddedBroker> logger)
    {
        _options = options.Value;
        _services = services;
        _logger = logger;
    }

    /// <summary>Whether the broker is running.</summary>
    public bool IsRunning => _server?.IsStarted == true;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (!_options.IsEmbedded)
        {
            return;
        }

        var address = IPAddress.TryParse(_options.Host, out var parsed) ? parsed : IPAddress.Loopback;
        var serverOptions = new MqttServerOptionsBuilder()
            .WithDefaultEndpoint()
            .WithDefaultEndpointBoundIPAddress(address)
            .WithDefaultEndpointPort(_options.Port)
            .WithPersistentSessions(true)
            .WithMaxPendingMessagesPerClient(100_000)
            .Build();
        _server = new MqttServerFactory().CreateMqttServer(serverOptions);
        _server.ValidatingConnectionAsync += e =>
        {
            // MQTT 5 lets a client leave its id empty and have the broker assign one (mosquitto_pub does).
            if (string.IsNullOrEmpty(e.ClientId))
            {
                e.AssignedClientIdentifier = "auto-" + Guid.NewGuid().ToString("N");
            }

            return Task.CompletedTask;
        };
        var intake = _services.GetRequiredService<JobIntake>();
        _server.InterceptingPublishAsync += e =>
        {
            try
            {
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
        await _server.StartAsync().ConfigureAwait(false);
        Log.Started(_logger, address.ToString(), _options.Port);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_server is { IsStarted: true })
        {
            await _server.StopAsync(new MqttServerStopOptions()).ConfigureAwait(false);
            Log.Stopped(_logger);
        }
    }

    public void Dispose() => _server?.Dispose();

    private static partial class Log
    {
        [LoggerMessage(4401, LogLevel.Information, "Embedded MQTT broker listening on {Address}:{Port}")]
        public static partial void Started(ILogger logger, string address, int port);

        [LoggerMessage(4402, LogLevel.Information, "Embedded MQTT broker stopped")]
        public static partial void Stopped(ILogger logger);

        [LoggerMessage(4420, LogLevel.Warning, "Refused job {JobId} on {Topic} from {ClientId}: the job journal cannot be written ({Problem}); the publisher got PUBACK 0x97 (quota exceeded) and a storage_full result on {ReplyTopic}")]
        public static partial void NotTaken(ILogger logger, string jobId, string topic, string clientId, string problem, string replyTopic);
    }
}
