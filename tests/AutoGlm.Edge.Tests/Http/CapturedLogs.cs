using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace AutoGlm.Edge.Tests.Http;

/// <summary>A logger provider that keeps every entry, so a test can fail when the server logged an error it did not expect.</summary>
public sealed class CapturedLogs : ILoggerProvider
{
    private readonly ConcurrentQueue<Entry> _entries = new();

    /// <summary>One log entry.</summary>
    public sealed record Entry(LogLevel Level, string Category, EventId EventId, string Message, Exception? Exception)
    {
        public override string ToString() => $"{Level} {Category}[{EventId.Id}]: {Message}{(Exception is null ? "" : " " + Exception)}";
    }

    public IReadOnlyList<Entry> Entries => [.. _entries];

    /// <summary>Entries at Error or above since the last call, then forgets them.</summary>
    public IReadOnlyList<Entry> TakeErrors()
    {
        var errors = new List<Entry>();
        var keep = new List<Entry>();
        while (_entries.TryDequeue(out var entry))
        {
            (entry.Level >= LogLevel.Error ? errors : keep).Add(entry);
        }

        foreach (var entry in keep)
        {
            _entries.Enqueue(entry);
        }

        return errors;
    }

    /// <summary>Fails the test when an error was logged (and forgets it, so the next test starts clean).</summary>
    public void AssertNoErrors()
    {
        var errors = TakeErrors();
        Assert.True(errors.Count == 0, "the server logged errors:\n" + string.Join("\n", errors));
    }

    public bool Contains(int eventId) => _entries.Any(e => e.EventId.Id == eventId);

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private sealed class Logger(CapturedLogs owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Debug;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                owner._entries.Enqueue(new Entry(logLevel, category, eventId, formatter(state, exception), exception));
            }
        }
    }
}
