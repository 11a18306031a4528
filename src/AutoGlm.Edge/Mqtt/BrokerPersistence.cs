using System.Collections;
using System.Runtime.CompilerServices;
using Microsoft.Data.Sqlite;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;
using MQTTnet.Server;

namespace AutoGlm.Edge.Mqtt;

/// <summary>
/// Keeps the embedded broker's state across daemon restarts, as Mosquitto's persistence does: retained messages,
/// the subscriptions of persistent sessions (MQTT 3.1.1 clean session off, MQTT 5 session expiry above 0), and the
/// QoS 1/2 messages that arrived for such a session while its client was away (at most
/// <see cref="PendingLimitPerClient"/> each, the oldest dropped first).
/// </summary>
/// <remarks>
/// MQTTnet keeps sessions in memory only, so a persistent client that comes back after a restart gets a new session
/// (CONNACK session-present 0); the stored subscriptions are put back into it and the queued messages delivered to it
/// alone. A message queued for an away client is on disk before the broker answers its publisher. What was queued but
/// not yet delivered to a client that is connected is the broker's in memory and not kept. A store that cannot be
/// written is warned about (at most once a minute) and the broker carries on without it.
/// </remarks>
public sealed partial class BrokerPersistence : IDisposable
{
    /// <summary>Most messages kept on disk for one away client.</summary>
    public const int PendingLimitPerClient = 1000;

    private const string PersistentSessionKey = "autoglm.persistent-session";
    private const string RestoreSenderId = "autoglm-broker-restore";

    private readonly BrokerStore _store;
    private readonly ILogger _logger;
    private readonly LogThrottle _writeFailures;
    private readonly Lock _gate = new();

    // Sessions that were on disk at start and whose clients have not come back since.
    private readonly HashSet<string> _stored;
    private readonly HashSet<string> _persistent = [];
    private readonly HashSet<string> _connected = [];

    // A message being delivered again after a restart, and the one client it is for.
    private readonly ConditionalWeakTable<MqttApplicationMessage, string> _redeliveries = [];

    private BrokerPersistence(BrokerStore store, TimeProvider time, ILogger logger)
    {
        _store = store;
        _logger = logger;
        _writeFailures = new LogThrottle(time, TimeSpan.FromMinutes(1));
        _stored = store.LoadSessionIds();
    }

    /// <summary>
    /// Opens the store at <paramref name="path"/>; a damaged file is moved aside (<c>broker.db.corrupt-…</c>) and the
    /// broker starts with an empty one. Null, with an error logged, when no store can be opened there (permissions, a
    /// full disk): the broker then runs without one, since retained messages and away clients' queues are worth less
    /// than a daemon that serves.
    /// </summary>
    public static BrokerPersistence? Open(string path, TimeProvider time, ILogger logger)
    {
        try
        {
            try
            {
                return new BrokerPersistence(BrokerStore.Open(path), time, logger);
            }
            catch (Exception ex) when (ex is InvalidDataException || ex is SqliteException { SqliteErrorCode: 11 or 26 })
            {
                var movedTo = Journal.JournalFile.MoveAside(path, time.GetUtcNow());
                Log.MovedAside(logger, path, ex.Message, movedTo);
            }

            return new BrokerPersistence(BrokerStore.Open(path), time, logger);
        }
        catch (Exception ex) when (ex is SqliteException or IOException or UnauthorizedAccessException or InvalidDataException)
        {
            Log.CannotOpen(logger, path, ex.Message);
            return null;
        }
    }

    /// <summary>How many sessions were stored at start and have not come back yet.</summary>
    public int StoredSessionsAway
    {
        get
        {
            lock (_gate)
            {
                return _stored.Count;
            }
        }
    }

    /// <summary>Marks a connecting client's session as persistent or not; call it for every accepted connection.</summary>
    public static void NoteSession(ValidatingConnectionEventArgs e) =>
        e.SessionItems[PersistentSessionKey] = e.ProtocolVersion == MqttProtocolVersion.V500 ? e.SessionExpiryInterval > 0 : e.CleanSession == false;

    /// <summary>Whether <paramref name="message"/> is one this store is delivering again (the intake must not take it as new).</summary>
    public bool IsRedelivery(MqttApplicationMessage message) => _redeliveries.TryGetValue(message, out _);

