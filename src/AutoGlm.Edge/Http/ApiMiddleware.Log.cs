namespace AutoGlm.Edge.Http;

internal sealed partial class ApiMiddleware
{
    private static partial class Log
    {
        [LoggerMessage(EventId = 4020, Message = "audit time={Time:o} key={KeyId} {Method} {Route} status={Status} prompt_tokens={PromptTokens} completion_tokens={CompletionTokens} latency_ms={LatencyMs:F1}")]
        public static partial void Audit(ILogger logger, LogLevel level, DateTimeOffset time, string keyId, string method, string route, int status, int promptTokens, int completionTokens, double latencyMs);

        [LoggerMessage(4021, LogLevel.Debug, "Refused a malformed HTTP request ({Status}): {Message}")]
        public static partial void BadRequest(ILogger logger, int status, string message);

        [LoggerMessage(4022, LogLevel.Debug, "Client went away during {Path}")]
        public static partial void Aborted(ILogger logger, string path);

        [LoggerMessage(4023, LogLevel.Error, "Unhandled failure answering {Method} {Path}")]
        public static partial void Failed(ILogger logger, Exception exception, string method, string path);
    }
}
