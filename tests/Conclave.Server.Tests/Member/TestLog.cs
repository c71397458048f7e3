using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Conclave.Server.Tests.Member;

/// <summary>Collects log lines of every member of a test cluster, so a failing test can show them.</summary>
internal sealed class TestLog : ILoggerFactory, ILoggerProvider
{
    public ConcurrentQueue<string> Lines { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public void Dispose()
    {
    }

    public override string ToString() => string.Join('\n', Lines);

    private sealed class Logger(TestLog log, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Debug;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            log.Lines.Enqueue($"{DateTime.UtcNow:HH:mm:ss.fff} {logLevel} {category} {formatter(state, exception)} {exception}");
    }
}
