namespace Conclave.Raft;

/// <summary>
/// The driver's handle on one consensus core. Single-threaded: one loop owns it. Feed it with
/// <see cref="Tick"/>, <see cref="Step"/> and requests; when <see cref="HasReady"/> take the
/// <see cref="Ready"/>, handle it as its contract says, and call <see cref="Advance"/>.
/// Deterministic: the same calls in the same order give the same Readys.
/// </summary>
public sealed class RawNode
{
    private readonly RaftCore _raft;
    private SoftState _prevSoftState;
    private HardState _prevHardState;
    private Ready? _outstanding;

    public RawNode(RaftConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        _raft = new RaftCore(config);
        _prevSoftState = _raft.SoftState;
        _prevHardState = _raft.HardState;
    }

    internal RaftCore Core => _raft;

    /// <summary>One unit of logical time: elections and heartbeats are counted in ticks.</summary>
    public void Tick() => _raft.Tick();

    /// <summary>Starts an election now (with pre-vote when configured).</summary>
    public void Campaign() => _raft.Hup(transfer: false);

    public ProposeResult Propose(ReadOnlyMemory<byte> data) =>
        _raft.Propose([new Entry(0, 0, EntryType.Normal, data)]);

    public ProposeResult ProposeConfChange(ConfChange cc)
    {
        ArgumentNullException.ThrowIfNull(cc);
        return _raft.Propose([new Entry(0, 0, EntryType.ConfChange, cc.Encode())]);
    }

    /// <summary>Call when a ConfChange entry is applied (decode its Data with <see cref="ConfChange.Decode"/>).
    /// An invalid change leaves the configuration unchanged on every member alike.</summary>
    public ConfState ApplyConfChange(ConfChange cc)
    {
        ArgumentNullException.ThrowIfNull(cc);
        return _raft.ApplyConfChange(cc);
    }

    /// <summary>A message from a peer. Local-only types are rejected; responses from non-members ignored.</summary>
    public StepResult Step(Message m)
    {
        ArgumentNullException.ThrowIfNull(m);
        if (Message.IsLocalOnly(m.Type))
        {
            return new StepResult(StepStatus.Rejected, $"raft: {m.Type} is a local message type");
        }

        if (m.From == RaftCore.None)
        {
            return new StepResult(StepStatus.Rejected, "raft: message without sender");
        }

        if (m.Term == 0 && m.Type is not (MessageType.Propose or MessageType.ReadIndex))
        {
            // Term 0 marks local messages inside the core; only forwarded requests travel without a term.
            return new StepResult(StepStatus.Rejected, $"raft: {m.Type} from {m.From} without a term");
        }

        if (Message.IsResponse(m.Type) && m.Type != MessageType.ReadIndexResponse && !_raft.Tracker.Progress.ContainsKey(m.From))
        {
            return new StepResult(StepStatus.Ignored, $"raft: response from unknown member {m.From}");
        }

        return _raft.Step(m);
    }

    /// <summary>
    /// Asks for a linearizable read point. The answer arrives as a <see cref="ReadState"/> with the same
    /// context in a later Ready (on a follower, via the leader). Requests that cannot be served now
    /// (no leader) are dropped: the caller retries after a timeout.
    /// </summary>
    public void ReadIndex(ReadOnlyMemory<byte> context) =>
        _raft.ReadIndex(new Message { Type = MessageType.ReadIndex, From = _raft.Id, Context = context });

    /// <summary>Asks the leader (this member or, forwarded, the known leader) to hand leadership to transferee.</summary>
    public void TransferLeader(ulong transferee) =>
        _raft.Step(new Message { Type = MessageType.TransferLeader, From = transferee });

    public void ReportUnreachable(ulong id) =>
        _raft.Step(new Message { Type = MessageType.Unreachable, From = id });

    /// <summary>
    /// Reports the outcome of sending a snapshot to id. The driver must report every Snapshot
    /// message it was given, delivered or not: until then the leader sends nothing else to id
    /// (if id's acknowledgment is lost, this report is the only way out of the Snapshot state).
    /// </summary>
    public void ReportSnapshot(ulong id, bool failed) =>
        _raft.Step(new Message { Type = MessageType.SnapshotStatus, From = id, Reject = failed });

