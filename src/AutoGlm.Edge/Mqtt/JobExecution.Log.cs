namespace AutoGlm.Edge.Mqtt;

internal sealed partial class JobExecution
{
    private static partial class Log
    {
        [LoggerMessage(4101, LogLevel.Debug, "Job {JobId}: running ({Messages} messages)")]
        public static partial void Running(ILogger logger, string jobId, int messages);

        [LoggerMessage(4102, LogLevel.Trace, "Job {JobId}: prompt {Prompt}")]
        public static partial void Prompt(ILogger logger, string jobId, string prompt);

        [LoggerMessage(4103, LogLevel.Trace, "Job {JobId}: completion {Completion}")]
        public static partial void Completion(ILogger logger, string jobId, string completion);

        [LoggerMessage(4104, LogLevel.Debug, "Job {JobId}: done, {Tokens} tokens in {TotalMs:F1} ms")]
        public static partial void Finished(ILogger logger, string jobId, long tokens, double totalMs);

        [LoggerMessage(4105, LogLevel.Information, "Job {JobId}: answered {Code}: {Message}")]
        public static partial void JobFailed(ILogger logger, string jobId, string code, string message);

        [LoggerMessage(4106, LogLevel.Error, "Job {JobId}: the engine failed")]
        public static partial void EngineFailed(ILogger logger, string jobId, Exception exception);

        [LoggerMessage(4107, LogLevel.Debug, "Job {JobId}: stopped by shutdown; it stays journaled and runs again at the next start")]
        public static partial void LeftForNextStart(ILogger logger, string jobId);

        [LoggerMessage(4111, LogLevel.Information, "Job {JobId}: the heavy node failed mid-answer; the job runs again on the local engine (Cluster:MidStreamFailure=restart-local)")]
        public static partial void Restarted(ILogger logger, string jobId);

        [LoggerMessage(4112, LogLevel.Debug, "Job {JobId}: the engine gave up on it (a timeout inside the daemon or its backend)")]
        public static partial void GaveUp(ILogger logger, string jobId, Exception exception);
    }
}
