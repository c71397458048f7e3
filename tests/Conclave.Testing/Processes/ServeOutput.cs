using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Conclave.Testing.Processes;

/// <summary>
/// The output (stdout and stderr, line by line) of one single-member `conclave serve` process and
/// its readiness: ready once the member has logged both that it leads ("this member is Leader")
/// and that its listeners are up ("serving member"). A single member wins its election at once,
/// before "serving", so either line may come first. Readiness is awaited, never polled.
/// </summary>
public sealed class ServeOutput
{
    private readonly StringBuilder _log = new();
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool _leads;
    private bool _serving;

    /// <summary>Every line so far.</summary>
    public string Log
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    /// <summary>Completes when the member leads and serves.</summary>
    public Task Ready => _ready.Task;

    /// <summary>Reads <paramref name="process"/>'s output into this log; call before it starts (it must redirect both streams).</summary>
    public void Attach(Process process)
    {
        process.OutputDataReceived += (_, e) => OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => OnLine(e.Data);
    }

    /// <summary>
    /// Waits until <see cref="Ready"/>; throws <see cref="InvalidOperationException"/> with the log
    /// when <paramref name="exited"/> completes first or <paramref name="timeout"/> passes.
    /// </summary>
    public async Task WaitReadyAsync(Task exited, TimeSpan timeout)
    {
        var first = await Task.WhenAny(Ready, exited, Task.Delay(timeout));
        if (first != Ready)
        {
            throw new InvalidOperationException(
                $"conclave serve did not become leader within {timeout.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s (or exited). Log:\n{Log}");
        }
    }

    private void OnLine(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_log)
        {
            _log.AppendLine(line);
            _leads |= line.Contains("this member is Leader", StringComparison.Ordinal);
            _serving |= line.Contains("serving member", StringComparison.Ordinal);
            if (_leads && _serving)
            {
                _ready.TrySetResult();
            }
        }
    }
}
