using System.Buffers;
using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using AutoGlm.Cluster.Contract;
using AutoGlm.Cluster.Routing;
using Microsoft.Extensions.AI;
using MQTTnet;
using MQTTnet.Protocol;

namespace AutoGlm.Cluster.Nodes;

/// <summary>
/// A heavy node reached through an MQTT broker only (<c>Cluster:Nodes:N:Mqtt</c>): each request is published as a JSON
/// job on the node's <c>…/jobs</c> topic with an MQTT 5 response topic, and its result is read back from there.
/// </summary>
/// <remarks>
/// <para>
/// Thread-safe; one broker connection for every request. The node is healthy while its retained <c>…/status</c> says
/// <c>online</c> (its last will says <c>offline</c>). The answer comes back whole, as the node's journaled result: the
/// node's stream deltas are QoS 0 and may be lost, so they are not used. A result never arrives when the node dies
/// before answering (the node runs the job again when it restarts): <see cref="ClusterOptions.RequestTimeout"/> ends
/// the wait, and as nothing was answered the router fails over.
/// </para>
/// <para>Owns its MQTT client.</para>
/// </remarks>
public sealed class MqttNodeChatClient : IChatClient
{
    private readonly IMqttClient _client;
    private readonly MqttNodeOptions _options;
    private readonly string _topic;
    private readonly MqttTopics _node;
    private readonly string _replyRoot;
    private readonly TimeSpan _timeout;
    private readonly SemaphoreSlim _connecting = new(1, 1);
    private readonly ConcurrentDictionary<string, TaskCompletionSource<byte[]>> _pending = new(StringComparer.Ordinal);
    private volatile bool _online;

    /// <summary>Creates the client; it connects on first use.</summary>
    /// <param name="options">The broker and the node's topic prefix.</param>
    /// <param name="requestTimeout">How long a request waits for its result.</param>
    public MqttNodeChatClient(MqttNodeOptions options, TimeSpan requestTimeout)
    {
        _options = options;
        _topic = options.Topic.TrimEnd('/');
        _node = new MqttTopics(_topic);
        _timeout = requestTimeout;
        var clientId = "autoglm-bridge-" + Guid.NewGuid().ToString("N")[..12];
        _replyRoot = $"autoglm-bridge/{clientId}";
        _client = new MqttClientFactory().CreateMqttClient();
        _client.ApplicationMessageReceivedAsync += OnMessageAsync;
        _client.DisconnectedAsync += _ =>
        {
            _online = false;
            foreach (var id in _pending.Keys)
            {
                if (_pending.TryRemove(id, out var waiting))
                {
                    waiting.TrySetException(new ClusterException(ClusterErrorCode.RemoteUnavailable, $"lost the broker connection before heavy node {_topic} answered"));
                }
            }

            return Task.CompletedTask;
        };
        ClientId = clientId;
    }

    /// <summary>This client's MQTT client id.</summary>
    public string ClientId { get; }

    /// <summary>Whether the broker is connected and the node's retained status says it is online.</summary>
    public bool IsOnline => _client.IsConnected && _online;

