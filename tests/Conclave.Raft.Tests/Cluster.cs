using System.Text;

namespace Conclave.Raft.Tests;

/// <summary>
/// A deterministic in-memory cluster for tests: RawNodes over MemoryStorage, a mailbox per member,
/// cut links, and a driver that handles Readys exactly as the Ready contract says. Every step can
/// write what happened to a transcript (the data-driven tests compare it with testdata/*.txt).
/// </summary>
internal sealed class Cluster
{
    private readonly StringBuilder _out = new();
    private readonly HashSet<(ulong From, ulong To)> _cut = [];

    internal sealed class Member
    {
        public required RawNode Node { get; set; }

        public required MemoryStorage Storage { get; init; }

        public required RaftConfig Config { get; set; }

        public List<Entry> Applied { get; } = [];

        public List<ReadState> ReadStates { get; } = [];

        public ConfState ConfState { get; set; } = ConfState.Empty;
    }

    public SortedDictionary<ulong, Member> Members { get; } = [];

    /// <summary>Messages sent and not yet delivered, in send order.</summary>
    public List<Message> InFlight { get; } = [];

    public bool Verbose { get; set; } = true;

    /// <summary>Report each delivered or dropped snapshot to its sender, as a transport would (scripts report by hand).</summary>
    public bool AutoReportSnapshots { get; set; }

    public string TakeOutput()
    {
        var s = _out.ToString();
        _out.Clear();
        return s;
    }

    /// <summary>Writes a line describing what happened (suppressed when not <see cref="Verbose"/>).</summary>
    public void Write(string line)
    {
        if (Verbose)
        {
            _out.Append(line).Append('\n');
        }
    }

    /// <summary>Writes a line the user asked for (inspection commands): always.</summary>
    public void Print(string line) => _out.Append(line).Append('\n');

    public RaftConfig NewConfig(ulong id, MemoryStorage storage, Func<RaftConfig, RaftConfig>? tweak = null)
    {
        var cfg = new RaftConfig { Id = id, Storage = storage, ElectionTick = 10, HeartbeatTick = 1, RandomSeed = 42 };
        return tweak?.Invoke(cfg) ?? cfg;
    }

    /// <summary>Adds a member with the given voters (bootstrap) and optional pre-existing log terms.</summary>
    public Member Add(ulong id, ConfState cs, IReadOnlyList<ulong>? logTerms = null, ulong term = 0, ulong snapshotIndex = 0,
        Func<RaftConfig, RaftConfig>? tweak = null)
    {
        var storage = new MemoryStorage();
        if (snapshotIndex > 0)
        {
            storage.ApplySnapshot(new Snapshot(new SnapshotMetadata(snapshotIndex, Math.Max(term, 1), cs), ReadOnlyMemory<byte>.Empty));
        }
        else
        {
            storage.SetConfState(cs);
        }

        if (logTerms is { Count: > 0 })
        {
            storage.Append(logTerms.Select((t, i) => new Entry(t, snapshotIndex + (ulong)i + 1)).ToList());
        }

        var maxTerm = Math.Max(term, logTerms is { Count: > 0 } ? logTerms.Max() : 0);
        if (maxTerm > 0)
        {
            storage.SetHardState(new HardState(maxTerm, 0, snapshotIndex));
        }

        var cfg = NewConfig(id, storage, tweak);
        var applied = snapshotIndex;
        cfg = new RaftConfig
        {
            Id = cfg.Id,
            Storage = cfg.Storage,
            ElectionTick = cfg.ElectionTick,
            HeartbeatTick = cfg.HeartbeatTick,
            RandomSeed = cfg.RandomSeed,
            PreVote = cfg.PreVote,
            CheckQuorum = cfg.CheckQuorum,
            MaxSizePerMsg = cfg.MaxSizePerMsg,
            MaxInflightMsgs = cfg.MaxInflightMsgs,
            MaxUncommittedEntriesSize = cfg.MaxUncommittedEntriesSize,
            Bugs = cfg.Bugs,
            Applied = applied,
        };
        var m = new Member { Node = new RawNode(cfg), Storage = storage, Config = cfg, ConfState = cs };
        Members[id] = m;
        return m;
    }

