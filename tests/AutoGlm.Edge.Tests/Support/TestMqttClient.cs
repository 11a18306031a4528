using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Packets;
using MQTTnet.Protocol;

namespace AutoGlm.Edge.Tests.Support;

/// <summary>A message the test client received.</summary>
public sealed record Received(string Topic, byte[] Payload, byte[]? Correlation, bool Retain)
{
    public string Text => Encoding.UTF8.GetString(Payload);

    public JsonElement Json => JsonDocument.Parse(Payload).RootElement;

    public string? CorrelationText => Correlation is null ? null : Encoding.UTF8.GetString(Correlation);

    /// <summary>The result's <c>error.code</c>, or null for a success.</summary>
    public string? ErrorCode => Json.TryGetProperty("error", out var error) ? error.GetProperty("code").GetString() : null;
}

/// <summary>
/// An MQTT 5 client for tests: subscribes to filters, records what arrives, publishes jobs. With
/// <c>persistent</c>, it keeps a session (clean start off) and reconnects by itself, so nothing is lost while a
/// broker restarts.
/// </summary>
public sealed class TestMqttClient : IAsyncDisposable
{
    private readonly IMqttClient _client;
    private readonly MqttClientOptions _options;
    private readonly string[] _filters;
    private readonly bool _persistent;
    private readonly CancellationTokenSource _disposed = new();
    private readonly ConcurrentQueue<Received> _received = new();

    private TestMqttClient(int port, string clientId, bool persistent, string[] filters, (string User, string Password)? credentials = null, string host = "127.0.0.1")
    {
        _persistent = persistent;
        _filters = filters;
        _client = new MqttClientFactory().CreateMqttClient();
        var options = new MqttClientOptionsBuilder()
            .WithTcpServer(host, port)
            .WithProtocolVersion(MqttProtocolVersion.V500)
            .WithClientId(clientId)
            .WithCleanStart(!persistent)
            .WithSessionExpiryInterval(persistent ? 600u : 0u)
            .WithTimeout(TimeSpan.FromSeconds(10));
        if (credentials is { } c)
        {
            options.WithCredentials(c.User, c.Password);
        }

        _options = options.Build();
        _client.ApplicationMessageReceivedAsync += e =>
        {
            var m = e.ApplicationMessage;
            _received.Enqueue(new Received(m.Topic, System.Buffers.BuffersExtensions.ToArray(m.Payload), m.CorrelationData, m.Retain));
            return Task.CompletedTask;
        };
        _client.DisconnectedAsync += async e =>
        {
            while (_persistent && !_disposed.IsCancellationRequested && !_client.IsConnected)
            {
                try
                {
                    await Task.Delay(200, _disposed.Token);
                    await ConnectAndSubscribeAsync();
                }
                catch (Exception ex) when (ex is MQTTnet.Exceptions.MqttCommunicationException or OperationCanceledException or InvalidOperationException)
                {
                    // The broker is still down; try again.
                }
            }
        };
    }

    /// <summary>Everything received so far.</summary>
    public IReadOnlyList<Received> Messages => [.. _received];

    public bool IsConnected => _client.IsConnected;

    public static async Task<TestMqttClient> ConnectAsync(int port, bool persistent = false, params string[] filters)
    {
        var client = new TestMqttClient(port, "test-" + Guid.NewGuid().ToString("N")[..12], persistent, filters);
        await client.ConnectAndSubscribeAsync();
        return client;
    }

    /// <summary>Connects once with these credentials and returns what the broker answered (the connection is closed again).</summary>
    public static async Task<MqttClientConnectResultCode> LoginAsync(string host, int port, string? username, string? password)
    {
        var client = new TestMqttClient(port, "test-" + Guid.NewGuid().ToString("N")[..12], persistent: false, [], username is null ? null : (username, password ?? ""), host);
        await using (client)
        {
            return (await client._client.ConnectAsync(client._options)).ResultCode;
        }
    }

    /// <summary>Connects (non-persistent) to <paramref name="host"/> with a user name and password; throws when refused.</summary>
    public static async Task<TestMqttClient> ConnectAsync(string host, int port, string? username, string? password, params string[] filters)
    {
        var client = new TestMqttClient(port, "test-" + Guid.NewGuid().ToString("N")[..12], persistent: false, filters, username is null ? null : (username, password ?? ""), host);
        try
        {
            await client.ConnectAndSubscribeAsync();
        }
        catch
        {
            await client.DisposeAsync();
            throw;
        }

        return client;
    }

    /// <summary>Publishes at QoS 1 and waits for the broker's acknowledgement.</summary>
    public async Task PublishAsync(string topic, byte[] payload, string? responseTopic = null, string? correlation = null, IEnumerable<(string Name, string Value)>? userProperties = null, bool retain = false)
    {
        var builder = new MqttApplicationMessageBuilder()
            .WithTopic(topic)
            .WithPayload(payload)
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
            .WithRetainFlag(retain);
        if (responseTopic is not null)
        {
            builder.WithResponseTopic(responseTopic);
        }

        if (correlation is not null)
        {
            builder.WithCorrelationData(Encoding.UTF8.GetBytes(correlation));
        }

        foreach (var (name, value) in userProperties ?? [])
        {
            builder.WithUserProperty(name, Encoding.UTF8.GetBytes(value).AsMemory());
        }

        await _client.PublishAsync(builder.Build());
    }

    /// <summary>Publishes at QoS 1 and returns the reason code of the broker's PUBACK (MQTT 5: a failure is 0x80 or above).</summary>
    public async Task<MqttClientPublishReasonCode> PublishForReasonAsync(string topic, byte[] payload, string? responseTopic = null)
    {
        var builder = new MqttApplicationMessageBuilder()
            .WithTopic(topic)
            .WithPayload(payload)
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce);
        if (responseTopic is not null)
        {
            builder.WithResponseTopic(responseTopic);
        }

        var result = await _client.PublishAsync(builder.Build());
        return result.ReasonCode;
    }

    public Task PublishAsync(string topic, string payload, string? responseTopic = null, string? correlation = null) =>
        PublishAsync(topic, Encoding.UTF8.GetBytes(payload), responseTopic, correlation);

    /// <summary>Waits for the first message matching <paramref name="match"/>.</summary>
    public async Task<Received> WaitForAsync(Func<Received, bool> match, string what, TimeSpan? timeout = null)
    {
        Received? found = null;
        await Poll.UntilAsync(() => (found = _received.FirstOrDefault(match)) is not null, what, timeout);
        return found!;
    }

    /// <summary>Waits for the result on <paramref name="topic"/>.</summary>
    public Task<Received> WaitForTopicAsync(string topic, TimeSpan? timeout = null) =>
        WaitForAsync(m => m.Topic == topic, "a message on " + topic, timeout);

    public async ValueTask DisposeAsync()
    {
        await _disposed.CancelAsync();
        if (_client.IsConnected)
        {
            await _client.DisconnectAsync(new MqttClientDisconnectOptions());
        }

        _client.Dispose();
        _disposed.Dispose();
    }

    private async Task ConnectAndSubscribeAsync()
    {
        var result = await _client.ConnectAsync(_options);
        if (result.ResultCode != MqttClientConnectResultCode.Success)
        {
            throw new InvalidOperationException($"the broker refused the connection: {result.ResultCode}");
        }

        if (_filters.Length > 0)
        {
            var subscribe = new MqttClientSubscribeOptionsBuilder();
            foreach (var filter in _filters)
            {
                subscribe.WithTopicFilter(filter, MqttQualityOfServiceLevel.AtLeastOnce);
            }

            await _client.SubscribeAsync(subscribe.Build());
        }
    }
}
