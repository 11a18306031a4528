using System.Buffers;
using System.Globalization;
using System.Text.Json;
using AutoGlm.Edge.Mqtt;
using MQTTnet;
using MQTTnet.Exceptions;
using MQTTnet.Formatter;

namespace AutoGlm.Edge.Cli;

/// <summary>Who answers on a broker port: the process that owns the listening socket, and the device status it carries.</summary>
internal static class BrokerIdentity
{
    /// <summary>The process listening on TCP <paramref name="port"/> (any address), or null when it cannot be seen.</summary>
    /// <remarks>
    /// Reads <c>/proc/net/tcp</c> and <c>tcp6</c> for the listening socket's inode, then the <c>/proc/*/fd</c> links;
    /// another user's processes are visible only to root, so null means "unknown", not "nobody".
    /// </remarks>
    public static SocketOwner? ListenerOf(int port)
    {
        var inodes = new HashSet<string>(StringComparer.Ordinal);
        foreach (var table in new[] { "/proc/net/tcp", "/proc/net/tcp6" })
        {
            if (!File.Exists(table))
            {
                continue;
            }

            foreach (var line in File.ReadLines(table).Skip(1))
            {
                // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
                var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (fields.Length > 9 && fields[3] == "0A" && int.TryParse(fields[1][(fields[1].LastIndexOf(':') + 1)..], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var local) && local == port)
                {
                    inodes.Add($"socket:[{fields[9]}]");
                }
            }
        }

        if (inodes.Count == 0)
        {
            return null;
        }

        foreach (var process in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(process), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }

            try
            {
                foreach (var fd in Directory.EnumerateFileSystemEntries(Path.Combine(process, "fd")))
                {
                    if (new FileInfo(fd).LinkTarget is { } target && inodes.Contains(target))
                    {
                        var command = File.ReadAllText(Path.Combine(process, "cmdline")).Replace('\0', ' ').Trim();
                        return new SocketOwner(pid, command);
                    }
                }
            }
            catch (Exception ex) when (ex is UnauthorizedAccessException or IOException)
            {
                // Another user's process (or one that just ended): not ours to look into.
            }
        }

        return null;
    }

    /// <summary>
    /// Connects over MQTT 5 and reads the retained <paramref name="statusTopic"/>: what the broker said, and the status
    /// document when one came within <paramref name="timeout"/>.
    /// </summary>
    public static async Task<BrokerAnswer> ReadStatusAsync(string host, int port, string statusTopic, string? username, string? password, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var client = new MqttClientFactory().CreateMqttClient();
        var options = new MqttClientOptionsBuilder()
            .WithTcpServer(host, port)
            .WithProtocolVersion(MqttProtocolVersion.V500)
            .WithClientId($"autoglm-doctor-{Environment.ProcessId}")
            .WithCleanStart(true)
            .WithTimeout(timeout);
        if (!string.IsNullOrEmpty(username))
        {
            options.WithCredentials(username, password);
        }

        var status = new TaskCompletionSource<byte[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        client.ApplicationMessageReceivedAsync += e =>
        {
            if (e.ApplicationMessage.Topic == statusTopic && e.ApplicationMessage.Retain)
            {
                status.TrySetResult(e.ApplicationMessage.Payload.ToArray());
            }

            return Task.CompletedTask;
        };
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            await client.ConnectAsync(options.Build(), deadline.Token).ConfigureAwait(false);
        }
        catch (MQTTnet.Adapter.MqttConnectingFailedException ex)
        {
            return new BrokerAnswer(BrokerKind.RefusedLogin, null, ex.Message);
        }
        catch (Exception ex) when (ex is MqttCommunicationException or OperationCanceledException)
        {
            return new BrokerAnswer(BrokerKind.NotMqtt, null, ex is OperationCanceledException ? $"no MQTT answer within {timeout.TotalMilliseconds:F0} ms" : ex.Message);
        }

        try
        {
            await client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder().WithTopicFilter(statusTopic).Build(), deadline.Token).ConfigureAwait(false);
            var payload = await status.Task.WaitAsync(deadline.Token).ConfigureAwait(false);
            return new BrokerAnswer(BrokerKind.Mqtt, StatusDocument.Parse(payload), null);
        }
        catch (Exception ex) when (ex is MqttCommunicationException or OperationCanceledException)
        {
            return new BrokerAnswer(BrokerKind.Mqtt, null, null);
        }
        finally
        {
            if (client.IsConnected)
            {
                await client.DisconnectAsync(cancellationToken: CancellationToken.None).ConfigureAwait(false);
            }
        }
    }
}

/// <summary>A process holding a listening socket.</summary>
/// <param name="Pid">Its process id.</param>
/// <param name="Command">Its command line.</param>
internal sealed record SocketOwner(int Pid, string Command)
{
    /// <summary>Whether the process is an AutoGlm.Edge daemon (the published executable, or <c>dotnet autoglm-edge.dll</c>).</summary>
    public bool IsAutoGlmEdge => Command.Split(' ', StringSplitOptions.RemoveEmptyEntries).Take(2)
        .Any(part => Path.GetFileName(part) is "autoglm-edge" or "autoglm-edge.dll");
}

/// <summary>What answered on the broker port.</summary>
internal enum BrokerKind
{
    /// <summary>An MQTT broker that let the doctor in.</summary>
    Mqtt,

    /// <summary>An MQTT broker that refused the doctor's login.</summary>
    RefusedLogin,

    /// <summary>Something that accepts TCP connections but did not answer as an MQTT broker.</summary>
    NotMqtt,
}

/// <summary>The broker's answer: what it is, the retained status document (null when none came), and why not.</summary>
internal sealed record BrokerAnswer(BrokerKind Kind, StatusDocument? Status, string? Reason);

/// <summary>The fields of a daemon's retained <c>…/status</c> document the doctor reports.</summary>
internal sealed record StatusDocument(string? State, string? DeviceId, string? Version, string? StartedAt)
{
    public static StatusDocument? Parse(byte[] payload)
    {
        // The last will, and what a clean stop publishes, is the plain text "offline".
        if (System.Text.Encoding.UTF8.GetString(payload).Trim() == "offline")
        {
            return new StatusDocument("offline", null, null, null);
        }

        try
        {
            using var json = JsonDocument.Parse(payload);
            if (json.RootElement.ValueKind != JsonValueKind.Object)
            {
                return null;
            }

            string? Field(string name) => json.RootElement.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
            return new StatusDocument(Field("state"), Field("device_id"), Field("version"), Field("started_at"));
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