    /// <summary>Restarts a member from its storage: everything not persisted is lost.</summary>
    public void Restart(ulong id)
    {
        var m = Members[id];
        m.Config = new RaftConfig
        {
            Id = m.Config.Id,
            Storage = m.Storage,
            ElectionTick = m.Config.ElectionTick,
            HeartbeatTick = m.Config.HeartbeatTick,
            RandomSeed = m.Config.RandomSeed,
            PreVote = m.Config.PreVote,
            CheckQuorum = m.Config.CheckQuorum,
            MaxSizePerMsg = m.Config.MaxSizePerMsg,
            MaxInflightMsgs = m.Config.MaxInflightMsgs,
            Bugs = m.Config.Bugs,
            Applied = 0,
        };
        m.Applied.Clear();
        m.ConfState = m.Storage.InitialState().ConfState; // conf changes after the snapshot are replayed
        m.Node = new RawNode(m.Config);
        InFlight.RemoveAll(x => x.To == id);
    }

    /// <summary>Handles one Ready of a member; returns false when it had none.</summary>
    public bool ProcessReady(ulong id)
    {
        var m = Members[id];
        if (!m.Node.HasReady())
        {
            return false;
        }

        var rd = m.Node.GetReady();
        Write($"> {id} handling Ready");
        foreach (var line in Describe(rd))
        {
            Write("  " + line);
        }

        // Messages may leave at once; the rest only after persisting.
        InFlight.AddRange(rd.Messages);
        if (!rd.Snapshot.IsEmpty)
        {
            m.Storage.ApplySnapshot(rd.Snapshot);
            m.ConfState = rd.Snapshot.Metadata.ConfState;
        }

        m.Storage.Append(rd.Entries);
        if (!rd.HardState.IsEmpty)
        {
            m.Storage.SetHardState(rd.HardState);
        }

        InFlight.AddRange(rd.MessagesAfterPersist);
        foreach (var e in rd.CommittedEntries)
        {
            m.Applied.Add(e);
            if (e.Type == EntryType.ConfChange)
            {
                var cc = ConfChange.Decode(e.Data.Span);
                m.ConfState = m.Node.ApplyConfChange(cc);
                Write($"  INFO {id} applied {cc}: {m.ConfState}");
            }
        }

        m.ReadStates.AddRange(rd.ReadStates);
        m.Node.Advance(rd);
        return true;
    }

    /// <summary>Delivers every in-flight message addressed to id (dropping those on cut links).</summary>
    public int Deliver(ulong id, ulong? from = null)
    {
        var batch = InFlight.Where(x => x.To == id && (from is null || x.From == from)).ToList();
        if (batch.Count == 0)
        {
            return 0;
        }

        InFlight.RemoveAll(batch.Contains);
        Write($"> {id} receiving messages");
        foreach (var msg in batch)
        {
            if (_cut.Contains((msg.From, msg.To)) || !Members.ContainsKey(msg.To))
            {
                Write($"  {Format(msg)} DROPPED");
                ReportSnapshot(msg, failed: true);
                continue;
            }

            // Every message crosses the wire encoding, as it would in production.
            var decoded = MessageCodec.TryDecode(MessageCodec.Encode(msg), out var copy, out var error)
                ? copy!
                : throw new InvalidOperationException(error);
            var r = Members[id].Node.Step(decoded);
            ReportSnapshot(msg, failed: false);
            Write($"  {Format(msg)}" + (r.Status == StepStatus.Ok ? string.Empty : $" ({r.Status})"));
        }

        return batch.Count;
    }

    public void ReportSnapshot(Message msg, bool failed)
    {
        if (AutoReportSnapshots && msg.Type == MessageType.Snapshot && Members.TryGetValue(msg.From, out var sender))
        {
            sender.Node.ReportSnapshot(msg.To, failed);
        }
    }

    /// <summary>Drops in-flight messages on the link from->to.</summary>
    public void Drop(ulong from, ulong to)
    {
        foreach (var msg in InFlight.Where(x => x.From == from && x.To == to).ToList())
        {
            Write($"  dropped: {Format(msg)}");
            InFlight.Remove(msg);
        }
    }

    public void Partition(IReadOnlyList<IReadOnlyList<ulong>> groups)
    {
        _cut.Clear();
        foreach (var a in groups)
        {
            foreach (var b in groups)
            {
                if (ReferenceEquals(a, b))
                {
                    continue;
                }

                foreach (var x in a)
                {
                    foreach (var y in b)
                    {
                        _cut.Add((x, y));
                    }
                }
            }
        }
    }

    public void Cut(ulong from, ulong to) => _cut.Add((from, to));

    public bool IsCut(ulong from, ulong to) => _cut.Contains((from, to));