    /// <summary>
    /// The messages the core produced since the last <see cref="GetReady"/> that may leave before
    /// any pending write is durable (those a Ready would put in <see cref="Ready.Messages"/>), taken
    /// out of the next Ready. For a driver that keeps stepping input while a Ready is persisted: a
    /// leader's new appends and a follower's forwarded proposals then go out without waiting for
    /// that write. Empty when there are none.
    /// </summary>
    public IReadOnlyList<Message> TakeMessages()
    {
        var msgs = _raft.Msgs;
        if (msgs.Count == 0)
        {
            return [];
        }

        var taken = msgs.ToList();
        msgs.Clear();
        return taken;
    }

    public bool HasReady()
    {
        if (_outstanding is not null)
        {
            return false;
        }

        var r = _raft;
        if (r.SoftState != _prevSoftState)
        {
            return true;
        }

        var hs = r.HardState;
        if (!hs.IsEmpty && hs != _prevHardState)
        {
            return true;
        }

        return r.Log.Unstable.Snapshot is not null
            || r.Log.Unstable.Entries.Count > 0
            || r.Msgs.Count > 0
            || r.MsgsAfterPersist.Count > 0
            || r.ReadStates.Count > 0
            || r.Log.HasNextCommittedEntries();
    }

    /// <summary>Everything that changed since the last Ready. Must be followed by <see cref="Advance"/> before the next call.</summary>
    public Ready GetReady()
    {
        if (_outstanding is not null)
        {
            throw new InvalidOperationException("raft: GetReady called before Advance of the previous Ready");
        }

        var r = _raft;
        var soft = r.SoftState;
        var hs = r.HardState;
        var entries = r.Log.Unstable.Entries.ToList();
        var hardChanged = hs != _prevHardState;
        var rd = new Ready
        {
            SoftState = soft != _prevSoftState ? soft : null,
            HardState = hardChanged ? hs : HardState.Empty,
            ReadStates = r.ReadStates.ToList(),
            Entries = entries,
            Snapshot = r.Log.Unstable.Snapshot ?? Snapshot.Empty,
            CommittedEntries = r.Log.NextCommittedEntries(r.MaxCommittedSizePerReady),
            Messages = r.Msgs.ToList(),
            MessagesAfterPersist = r.MsgsAfterPersist.ToList(),
            MustSync = entries.Count > 0 || hs.Term != _prevHardState.Term || hs.Vote != _prevHardState.Vote || r.Log.Unstable.Snapshot is not null,
        };
        r.ReadStates.Clear();
        r.Msgs.Clear();
        r.MsgsAfterPersist.Clear();
        _prevSoftState = soft;
        if (hardChanged)
        {
            _prevHardState = hs;
        }

        _outstanding = rd;
        return rd;
    }

    /// <summary>
    /// rd's Snapshot, Entries and HardState are durable and its CommittedEntries applied. Only now
    /// does a leader count itself toward committing the entries of rd.
    /// </summary>
    public void Advance(Ready rd)
    {
        ArgumentNullException.ThrowIfNull(rd);
        if (!ReferenceEquals(rd, _outstanding))
        {
            throw new InvalidOperationException("raft: Advance called with a Ready that is not the outstanding one");
        }

        _outstanding = null;
        if (!rd.HardState.IsEmpty)
        {
            _raft.PersistedTerm = rd.HardState.Term;
        }

        if (!rd.Snapshot.IsEmpty)
        {
            _raft.OnSnapshotPersisted(rd.Snapshot.Metadata.Index);
        }

        if (rd.Entries.Count > 0)
        {
            var last = rd.Entries[^1];
            _raft.OnPersisted(last.Index, last.Term);
        }

        if (rd.CommittedEntries.Count > 0)
        {
            ulong bytes = 0;
            foreach (var e in rd.CommittedEntries)
            {
                bytes += (ulong)e.Data.Length;
            }

            _raft.OnApplied(rd.CommittedEntries[^1].Index, bytes);
        }
    }

    public RaftStatus Status()
    {
        var r = _raft;
        var progress = new Dictionary<ulong, ProgressStatus>();
        if (r.State == RaftRole.Leader)
        {
            foreach (var (id, pr) in r.Tracker.Progress)
            {
                progress[id] = pr.ToStatus();
            }
        }

        return new RaftStatus
        {
            Id = r.Id,
            Term = r.Term,
            Vote = r.Vote,
            Commit = r.Log.Committed,
            Applied = r.Log.Applied,
            Lead = r.Lead,
            Role = r.State,
            LeadTransferee = r.LeadTransferee,
            ConfState = r.Tracker.Config.ToConfState(),
            Progress = progress,
        };
    }
}
