namespace AutoGlm.Edge.Mqtt;

public sealed partial class JobIntake
{
    private static partial class Log
    {
        [LoggerMessage(4301, LogLevel.Debug, "Job {JobId} accepted (priority {Priority}, {Queued} queued)")]
        public static partial void Accepted(ILogger logger, string jobId, int priority, int queued);

        [LoggerMessage(4302, LogLevel.Information, "Refused job {JobId}: {Code}: {Message}")]
        public static partial void Refused(ILogger logger, string jobId, string code, string message);

        [LoggerMessage(4303, LogLevel.Information, "Job {JobId} seen again: {State}")]
        public static partial void Duplicate(ILogger logger, string jobId, string state);

        [LoggerMessage(4304, LogLevel.Information, "Cancel of job {JobId} requested (waiting or running: {Found})")]
        public static partial void CancelRequested(ILogger logger, string jobId, bool found);

        [LoggerMessage(4305, LogLevel.Debug, "Ignored a message on {Topic}")]
        public static partial void UnexpectedTopic(ILogger logger, string topic);

        [LoggerMessage(4306, LogLevel.Debug, "Stopping: left a message on {Topic} unacknowledged for the next start")]
        public static partial void NotAccepting(ILogger logger, string topic);

        [LoggerMessage(4320, LogLevel.Warning, "Could not journal job {JobId} on {Topic} ({Problem}); it stays unacknowledged at the broker, which delivers it again when the intake reconnects once the journal can be written")]
        public static partial void LeftAtBroker(ILogger logger, string topic, string jobId, string problem);

        [LoggerMessage(4321, LogLevel.Critical, "The MQTT intake is stalled: handling a message on {Topic} failed; it stays unacknowledged, readiness and the watchdog report the stall")]
        public static partial void Stalled(ILogger logger, string topic, Exception exception);

        [LoggerMessage(4308, LogLevel.Debug, "Could not acknowledge a message on {Topic} (connection lost: {Detail}); it comes again and is answered once")]
        public static partial void AckLost(ILogger logger, string topic, string detail);
    }
}
