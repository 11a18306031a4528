namespace AutoGlm.Edge.Mqtt;

public sealed partial class MqttConnection
{
    private static partial class Log
    {
        [LoggerMessage(4801, LogLevel.Information, "Connected to the MQTT broker {Host}:{Port} as {ClientId} (session present: {SessionPresent}); jobs on {Prefix}/jobs")]
        public static partial void Connected(ILogger logger, string host, int port, string clientId, bool sessionPresent, string prefix);

        [LoggerMessage(4802, LogLevel.Warning, "Lost the MQTT connection ({Reason}): {Detail}; reconnecting")]
        public static partial void Disconnected(ILogger logger, string reason, string detail);

        [LoggerMessage(4803, LogLevel.Warning, "Could not connect to the MQTT broker {Host}:{Port} (attempt {Attempt}, next in {DelaySeconds} s): {Detail}")]
        public static partial void ConnectFailed(ILogger logger, string host, int port, int attempt, double delaySeconds, string detail);

        [LoggerMessage(4804, LogLevel.Warning, "The broker refused a publish to {Topic}: {ReasonCode} {ReasonString}")]
        public static partial void PublishRefused(ILogger logger, string topic, string reasonCode, string? reasonString);

        [LoggerMessage(4805, LogLevel.Debug, "Publish to {Topic} failed, will retry: {Detail}")]
        public static partial void PublishFailed(ILogger logger, string topic, string detail);

        [LoggerMessage(4806, LogLevel.Debug, "Reconnect loop stopped")]
        public static partial void ReconnectStopped(ILogger logger);

        [LoggerMessage(4830, LogLevel.Information, "Reconnecting to the MQTT broker so it delivers the jobs left unacknowledged again")]
        public static partial void Reconnecting(ILogger logger);

        [LoggerMessage(4808, LogLevel.Information, "MQTT client {ClientId} connected to {Host}:{Port} (session present: {SessionPresent}); subscribed to {Filters}")]
        public static partial void ConnectedAs(ILogger logger, string host, int port, string clientId, bool sessionPresent, string filters);
    }
}
