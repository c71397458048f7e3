using Conclave.Raft;

namespace Conclave.Testing.Simulation;

/// <summary>
/// The simulated network: every message is delivered after a random delay (so messages between
/// two members overtake each other), may be lost or duplicated, and is dropped at delivery time
/// when a partition blocks the link from its sender to its receiver. Blocked links are directed,
/// which models asymmetric partitions; a symmetric one blocks both directions.
/// </summary>
internal sealed class SimNetwork(Random random, FaultCounter faults)
{
    private readonly List<(long DeliverAt, long Seq, Message Message)> _inFlight = [];
    private readonly HashSet<(ulong From, ulong To)> _blocked = [];
    private long _seq;

    public double LossRate { get; set; }

    public double DuplicateRate { get; set; }

    /// <summary>Extra ticks of delay beyond the minimum of one.</summary>
    public int MaxExtraDelay { get; set; }

    public bool IsPartitioned => _blocked.Count > 0;

    public string Describe() => string.Join(' ', _blocked.OrderBy(b => b.From).ThenBy(b => b.To).Select(b => $"{b.From}-x>{b.To}"));

    /// <summary>Queues a message; returns false when it was lost on the way (the caller reports a lost snapshot, as a transport would).</summary>
    public bool Send(long now, Message m)
    {
        if (LossRate > 0 && random.NextDouble() < LossRate)
        {
            faults.Add("message-lost");
            return false;
        }

        Enqueue(now, m);
        if (DuplicateRate > 0 && random.NextDouble() < DuplicateRate)
        {
            faults.Add("message-duplicated");
            Enqueue(now, m);
        }

        return true;
    }

    private void Enqueue(long now, Message m) =>
        _inFlight.Add((now + 1 + random.Next(MaxExtraDelay + 1), _seq++, m));

    public bool IsBlocked(ulong from, ulong to) => _blocked.Contains((from, to));

    /// <summary>Removes and returns the messages due at <paramref name="now"/>, in delivery order; blocked ones are returned with Blocked = true.</summary>
    public List<(Message Message, bool Blocked)> TakeDue(long now)
    {
        var due = new List<(long DeliverAt, long Seq, Message Message)>();
        _inFlight.RemoveAll(x =>
        {
            if (x.DeliverAt > now)
            {
                return false;
            }

            due.Add(x);
            return true;
        });
        due.Sort((a, b) => a.DeliverAt != b.DeliverAt ? a.DeliverAt.CompareTo(b.DeliverAt) : a.Seq.CompareTo(b.Seq));
        return due.Select(x => (x.Message, IsBlocked(x.Message.From, x.Message.To))).ToList();
    }

    public void Block(ulong from, ulong to) => _blocked.Add((from, to));

    /// <summary>Cuts both directions between every member of a and every member of b.</summary>
    public void Split(IEnumerable<ulong> a, IEnumerable<ulong> b)
    {
        var bs = b.ToList();
        foreach (var x in a)
        {
            foreach (var y in bs)
            {
                _blocked.Add((x, y));
                _blocked.Add((y, x));
            }
        }
    }

    public void Heal() => _blocked.Clear();
}

/// <summary>Counts injected faults by kind, for the run's report.</summary>
internal sealed class FaultCounter
{
    public SortedDictionary<string, long> Counts { get; } = new(StringComparer.Ordinal);

    public void Add(string kind) => Counts[kind] = Counts.GetValueOrDefault(kind) + 1;
}
