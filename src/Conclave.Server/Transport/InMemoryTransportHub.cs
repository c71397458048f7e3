namespace Conclave.Server.Transport;

/// <summary>
/// Connects <see cref="InMemoryPeerTransport"/>s in one process, for whole-cluster tests, with faults
/// injected on the way: a drop rate, partitions (symmetric or one-way) and a fixed delivery delay.
/// </summary>
/// <remarks>
/// Deterministic: the drop decisions come from a Random seeded at construction and are drawn in the
/// order frames are sent, and delayed frames are delivered by the injected <see cref="TimeProvider"/>
/// (a FakeTimeProvider in tests) in (due time, send order) — so a test that sends from one thread and
/// advances a fake clock gets the same deliveries for the same seed every run. Faults are judged when a
/// frame is sent: a partition made while a delayed frame is in flight does not stop that frame.
/// The delay is the same for every link, so each link stays in order.
/// </remarks>
public sealed class InMemoryTransportHub
{
    private readonly Lock _lock = new();
    private readonly Random _random;
    private readonly TimeProvider _time;
    private readonly Dictionary<ulong, InMemoryPeerTransport> _members = [];
    private readonly HashSet<(ulong From, ulong To)> _blocked = [];
    private readonly PriorityQueue<(ulong From, ulong To, byte[] Payload), (long Due, long Sequence)> _inFlight = new();
    private ITimer? _timer;
    private long _sequence;
    private double _dropRate;
    private TimeSpan _delay;
    private long _delivered;
    private long _dropped;

    public InMemoryTransportHub(int seed, TimeProvider? timeProvider = null)
    {
        _random = new Random(seed);
        _time = timeProvider ?? TimeProvider.System;
    }

    /// <summary>The probability, in [0, 1], that a frame is silently lost.</summary>
    public double DropRate
    {
        get => _dropRate;
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 0.0);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value, 1.0);
            lock (_lock)
            {
                _dropRate = value;
            }
        }
    }

    /// <summary>How long after it is sent a frame is delivered; zero delivers during <see cref="IPeerTransport.Send"/>.</summary>
    public TimeSpan Delay
    {
        get => _delay;
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, TimeSpan.Zero);
            lock (_lock)
            {
                _delay = value;
            }
        }
    }

    /// <summary>Frames that reached a member's inbound queue.</summary>
    public long FramesDelivered => Interlocked.Read(ref _delivered);

    /// <summary>Frames lost to the drop rate, a partition, a stopped member or a full inbound queue.</summary>
    public long FramesDropped => Interlocked.Read(ref _dropped);

    /// <summary>A transport for <paramref name="memberId"/>; an id can be created again after the previous one stopped (a restart).</summary>
    public InMemoryPeerTransport CreateTransport(ulong memberId, int inboundCapacity = 4096)
    {
        lock (_lock)
        {
            if (_members.TryGetValue(memberId, out var existing) && existing.IsRunning)
            {
                throw new InvalidOperationException($"transport: member {memberId} already has a running in-memory transport");
            }

            var transport = new InMemoryPeerTransport(this, memberId, inboundCapacity);
            _members[memberId] = transport;
            return transport;
        }
    }

    /// <summary>Cuts every link between a member of <paramref name="side"/> and a member of <paramref name="otherSide"/>, both ways.</summary>
    public void Partition(IEnumerable<ulong> side, IEnumerable<ulong> otherSide)
    {
        var others = otherSide.ToArray();
        lock (_lock)
        {
            foreach (var a in side)
            {
                foreach (var b in others)
                {
                    _blocked.Add((a, b));
                    _blocked.Add((b, a));
                }
            }
        }
    }

    /// <summary>Frames from <paramref name="from"/> to <paramref name="to"/> are lost; the other direction still works.</summary>
    public void BlockOneWay(ulong from, ulong to)
    {
        lock (_lock)
        {
            _blocked.Add((from, to));
        }
    }

    /// <summary>Removes every partition and one-way block.</summary>
    public void Heal()
    {
        lock (_lock)
        {
            _blocked.Clear();
        }
    }

    internal SendResult Route(ulong from, ulong to, ReadOnlyMemory<byte> frame)
    {
        lock (_lock)
        {
            var sender = _members[from];
            if (_blocked.Contains((from, to)))
            {
                sender.SetReachability(to, PeerState.Unreachable, PeerDownReason.Partitioned);
                _dropped++;
                return SendResult.Queued;
            }

            if (!_members.TryGetValue(to, out var receiver) || !receiver.IsRunning)
            {
                sender.SetReachability(to, PeerState.Unreachable, PeerDownReason.ConnectFailed);
                _dropped++;
                return SendResult.Queued;
            }

            sender.SetReachability(to, PeerState.Connected, PeerDownReason.None);
            if (_dropRate > 0 && _random.NextDouble() < _dropRate)
            {
                _dropped++;
                return SendResult.Queued;
            }

            var payload = frame.ToArray();
            if (_delay > TimeSpan.Zero)
            {
                var due = _time.GetUtcNow().UtcTicks + _delay.Ticks;
                _inFlight.Enqueue((from, to, payload), (due, _sequence++));
                ScheduleLocked();
                return SendResult.Queued;
            }

            if (receiver.TryDeliver(new InboundFrame(from, payload)))
            {
                _delivered++;
                return SendResult.Queued;
            }

            _dropped++;
            return SendResult.QueueFull;
        }
    }

    /// <summary>Whether a transfer from <paramref name="from"/> could reach <paramref name="to"/> now, and the receiver if so.</summary>
    internal InMemoryPeerTransport? TransferTarget(ulong from, ulong to)
    {
        lock (_lock)
        {
            if (_blocked.Contains((from, to)) || !_members.TryGetValue(to, out var receiver) || !receiver.IsRunning)
            {
                return null;
            }

            return receiver;
        }
    }

    private void ScheduleLocked()
    {
        if (!_inFlight.TryPeek(out _, out var next))
        {
            return;
        }

        var wait = TimeSpan.FromTicks(Math.Max(0, next.Due - _time.GetUtcNow().UtcTicks));
        if (_timer is null)
        {
            _timer = _time.CreateTimer(_ => DeliverDue(), null, wait, Timeout.InfiniteTimeSpan);
        }
        else
        {
            _timer.Change(wait, Timeout.InfiniteTimeSpan);
        }
    }

    private void DeliverDue()
    {
        lock (_lock)
        {
            var now = _time.GetUtcNow().UtcTicks;
            while (_inFlight.TryPeek(out var item, out var key) && key.Due <= now)
            {
                _inFlight.Dequeue();
                if (_members.TryGetValue(item.To, out var receiver) && receiver.TryDeliver(new InboundFrame(item.From, item.Payload)))
                {
                    _delivered++;
                }
                else
                {
                    _dropped++;
                }
            }

            ScheduleLocked();
        }
    }
}
