using System.Text.Json;
using Microsoft.Data.Sqlite;
using MQTTnet;
using MQTTnet.Packets;
using MQTTnet.Protocol;

namespace AutoGlm.Edge.Mqtt;

/// <summary>
/// What the embedded broker keeps on disk so that it outlives the daemon (<c>broker.db</c> in the state folder, SQLite):
/// retained messages, the subscriptions of persistent sessions, and the QoS 1/2 messages queued for persistent
/// sessions whose clients are away. Mosquitto keeps the same three in its <c>mosquitto.db</c>.
/// </summary>
/// <remarks>Not thread-safe by itself: <see cref="BrokerPersistence"/> serializes the calls.</remarks>
public sealed class BrokerStore : IDisposable
{
    /// <summary>The file's name in the state folder.</summary>
    public const string FileName = "broker.db";

    private readonly SqliteConnection _connection;

    private BrokerStore(SqliteConnection connection) => _connection = connection;

    /// <summary>The database file.</summary>
    public string Path => _connection.DataSource;

    /// <summary>Opens (creating it if needed) the store at <paramref name="path"/>.</summary>
    /// <exception cref="SqliteException">The file cannot be opened or is not a usable database.</exception>
    public static BrokerStore Open(string path)
    {
        var builder = new SqliteConnectionStringBuilder { DataSource = path, Pooling = false, Mode = SqliteOpenMode.ReadWriteCreate };
        var connection = new SqliteConnection(builder.ToString());
        try
        {
            connection.Open();
            Execute(connection, """
                PRAGMA journal_mode = WAL;
                PRAGMA synchronous = NORMAL;
                PRAGMA wal_autocheckpoint = 64;
                PRAGMA journal_size_limit = 1048576;
                CREATE TABLE IF NOT EXISTS retained (topic TEXT PRIMARY KEY, message TEXT NOT NULL);
                CREATE TABLE IF NOT EXISTS subscriptions (client_id TEXT NOT NULL, filter TEXT NOT NULL, options TEXT NOT NULL, PRIMARY KEY (client_id, filter));
                CREATE TABLE IF NOT EXISTS pending (seq INTEGER PRIMARY KEY AUTOINCREMENT, client_id TEXT NOT NULL, message TEXT NOT NULL);
                CREATE INDEX IF NOT EXISTS pending_client ON pending (client_id, seq);
                PRAGMA quick_check;
                """);
            return new BrokerStore(connection);
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>All retained messages.</summary>
    public List<MqttApplicationMessage> LoadRetained() =>
        Query("SELECT message FROM retained ORDER BY topic", null, r => StoredMessage.Read(r.GetString(0)));

    /// <summary>Stores <paramref name="message"/> as its topic's retained message, or clears the topic's when the payload is empty.</summary>
    public void SetRetained(MqttApplicationMessage message)
    {
        if (message.Payload.IsEmpty)
        {
            Execute("DELETE FROM retained WHERE topic = $topic", ("$topic", message.Topic));
        }
        else
        {
            Execute("INSERT OR REPLACE INTO retained (topic, message) VALUES ($topic, $message)", ("$topic", message.Topic), ("$message", StoredMessage.Write(message)));
        }
    }

    /// <summary>Clears every retained message.</summary>
    public void ClearRetained() => Execute("DELETE FROM retained");

    /// <summary>The client ids that have stored subscriptions or queued messages.</summary>
    public HashSet<string> LoadSessionIds() =>
        [.. Query("SELECT client_id FROM subscriptions UNION SELECT client_id FROM pending", null, r => r.GetString(0))];

    /// <summary>Records (or updates) one subscription of a persistent session.</summary>
    public void AddSubscription(string clientId, MqttTopicFilter filter) =>
        Execute(
            "INSERT OR REPLACE INTO subscriptions (client_id, filter, options) VALUES ($client, $filter, $options)",
            ("$client", clientId),
            ("$filter", filter.Topic),
            ("$options", JsonSerializer.Serialize(new StoredFilterOptions((int)filter.QualityOfServiceLevel, filter.NoLocal, filter.RetainAsPublished, (int)filter.RetainHandling))));

    /// <summary>Forgets one subscription.</summary>
    public void RemoveSubscription(string clientId, string filter) =>
        Execute("DELETE FROM subscriptions WHERE client_id = $client AND filter = $filter", ("$client", clientId), ("$filter", filter));

    /// <summary>The subscriptions stored for <paramref name="clientId"/>.</summary>
    public List<MqttTopicFilter> LoadSubscriptions(string clientId) =>
        Query("SELECT filter, options FROM subscriptions WHERE client_id = $client ORDER BY filter", ("$client", clientId), r =>
        {
            var options = JsonSerializer.Deserialize<StoredFilterOptions>(r.GetString(1))!;
            return new MqttTopicFilter
            {
                Topic = r.GetString(0),
                QualityOfServiceLevel = (MqttQualityOfServiceLevel)options.Qos,
                NoLocal = options.NoLocal,
                RetainAsPublished = options.RetainAsPublished,
                RetainHandling = (MqttRetainHandling)options.RetainHandling,
            };
        });

    /// <summary>Queues <paramref name="message"/> for the away client <paramref name="clientId"/>, keeping at most <paramref name="limit"/> (the oldest go first).</summary>
    public void AddPending(string clientId, MqttApplicationMessage message, int limit)
    {
        using var transaction = _connection.BeginTransaction();
        Execute("INSERT INTO pending (client_id, message) VALUES ($client, $message)", ("$client", clientId), ("$message", StoredMessage.Write(message)));
        Execute(
            "DELETE FROM pending WHERE client_id = $client AND seq NOT IN (SELECT seq FROM pending WHERE client_id = $client ORDER BY seq DESC LIMIT $limit)",
            ("$client", clientId),
            ("$limit", limit));
        transaction.Commit();
    }

    /// <summary>The messages queued for <paramref name="clientId"/>, oldest first.</summary>
    public List<MqttApplicationMessage> LoadPending(string clientId) =>
        Query("SELECT message FROM pending WHERE client_id = $client ORDER BY seq", ("$client", clientId), r => StoredMessage.Read(r.GetString(0)));

    /// <summary>Forgets the messages queued for <paramref name="clientId"/> (its client is back and the broker holds them).</summary>
    public void ClearPending(string clientId) => Execute("DELETE FROM pending WHERE client_id = $client", ("$client", clientId));

    /// <summary>Forgets everything of a session that ended.</summary>
    public void RemoveSession(string clientId)
    {
        using var transaction = _connection.BeginTransaction();
        Execute("DELETE FROM subscriptions WHERE client_id = $client", ("$client", clientId));
        Execute("DELETE FROM pending WHERE client_id = $client", ("$client", clientId));
        transaction.Commit();
    }

    public void Dispose() => _connection.Dispose();

    private void Execute(string sql, params (string Name, object Value)[] parameters)
    {
        using var command = _connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        command.ExecuteNonQuery();
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        using var reader = command.ExecuteReader();
        do
        {
            while (reader.Read())
            {
                if (reader.FieldCount == 1 && reader.GetName(0) == "quick_check" && reader.GetString(0) != "ok")
                {
                    throw new InvalidDataException(reader.GetString(0));
                }
            }
        }
        while (reader.NextResult());
    }

    private List<T> Query<T>(string sql, (string Name, object Value)? parameter, Func<SqliteDataReader, T> read)
    {
        using var command = _connection.CreateCommand();
        command.CommandText = sql;
        if (parameter is var (name, value))
        {
            command.Parameters.AddWithValue(name, value);
        }

        var rows = new List<T>();
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            rows.Add(read(reader));
        }

        return rows;
    }

    private sealed record StoredFilterOptions(int Qos, bool NoLocal, bool RetainAsPublished, int RetainHandling);

    // A message as JSON: every field a subscriber can see, the payload and correlation data in base64.
    private sealed record StoredMessage(
        string Topic,
        string Payload,
        int Qos,
        bool Retain,
        string? ContentType,
        string? ResponseTopic,
        string? CorrelationData,
        int PayloadFormat,
        uint ExpirySeconds,
        List<string[]>? UserProperties)
    {
        public static string Write(MqttApplicationMessage m) => JsonSerializer.Serialize(new StoredMessage(
            m.Topic,
            Convert.ToBase64String(System.Buffers.BuffersExtensions.ToArray(m.Payload)),
            (int)m.QualityOfServiceLevel,
            m.Retain,
            m.ContentType,
            m.ResponseTopic,
            m.CorrelationData is { Length: > 0 } c ? Convert.ToBase64String(c) : null,
            (int)m.PayloadFormatIndicator,
            m.MessageExpiryInterval,
            m.UserProperties?.Select(p => new[] { p.Name, p.ReadValueAsString() }).ToList()));

        public static MqttApplicationMessage Read(string json)
        {
            var s = JsonSerializer.Deserialize<StoredMessage>(json)!;
            var builder = new MqttApplicationMessageBuilder()
                .WithTopic(s.Topic)
                .WithPayload(Convert.FromBase64String(s.Payload))
                .WithQualityOfServiceLevel((MqttQualityOfServiceLevel)s.Qos)
                .WithRetainFlag(s.Retain)
                .WithPayloadFormatIndicator((MqttPayloadFormatIndicator)s.PayloadFormat)
                .WithMessageExpiryInterval(s.ExpirySeconds);
            if (s.ContentType is not null)
            {
                builder.WithContentType(s.ContentType);
            }

            if (s.ResponseTopic is not null)
            {
                builder.WithResponseTopic(s.ResponseTopic);
            }

            if (s.CorrelationData is not null)
            {
                builder.WithCorrelationData(Convert.FromBase64String(s.CorrelationData));
            }

            foreach (var pair in s.UserProperties ?? [])
            {
                builder.WithUserProperty(pair[0], System.Text.Encoding.UTF8.GetBytes(pair[1]));
            }

            return builder.Build();
        }
    }
}
