using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace FunctionsRelay.Testing;

/// <summary>A logger provider that keeps every line written, at every level, for a test to read.</summary>
public sealed class CapturedLogs(ConcurrentQueue<string>? lines = null) : ILoggerProvider
{
    public ConcurrentQueue<string> Lines { get; } = lines ?? new();

    public ILogger CreateLogger(string categoryName) => new CapturingLogger(categoryName, Lines);

    public void Dispose()
    {
    }

    private sealed class CapturingLogger(string category, ConcurrentQueue<string> lines) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            lines.Enqueue($"{logLevel} {category}: {formatter(state, exception)} {exception}");
    }
}