    /// <summary>Connects when needed and says whether the node is online (the health check of a bridge node).</summary>
    public async Task<bool> CheckAsync(CancellationToken cancellationToken)
    {
        try
        {
            await EnsureConnectedAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (MQTTnet.Exceptions.MqttCommunicationException)
        {
            return false;
        }

        return IsOnline;
    }

    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        await EnsureConnectedAsync(cancellationToken).ConfigureAwait(false);
        var id = "bridge-" + Guid.NewGuid().ToString("N");
        var result = new TaskCompletionSource<byte[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = result;
        var sent = false;
        var answered = false;
        try
        {
            var job = new MqttApplicationMessageBuilder()
                .WithTopic(_node.Jobs)

                // The node runs it itself (a heavy node never forwards).
                .WithPayload(JobJson.Write(id, messages, options, route: "local"))
                .WithContentType("application/json")
                .WithResponseTopic($"{_replyRoot}/{id}")
                .WithCorrelationData(Encoding.UTF8.GetBytes(id))
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
                .Build();
            var published = await _client.PublishAsync(job, cancellationToken).ConfigureAwait(false);
            sent = published.IsSuccess;
            if (!published.IsSuccess)
            {
                // MQTT 5 says so when nobody subscribes: the node is not there, and nothing was sent to anyone.
                throw new ClusterException(ClusterErrorCode.RemoteUnavailable, $"the broker refused the job for heavy node {_topic} ({published.ReasonCode})");
            }

            using var bound = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            bound.CancelAfter(_timeout);
            byte[] payload;
            try
            {
                payload = await result.Task.WaitAsync(bound.Token).ConfigureAwait(false);
                answered = true;
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"heavy node {_topic} did not answer within Cluster:RequestTimeout ({_timeout})");
            }

            return ParseResult(payload);
        }
        finally
        {
            _pending.TryRemove(id, out _);
            if (sent && !answered)
            {
                // The node journaled the job: without a cancel it would run it (now, or again after a restart) while
                // the router fails over and runs it elsewhere.
                await CancelOnNodeAsync(id).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Best effort: tells the node to drop a job nobody waits for any more (its <c>…/jobs/&lt;id&gt;/cancel</c> topic).</summary>
    private async Task CancelOnNodeAsync(string id)
    {
        if (!_client.IsConnected)
        {
            return;
        }

        try
        {
            using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await _client.PublishAsync(
                new MqttApplicationMessageBuilder().WithTopic(_node.Cancel(id)).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build(),
                bound.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is MQTTnet.Exceptions.MqttCommunicationException or OperationCanceledException or InvalidOperationException)
        {
            // The connection is gone too; the node's own deadline or the journal's retention ends the job.
        }
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<ChatMessage> messages,
        ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var response = await GetResponseAsync(messages, options, cancellationToken).ConfigureAwait(false);
        var contents = new List<AIContent>(response.Messages.SelectMany(m => m.Contents));
        if (response.Usage is { } usage)
        {
            contents.Add(new UsageContent(usage));
        }

        yield return new ChatResponseUpdate(ChatRole.Assistant, contents) { FinishReason = response.FinishReason, ModelId = response.ModelId };
    }

    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is null && serviceType.IsInstanceOfType(this) ? this : null;

    public void Dispose()
    {
        if (_client.IsConnected)
        {
            try
            {
                _client.DisconnectAsync(new MqttClientDisconnectOptions()).GetAwaiter().GetResult();
            }
            catch (Exception ex) when (ex is MQTTnet.Exceptions.MqttCommunicationException or OperationCanceledException)
            {
                // A half-dead connection: disposing the client below closes it anyway.
            }
        }

        _client.Dispose();
        _connecting.Dispose();
    }

    private async Task EnsureConnectedAsync(CancellationToken cancellationToken)
    {
        if (_client.IsConnected)
        {
            return;
        }

        await _connecting.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_client.IsConnected)
            {
                return;
            }

            var builder = new MqttClientOptionsBuilder()
                .WithTcpServer(_options.Host, _options.Port)
                .WithProtocolVersion(MQTTnet.Formatter.MqttProtocolVersion.V500)
                .WithClientId(ClientId)
                .WithCleanStart()
                .WithTimeout(TimeSpan.FromSeconds(10));
            if (!string.IsNullOrEmpty(_options.Username))
            {
                builder.WithCredentials(_options.Username, _options.Password ?? "");
            }

            _online = false;
            await _client.ConnectAsync(builder.Build(), cancellationToken).ConfigureAwait(false);
            var subscribe = new MqttClientSubscribeOptionsBuilder()
                .WithTopicFilter(_node.Status, MqttQualityOfServiceLevel.AtLeastOnce)
                .WithTopicFilter(_replyRoot + "/#", MqttQualityOfServiceLevel.AtLeastOnce)
                .Build();
            await _client.SubscribeAsync(subscribe, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _connecting.Release();
        }
    }

    private Task OnMessageAsync(MqttApplicationMessageReceivedEventArgs e)
    {
        var message = e.ApplicationMessage;
        if (message.Topic == _node.Status)
        {
            _online = IsOnlineStatus(message.Payload.ToArray());
        }
        else if (message.Topic.StartsWith(_replyRoot + "/", StringComparison.Ordinal)
            && _pending.TryRemove(message.Topic[(_replyRoot.Length + 1)..], out var waiting))
        {
            waiting.TrySetResult(message.Payload.ToArray());
        }

        return Task.CompletedTask;
    }

    private static bool IsOnlineStatus(byte[] payload)
    {
        if (payload.Length == 0 || payload[0] != (byte)'{')
        {
            return false;
        }

        try
        {
            using var document = JsonDocument.Parse(payload);
            return document.RootElement.TryGetProperty("state", out var state) && state.ValueKind == JsonValueKind.String && state.GetString() == "online";
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private ChatResponse ParseResult(byte[] payload)
    {
        var (answer, code, message) = ResultJson.Read(payload);
        return answer
            ?? throw new ClusterException(
                ClusterErrorCode.RemoteUnavailable,
                code is not null ? $"heavy node {_topic} answered {code}: {message}" : $"heavy node {_topic} answered a result without text");
    }
}
