namespace AutoGlm.Edge.Mqtt;

public sealed partial class JobRunner
{
    private static partial class Log
    {
        [LoggerMessage(4108, LogLevel.Information, "Stopping: letting {Count} running jobs finish (up to {GraceSeconds} s)")]
        public static partial void Draining(ILogger logger, int count, double graceSeconds);

        [LoggerMessage(4109, LogLevel.Warning, "Shutdown grace period over; {Count} jobs stop unfinished and run again at the next start")]
        public static partial void GraceExpired(ILogger logger, int count);

        [LoggerMessage(4110, LogLevel.Debug, "Dispatch loop stopped")]
        public static partial void DispatchStopped(ILogger logger);
    }
}
