namespace Conclave.Robustness.Network;

/// <summary>
/// Which member's messages reach which, and how late. Reachable(from, to) is directed: a
/// symmetric partition blocks both directions, a one-way loss only one. Every change is
/// announced through <see cref="Changed"/>; the proxies then close connections that the new
/// matrix forbids, so a change takes effect at once (no waiting in the control path).
/// </summary>
public sealed class NetworkConditions
{
    private readonly Lock _lock = new();
    private readonly bool[,] _blocked;
    private TimeSpan _delay;

    public NetworkConditions(int members)
    {
        Count = members;
        _blocked = new bool[members, members];
    }

    public int Count { get; }

    /// <summary>Raised after every change, outside the lock.</summary>
    public event Action? Changed;

    /// <summary>Extra latency added to every forwarded chunk of peer traffic (zero = none).</summary>
    public TimeSpan Delay
    {
        get
        {
            lock (_lock)
            {
                return _delay;
            }
        }
    }

    public bool Reachable(int from, int to)
    {
        lock (_lock)
        {
            return from == to || !_blocked[from, to];
        }
    }

    /// <summary>True when no member may send to <paramref name="to"/> (a target-only view for unidentified connections).</summary>
    public bool FullyCutOffInbound(int to)
    {
        lock (_lock)
        {
            for (var from = 0; from < Count; from++)
            {
                if (from != to && !_blocked[from, to])
                {
                    return false;
                }
            }

            return true;
        }
    }

    /// <summary>Blocks both directions between every member of <paramref name="side"/> and every other member.</summary>
    public void Partition(IReadOnlyCollection<int> side) => Update(blocked =>
    {
        for (var a = 0; a < Count; a++)
        {
            for (var b = 0; b < Count; b++)
            {
                if (side.Contains(a) != side.Contains(b))
                {
                    blocked[a, b] = true;
                }
            }
        }
    });

    /// <summary>Messages from <paramref name="from"/> to <paramref name="to"/> are lost; the other direction still works.</summary>
    public void BlockOneWay(int from, int to) => Update(blocked => blocked[from, to] = true);

    public void SetDelay(TimeSpan delay)
    {
        lock (_lock)
        {
            _delay = delay;
        }

        Changed?.Invoke();
    }

    /// <summary>Every link open, no delay.</summary>
    public void Heal()
    {
        lock (_lock)
        {
            Array.Clear(_blocked);
            _delay = TimeSpan.Zero;
        }

        Changed?.Invoke();
    }

    public string Describe()
    {
        lock (_lock)
        {
            var cut = new List<string>();
            for (var a = 0; a < Count; a++)
            {
                for (var b = 0; b < Count; b++)
                {
                    if (_blocked[a, b])
                    {
                        cut.Add($"{a}->{b}");
                    }
                }
            }

            return cut.Count == 0 && _delay == TimeSpan.Zero
                ? "healthy"
                : $"blocked [{string.Join(' ', cut)}] delay {_delay.TotalMilliseconds:0} ms";
        }
    }

    private void Update(Action<bool[,]> change)
    {
        lock (_lock)
        {
            change(_blocked);
        }

        Changed?.Invoke();
    }
}
