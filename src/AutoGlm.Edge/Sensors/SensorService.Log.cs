namespace AutoGlm.Edge.Sensors;

public sealed partial class SensorService
{
    private static partial class Log
    {
        [LoggerMessage(4601, LogLevel.Information, "Sensors: {Count} running ({Names}), jobs to {Prefix}/jobs/image|audio, status LED: {HasLed}")]
        public static partial void Started(ILogger logger, int count, string names, string prefix, bool hasLed);

        [LoggerMessage(4602, LogLevel.Information, "Sensor {Sensor}: {Device}; triggers: {Triggers}; jobs to {Topic}")]
        public static partial void SensorReady(ILogger logger, string sensor, string device, string triggers, string topic);

        [LoggerMessage(4603, LogLevel.Debug, "Sensor {Sensor} triggered by {Trigger}")]
        public static partial void Triggered(ILogger logger, string sensor, string trigger);

        [LoggerMessage(4604, LogLevel.Error, "Sensor {Sensor} failed to capture (trigger {Trigger}): {Detail}")]
        public static partial void CaptureFailed(ILogger logger, string sensor, string trigger, string detail, Exception? exception);

        [LoggerMessage(4605, LogLevel.Information, "Sensor {Sensor} published job {JobId} ({Bytes} bytes) to {Topic} (trigger {Trigger})")]
        public static partial void Published(ILogger logger, string sensor, string jobId, int bytes, string topic, string trigger);

        [LoggerMessage(4606, LogLevel.Error, "Sensor {Sensor} could not publish job {JobId} to {Topic}: the broker is unreachable or refused it")]
        public static partial void PublishFailed(ILogger logger, string sensor, string jobId, string topic);

        [LoggerMessage(4607, LogLevel.Information, "Sensor {Sensor}: job {JobId} answered ({Chars} characters)")]
        public static partial void JobAnswered(ILogger logger, string sensor, string jobId, int chars);

        [LoggerMessage(4608, LogLevel.Warning, "Sensor {Sensor}: job {JobId} failed: {Code}: {Detail}")]
        public static partial void JobFailed(ILogger logger, string sensor, string jobId, string code, string detail);

        [LoggerMessage(4609, LogLevel.Trace, "Sensor job {JobId} answer: {Answer}")]
        public static partial void Answer(ILogger logger, string jobId, string answer);

        [LoggerMessage(4610, LogLevel.Warning, "Sensor {Sensor} dropped a trigger from {Trigger}: {Queued} triggers already wait for the capture in progress")]
        public static partial void TriggerDropped(ILogger logger, string sensor, string trigger, int queued);

        [LoggerMessage(4611, LogLevel.Debug, "Ignored a capture command on {Topic}: the payload is not UTF-8")]
        public static partial void CommandIgnored(ILogger logger, string topic);

        [LoggerMessage(4612, LogLevel.Information, "Sensors stopped ({Outstanding} jobs still unanswered)")]
        public static partial void Stopped(ILogger logger, int outstanding);

        [LoggerMessage(4613, LogLevel.Trace, "Sensor job {JobId} prompt: {Prompt}")]
        public static partial void Prompt(ILogger logger, string jobId, string prompt);

        [LoggerMessage(4614, LogLevel.Debug, "Sensor {Sensor} worker stopped")]
        public static partial void WorkerStopped(ILogger logger, string sensor);

        [LoggerMessage(4615, LogLevel.Warning, "Reconnected to the MQTT broker: no longer waiting for the results of {Count} jobs published before the connection was lost (they stay on their results topics)")]
        public static partial void OutstandingForgotten(ILogger logger, int count);

        [LoggerMessage(4616, LogLevel.Error, "Sensor {Sensor} failed on a trigger from {Trigger}: {Detail}; it goes on with the next trigger")]
        public static partial void TriggerFailed(ILogger logger, string sensor, string trigger, string detail, Exception exception);

        [LoggerMessage(4617, LogLevel.Warning, "Sensor {Sensor}: job {JobId} got no result within {Timeout} (Sensors:ResultTimeout); counted as failed, no longer waited for")]
        public static partial void ResultTimedOut(ILogger logger, string sensor, string jobId, TimeSpan timeout);
    }
}
