namespace AutoGlm.Edge.Http;

public sealed partial class ChatCompletionsEndpoint
{
    private static partial class Log
    {
        [LoggerMessage(4001, LogLevel.Debug, "Refused a chat completion body: {Code} at {Param}: {Message}")]
        public static partial void Refused(ILogger logger, string code, string? param, string message);

        [LoggerMessage(4002, LogLevel.Debug, "Client went away; cancelled {CompletionId}")]
        public static partial void ClientGone(ILogger logger, string completionId);

        [LoggerMessage(4003, LogLevel.Warning, "{CompletionId} ran past Http:RequestTimeoutSeconds ({Seconds} s) and was cancelled")]
        public static partial void TimedOut(ILogger logger, string completionId, int seconds);

        [LoggerMessage(4004, LogLevel.Information, "The engine refused {CompletionId}: {Code}: {Message}")]
        public static partial void EngineRefused(ILogger logger, string completionId, string code, string message);

        [LoggerMessage(4005, LogLevel.Error, "The engine failed on {CompletionId}")]
        public static partial void EngineFailed(ILogger logger, Exception exception, string completionId);

        [LoggerMessage(4006, LogLevel.Trace, "Prompt: {Prompt}")]
        public static partial void Prompt(ILogger logger, string prompt);

        [LoggerMessage(4007, LogLevel.Trace, "Completion {CompletionId}: {Completion}")]
        public static partial void Completion(ILogger logger, string completionId, string completion);
    }
}