    public void Heal() => _cut.Clear();

    /// <summary>Processes Readys and delivers messages until nothing changes (bounded, to catch livelock).</summary>
    public void Stabilize(IReadOnlyCollection<ulong>? ids = null)
    {
        var set = ids ?? Members.Keys.ToList();
        for (var round = 0; round < 1000; round++)
        {
            var progress = false;
            foreach (var id in set)
            {
                progress |= ProcessReady(id);
            }

            foreach (var id in set)
            {
                progress |= Deliver(id) > 0;
            }

            if (!progress)
            {
                return;
            }
        }

        throw new InvalidOperationException("cluster did not stabilize within 1000 rounds; in flight: "
            + string.Join(" | ", InFlight.Take(8).Select(Format)) + "; "
            + string.Join(" | ", Members.Values.Select(m => m.Node.Status()).Select(st => $"{st.Id} {st.Role} t{st.Term} lead{st.Lead} c{st.Commit} {st.ConfState}")));
    }

    public void Tick(ulong id, int n)
    {
        for (var i = 0; i < n; i++)
        {
            Members[id].Node.Tick();
        }
    }

    public static IEnumerable<string> Describe(Ready rd)
    {
        if (rd.SoftState is { } ss)
        {
            yield return $"Lead:{ss.Lead} State:{ss.Role}";
        }

        if (!rd.HardState.IsEmpty)
        {
            yield return $"HardState Term:{rd.HardState.Term} Vote:{rd.HardState.Vote} Commit:{rd.HardState.Commit}";
        }

        if (rd.Entries.Count > 0)
        {
            yield return "Entries:";
            foreach (var e in rd.Entries)
            {
                yield return "  " + FormatEntry(e);
            }
        }

        if (!rd.Snapshot.IsEmpty)
        {
            var md = rd.Snapshot.Metadata;
            yield return $"Snapshot Index:{md.Index} Term:{md.Term} {md.ConfState}";
        }

        if (rd.CommittedEntries.Count > 0)
        {
            yield return "CommittedEntries:";
            foreach (var e in rd.CommittedEntries)
            {
                yield return "  " + FormatEntry(e);
            }
        }

        if (rd.ReadStates.Count > 0)
        {
            yield return "ReadStates:";
            foreach (var rs in rd.ReadStates)
            {
                yield return $"  Index:{rs.Index} Context:{Encoding.UTF8.GetString(rs.Context.Span)}";
            }
        }

        if (rd.Messages.Count > 0)
        {
            yield return "Messages:";
            foreach (var msg in rd.Messages)
            {
                yield return "  " + Format(msg);
            }
        }

        if (rd.MessagesAfterPersist.Count > 0)
        {
            yield return "MessagesAfterPersist:";
            foreach (var msg in rd.MessagesAfterPersist)
            {
                yield return "  " + Format(msg);
            }
        }
    }

    public static string FormatEntry(Entry e) => e.Type == EntryType.ConfChange
        ? $"{e.Term}/{e.Index} ConfChange {ConfChange.Decode(e.Data.Span)}"
        : $"{e.Term}/{e.Index} Normal \"{Encoding.UTF8.GetString(e.Data.Span)}\"";

    public static string Format(Message m)
    {
        var sb = new StringBuilder($"{m.From}->{m.To} {m.Type} Term:{m.Term}");
        if (m.Type is MessageType.Append or MessageType.AppendResponse or MessageType.Vote or MessageType.PreVote
            || m.LogTerm != 0 || m.Index != 0)
        {
            sb.Append($" Log:{m.LogTerm}/{m.Index}");
        }

        if (m.Reject)
        {
            sb.Append(m.Type == MessageType.AppendResponse ? $" Rejected (Hint: {m.RejectHint})" : " Rejected");
        }

        if (m.Commit != 0)
        {
            sb.Append($" Commit:{m.Commit}");
        }

        if (m.Entries.Count > 0)
        {
            sb.Append(" Entries:[").Append(string.Join(", ", m.Entries.Select(FormatEntry))).Append(']');
        }

        if (m.Snapshot is { IsEmpty: false } s)
        {
            sb.Append($" Snapshot: Index:{s.Metadata.Index} Term:{s.Metadata.Term} {s.Metadata.ConfState}");
        }

        if (!m.Context.IsEmpty)
        {
            sb.Append($" Context:{Encoding.UTF8.GetString(m.Context.Span)}");
        }

        return sb.ToString();
    }
}
