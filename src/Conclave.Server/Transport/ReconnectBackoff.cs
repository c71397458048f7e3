namespace Conclave.Server.Transport;

/// <summary>
/// Exponential backoff with "equal jitter": attempt n waits uniformly between c/2 and c where
/// c = min(max, base · 2ⁿ). Never zero, so a flapping peer is never hammered; the spread keeps members
/// that lost the same peer from reconnecting in lockstep. Not thread-safe (one per peer writer loop).
/// </summary>
internal sealed class ReconnectBackoff
{
    private readonly TimeSpan _base;
    private readonly TimeSpan _max;
    private readonly Random _random;
    private int _attempt;

    public ReconnectBackoff(TimeSpan baseDelay, TimeSpan maxDelay, int seed)
    {
        _base = baseDelay;
        _max = maxDelay;
        _random = new Random(seed);
    }

    public TimeSpan Next()
    {
        var ceilingTicks = Math.Min(_max.Ticks, _base.Ticks * (1L << Math.Min(_attempt, 30)));
        if (ceilingTicks <= 0)
        {
            ceilingTicks = _max.Ticks;
        }

        _attempt++;
        var half = ceilingTicks / 2;
        return TimeSpan.FromTicks(half + (long)(_random.NextDouble() * (ceilingTicks - half)));
    }

    /// <summary>After a successful connection the next failure starts from the base delay again.</summary>
    public void Reset() => _attempt = 0;
}