    /// <summary>Wires the store to <paramref name="server"/>'s events; call before it starts.</summary>
    public void Attach(MqttServer server)
    {
        server.LoadingRetainedMessageAsync += e =>
        {
            e.LoadedRetainedMessages = Guarded(_store.LoadRetained) ?? [];
            return Task.CompletedTask;
        };
        server.RetainedMessageChangedAsync += e => Write(() => _store.SetRetained(e.ChangedRetainedMessage));
        server.RetainedMessagesClearedAsync += _ => Write(_store.ClearRetained);
        server.ClientSubscribedTopicAsync += e => IsPersistent(e.SessionItems) ? Write(() => _store.AddSubscription(e.ClientId, e.TopicFilter)) : Task.CompletedTask;
        server.ClientUnsubscribedTopicAsync += e => IsPersistent(e.SessionItems) ? Write(() => _store.RemoveSubscription(e.ClientId, e.TopicFilter)) : Task.CompletedTask;
        server.SessionDeletedAsync += e =>
        {
            lock (_gate)
            {
                _persistent.Remove(e.Id);
                _stored.Remove(e.Id);
            }

            return Write(() => _store.RemoveSession(e.Id));
        };
        server.ClientConnectedAsync += e => OnConnectedAsync(server, e);
        server.ClientDisconnectedAsync += e =>
        {
            // A take-over's old connection reports its end after the new one is in.
            if (e.DisconnectType != MqttClientDisconnectType.Takeover)
            {
                lock (_gate)
                {
                    _connected.Remove(e.ClientId);
                }
            }

            return Task.CompletedTask;
        };
        server.ApplicationMessageEnqueuedOrDroppedAsync += e =>
        {
            bool away;
            lock (_gate)
            {
                away = _persistent.Contains(e.ReceiverClientId) && !_connected.Contains(e.ReceiverClientId);
            }

            return away && !e.IsDropped && e.ApplicationMessage.QualityOfServiceLevel > MqttQualityOfServiceLevel.AtMostOnce
                ? Write(() => _store.AddPending(e.ReceiverClientId, e.ApplicationMessage, PendingLimitPerClient))
                : Task.CompletedTask;
        };
        server.InterceptingClientEnqueueAsync += e =>
        {
            if (_redeliveries.TryGetValue(e.ApplicationMessage, out var only))
            {
                e.AcceptEnqueue = e.ReceiverClientId == only;
            }

            return Task.CompletedTask;
        };
    }

    public void Dispose() => _store.Dispose();

    private async Task OnConnectedAsync(MqttServer server, ClientConnectedEventArgs e)
    {
        var persistent = IsPersistent(e.SessionItems);
        bool wasStored;
        lock (_gate)
        {
            wasStored = _stored.Remove(e.ClientId);
            _connected.Add(e.ClientId);
            if (persistent)
            {
                _persistent.Add(e.ClientId);
            }
            else
            {
                _persistent.Remove(e.ClientId);
            }
        }

        if (!persistent)
        {
            // A clean start ends whatever session the client had, on disk too.
            await Write(() => _store.RemoveSession(e.ClientId)).ConfigureAwait(false);
            return;
        }

        if (wasStored)
        {
            var subscriptions = Guarded(() => _store.LoadSubscriptions(e.ClientId)) ?? [];
            var pending = Guarded(() => _store.LoadPending(e.ClientId)) ?? [];
            if (subscriptions.Count > 0)
            {
                await server.SubscribeAsync(e.ClientId, subscriptions).ConfigureAwait(false);
            }

            foreach (var message in pending)
            {
                message.Retain = false;
                _redeliveries.Add(message, e.ClientId);
                await server.InjectApplicationMessage(new InjectedMqttApplicationMessage(message) { SenderClientId = RestoreSenderId }, CancellationToken.None).ConfigureAwait(false);
            }

            Log.Restored(_logger, e.ClientId, subscriptions.Count, pending.Count);
        }

        // From here the broker holds this client's queue in memory.
        await Write(() => _store.ClearPending(e.ClientId)).ConfigureAwait(false);
    }

    private static bool IsPersistent(IDictionary items) => items[PersistentSessionKey] is true;

    private Task Write(Action write)
    {
        Guarded<object>(() =>
        {
            write();
            return this;
        });
        return Task.CompletedTask;
    }

    private T? Guarded<T>(Func<T> action)
        where T : class
    {
        try
        {
            lock (_gate)
            {
                return action();
            }
        }
        catch (Exception ex) when (ex is SqliteException or IOException or InvalidDataException or System.Text.Json.JsonException)
        {
            if (_writeFailures.ShouldLog(out var heldBack))
            {
                Log.StoreFailed(_logger, _store.Path, ex.Message, heldBack);
            }

            return null;
        }
    }

    private static partial class Log
    {
        [LoggerMessage(4430, LogLevel.Information, "Embedded MQTT broker: client {ClientId} is back after a restart; restored its {Subscriptions} subscriptions and delivered the {Pending} messages kept for it")]
        public static partial void Restored(ILogger logger, string clientId, int subscriptions, int pending);

        [LoggerMessage(4431, LogLevel.Warning, "Embedded MQTT broker: its store {Path} cannot be used ({Problem}); retained messages and away clients' queues are kept in memory only until it can ({HeldBack} more failures since the last such warning)")]
        public static partial void StoreFailed(ILogger logger, string path, string problem, int heldBack);

        [LoggerMessage(4432, LogLevel.Error, "Embedded MQTT broker: its store {Path} is damaged ({Damage}); moved it aside to {MovedTo} and started an empty one (retained messages and away clients' queues in it are not restored)")]
        public static partial void MovedAside(ILogger logger, string path, string damage, string movedTo);

        [LoggerMessage(4433, LogLevel.Error, "Embedded MQTT broker: its store {Path} cannot be opened ({Problem}); it runs without one, so retained messages and away clients' queues will not outlive a restart (check the state folder, or set Mqtt:Persistence=false)")]
        public static partial void CannotOpen(ILogger logger, string path, string problem);
    }
}
