namespace Conclave.Testing.Processes;

/// <summary>
/// The lines a child process wrote (stdout and stderr as the caller feeds them), numbered from 0
/// in the order <see cref="Add"/> saw them, with awaitable matches: a test awaits the line it
/// expects, it never polls. Keeps the last <c>keep</c> lines for failure messages; the numbering
/// counts every line, kept or not. Thread-safe.
/// </summary>
public sealed class OutputLines
{
    private readonly int _keep;
    private readonly Queue<string> _lines = new();
    private readonly List<(int From, Func<string, bool> Match, TaskCompletionSource<string> Found)> _waiters = [];
    private readonly Lock _lock = new();
    private int _count;

    /// <param name="keep">How many of the last lines to keep (default: all).</param>
    public OutputLines(int keep = int.MaxValue)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(keep);
        _keep = keep;
    }

    /// <summary>Lines added so far: the number the next line gets, a start point for <see cref="FirstAsync"/>.</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _count;
            }
        }
    }

    /// <summary>Adds a line (null, a closed stream, is ignored) and completes the waiters it matches.</summary>
    public void Add(string? line)
    {
        if (line is null)
        {
            return;
        }

        List<TaskCompletionSource<string>>? found = null;
        lock (_lock)
        {
            var number = _count++;
            _lines.Enqueue(line);
            while (_lines.Count > _keep)
            {
                _lines.Dequeue();
            }

            for (var i = _waiters.Count - 1; i >= 0; i--)
            {
                var (from, match, done) = _waiters[i];
                if (done.Task.IsCompleted || (number >= from && match(line)))
                {
                    _waiters.RemoveAt(i);
                    (found ??= []).Add(done);
                }
            }
        }

        foreach (var done in found ?? [])
        {
            done.TrySetResult(line);
        }
    }

    /// <summary>
    /// The first line numbered <paramref name="fromLine"/> or later that <paramref name="match"/>
    /// accepts: a kept line already added, else the next such line to come. Cancelled with
    /// <paramref name="cancellationToken"/>.
    /// </summary>
    public Task<string> FirstAsync(Func<string, bool> match, int fromLine, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            var number = _count - _lines.Count;
            foreach (var line in _lines)
            {
                if (number++ >= fromLine && match(line))
                {
                    return Task.FromResult(line);
                }
            }

            return Wait(match, fromLine, cancellationToken);
        }
    }

    /// <summary>The next line to come (not one already added) that <paramref name="match"/> accepts. Register before causing the line.</summary>
    public Task<string> NextAsync(Func<string, bool> match, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return Wait(match, _count, cancellationToken);
        }
    }

    /// <summary>The kept lines, joined with '\n'.</summary>
    public override string ToString()
    {
        lock (_lock)
        {
            return string.Join('\n', _lines);
        }
    }

    // Called under _lock.
    private Task<string> Wait(Func<string, bool> match, int fromLine, CancellationToken cancellationToken)
    {
        var done = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        _waiters.Add((fromLine, match, done));
        if (cancellationToken.CanBeCanceled)
        {
            var registration = cancellationToken.Register(() => done.TrySetCanceled(cancellationToken));
            _ = done.Task.ContinueWith(_ => registration.Dispose(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }

        return done.Task;
    }
}
