namespace Conclave.E2E.Tests.Cluster;

/// <summary>
/// Counts acknowledged operations of concurrent clients and lets a test await a count
/// (a condition, never a sleep). Thread-safe.
/// </summary>
public sealed class AckCounter
{
    private readonly Lock _lock = new();
    private readonly List<(long Target, TaskCompletionSource Reached)> _waiters = [];
    private long _count;

    public long Count
    {
        get
        {
            lock (_lock)
            {
                return _count;
            }
        }
    }

    public void Increment()
    {
        lock (_lock)
        {
            _count++;
            for (var i = _waiters.Count - 1; i >= 0; i--)
            {
                if (_count >= _waiters[i].Target)
                {
                    _waiters[i].Reached.TrySetResult();
                    _waiters.RemoveAt(i);
                }
            }
        }
    }

    /// <summary>Waits until the count reaches <paramref name="target"/>; throws naming <paramref name="what"/> after <paramref name="timeout"/>.</summary>
    public async Task WaitForAsync(long target, string what, TimeSpan timeout)
    {
        var reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_lock)
        {
            if (_count >= target)
            {
                return;
            }

            _waiters.Add((target, reached));
        }

        if (await Task.WhenAny(reached.Task, Task.Delay(timeout)) != reached.Task)
        {
            throw new TimeoutException($"expected {what} (count {target}) within {timeout.TotalSeconds:0} s; count is {Count}");
        }
    }
}
