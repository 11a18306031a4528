namespace AutoGlm.Edge.Http;

public sealed partial class CompletionsEndpoint
{
    private static partial class Log
    {
        [LoggerMessage(4040, LogLevel.Debug, "Refused a completion body: {Code} at {Param}: {Message}")]
        public static partial void Refused(ILogger logger, string code, string? param, string message);

        [LoggerMessage(4041, LogLevel.Debug, "Client went away; cancelled {CompletionId}")]
        public static partial void ClientGone(ILogger logger, string completionId);

        [LoggerMessage(4042, LogLevel.Warning, "{CompletionId} ran past Http:RequestTimeoutSeconds ({Seconds} s) and was cancelled")]
        public static partial void TimedOut(ILogger logger, string completionId, int seconds);

        [LoggerMessage(4043, LogLevel.Information, "The engine refused {CompletionId}: {Code}: {Message}")]
        public static partial void EngineRefused(ILogger logger, string completionId, string code, string message);

        [LoggerMessage(4044, LogLevel.Error, "The engine failed on {CompletionId}")]
        public static partial void EngineFailed(ILogger logger, Exception exception, string completionId);
    }
}
