using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Conclave.Fuzz.Tests;

/// <summary>
/// A logger provider that keeps every entry at Error or above that carries an exception (how
/// ASP.NET Core and gRPC report a handler that threw), so a test can fail on the first one.
/// </summary>
internal sealed class ErrorLog : ILoggerProvider, ILoggerFactory
{
    public ConcurrentQueue<string> Errors { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public void Dispose()
    {
    }

    private sealed class Logger(ErrorLog owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Error;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (logLevel >= LogLevel.Error && exception is not null)
            {
                owner.Errors.Enqueue($"{category}: {formatter(state, exception)}\n{exception}");
            }
        }
    }
}
