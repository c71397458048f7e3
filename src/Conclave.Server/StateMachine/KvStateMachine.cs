using System.Buffers.Binary;
using System.Text;
using Conclave.Raft;
using Conclave.Storage;
using Conclave.Storage.Mvcc;

namespace Conclave.Server.StateMachine;

/// <summary>
/// The replicated state of a member: the MVCC store, the lease table, the member table and the
/// alarms, advanced only by applying committed log entries in order. Apply is deterministic — no
/// clock, no randomness, no member-local input — so every member that applies the same entries
/// holds the same state and returns the same results.
/// <para>Threading: one thread (the apply loop) calls the Apply methods and Restore; reads of
/// <see cref="Store"/> are safe from any thread; the lease/member/alarm views are snapshots that
/// readers may hold (they are replaced, never mutated, by apply).</para>
/// </summary>
public sealed class KvStateMachine
{
    /// <summary>etcd's upper bound on a lease TTL in seconds (ErrLeaseTTLTooLarge above it).</summary>
    public const long MaxLeaseTtlSeconds = 9_000_000_000;

    private static readonly byte[] SnapshotMagic = "CSTATE01"u8.ToArray();

    private Dictionary<long, Lease> _leases = [];
    private Dictionary<ulong, Member> _members = [];
    private HashSet<(ulong Member, AlarmType Alarm)> _alarms = [];

    /// <param name="store">The key-value store this state machine owns from now on.</param>
    /// <param name="minLeaseTtlSeconds">A grant with a shorter TTL gets this one (etcd: 1.5 election timeouts, rounded up to seconds).</param>
    public KvStateMachine(MvccStore store, long minLeaseTtlSeconds)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(minLeaseTtlSeconds);
        Store = store;
        MinLeaseTtlSeconds = minLeaseTtlSeconds;
    }

    public MvccStore Store { get; }

    public long MinLeaseTtlSeconds { get; }

    /// <summary>Index and term of the last entry applied (0 before any).</summary>
    public ulong AppliedIndex { get; private set; }

    public ulong AppliedTerm { get; private set; }

    public IReadOnlyDictionary<long, Lease> Leases => _leases;

    public IReadOnlyDictionary<ulong, Member> Members => _members;

    public IReadOnlyCollection<(ulong Member, AlarmType Alarm)> Alarms => _alarms;

    public bool HasAlarm(AlarmType alarm) => _alarms.Any(a => a.Alarm == alarm);

    /// <summary>
    /// Applies one committed entry that is not a configuration change. An empty entry (a new
    /// leader's first) changes nothing but the applied index. An entry that does not decode means
    /// the log is corrupt or was written by an incompatible version: that stops the member.
    /// </summary>
    public ApplyResult Apply(in Entry entry)
    {
        if (entry.Type != EntryType.Normal)
        {
            throw new ArgumentException($"apply: entry {entry.Index} is a {entry.Type}; use {nameof(ApplyConfChange)}", nameof(entry));
        }
        Advance(entry);
        if (entry.Data.IsEmpty)
        {
            return new Applied(ApplyStatus.Ok, Store.CurrentRevision);
        }
        if (!CommandCodec.TryDecode(entry.Data.Span, out var command, out var error))
        {
            throw new InvalidDataException($"apply: log entry {entry.Index} (term {entry.Term}) is not a command: {error}");
        }
        return Apply(command!);
    }

    /// <summary>
    /// Records the membership effect of an applied configuration change (the caller also hands
    /// it to the consensus core). Each single change's member comes from the context: one encoded
    /// <see cref="Member"/> for a single change; for a joint change the context is ignored and
    /// members are added by id only.
    /// </summary>
    public void ApplyConfChange(in Entry entry, ConfChange change)
    {
        Advance(entry);
        var members = new Dictionary<ulong, Member>(_members);
        var described = change.Changes.Count == 1 && !change.Context.IsEmpty ? Member.TryDecode(change.Context.Span) : null;
        foreach (var c in change.Changes)
        {
            var known = members.GetValueOrDefault(c.NodeId);
            var info = described is not null && described.Id == c.NodeId ? described : known ?? new Member { Id = c.NodeId };
            switch (c.Type)
            {
                case ConfChangeType.AddNode:
                    members[c.NodeId] = info with { IsLearner = false };
                    break;
                case ConfChangeType.AddLearnerNode:
                    members[c.NodeId] = info with { IsLearner = true };
                    break;
                case ConfChangeType.RemoveNode:
                    members.Remove(c.NodeId);
                    break;
            }
        }
        _members = members;
    }

    /// <summary>Applies a decoded command; exposed for tests and for replay tools.</summary>
    public ApplyResult Apply(Command command)
    {
        if (HasAlarm(AlarmType.Corrupt) && command is not (AlarmCommand or MemberAttributesCommand))
        {
            return Failed(command, ApplyStatus.Corrupt);
        }
        return command switch
        {
            PutCommand c => ApplyPut(c),
            DeleteRangeCommand c => ApplyDelete(c),
            TxnCommand c => ApplyTxn(c.Request),
            CompactCommand c => new CompactApplied(ApplyStatusMapping.FromMvcc(Store.Compact(c.Revision)), Store.CurrentRevision),
            LeaseGrantCommand c => ApplyLeaseGrant(c),
            LeaseRevokeCommand c => ApplyLeaseRevoke(c.LeaseId),
            LeaseCheckpointCommand c => ApplyCheckpoint(c),
            AlarmCommand c => ApplyAlarm(c),
            MemberAttributesCommand c => ApplyMemberAttributes(c),
            _ => throw new ArgumentException($"apply: unknown command {command.GetType().Name}", nameof(command)),
        };
    }

    private ApplyResult ApplyPut(PutCommand c)
    {
        var r = ApplyTxn(new TxnRequest { Success = [RequestOp.Put(c.Request)] });
        return new PutApplied(r.Status, r.Revision, r is TxnApplied { Status: ApplyStatus.Ok } t ? ((PutResponseOp)t.Responses[0]).PrevKv : null);
    }

    private ApplyResult ApplyDelete(DeleteRangeCommand c)
    {
        var r = ApplyTxn(new TxnRequest { Success = [RequestOp.DeleteRange(c.Request)] });
        if (r is TxnApplied { Status: ApplyStatus.Ok } t)
        {
            var d = (DeleteRangeResponseOp)t.Responses[0];
            return new DeleteRangeApplied(ApplyStatus.Ok, r.Revision, d.Deleted, d.PrevKvs);
        }
        return new DeleteRangeApplied(r.Status, r.Revision, 0, []);
    }

    private ApplyResult ApplyTxn(TxnRequest request)
    {
        // etcd's capped applier: with NOSPACE raised, requests that may put are refused whole.
        if (HasAlarm(AlarmType.NoSpace) && MayPut(request))
        {
            return new TxnApplied(ApplyStatus.NoSpace, Store.CurrentRevision, false, []);
        }
        if (MissingLease(request))
        {
            return new TxnApplied(ApplyStatus.LeaseNotFound, Store.CurrentRevision, false, []);
        }
        var r = Store.Txn(request);
        var status = ApplyStatusMapping.FromMvcc(r.Status);
        if (status == ApplyStatus.NoSpace)
        {
            // The store is at its quota: raise NOSPACE on every member at the same entry, as etcd's
            // quota check does, so puts stay refused until an operator or client disarms it.
            _alarms = new HashSet<(ulong Member, AlarmType Alarm)>(_alarms) { (0, AlarmType.NoSpace) };
        }
        return new TxnApplied(status, r.Revision, r.Succeeded, r.Responses);
    }

    private ApplyResult ApplyLeaseGrant(LeaseGrantCommand c)
    {
        var rev = Store.CurrentRevision;
        if (HasAlarm(AlarmType.NoSpace))
        {
            return new LeaseGranted(ApplyStatus.NoSpace, rev, c.LeaseId, 0);
        }
        if (c.LeaseId <= 0)
        {
            return new LeaseGranted(ApplyStatus.InvalidLeaseId, rev, c.LeaseId, 0);
        }
        if (c.TtlSeconds > MaxLeaseTtlSeconds)
        {
            return new LeaseGranted(ApplyStatus.LeaseTtlTooLarge, rev, c.LeaseId, 0);
        }
        if (_leases.ContainsKey(c.LeaseId))
        {
            return new LeaseGranted(ApplyStatus.LeaseExists, rev, c.LeaseId, 0);
        }
        var ttl = Math.Max(c.TtlSeconds, MinLeaseTtlSeconds);
        _leases = new Dictionary<long, Lease>(_leases) { [c.LeaseId] = new Lease(c.LeaseId, ttl, 0) };
        return new LeaseGranted(ApplyStatus.Ok, rev, c.LeaseId, ttl);
    }

    private ApplyResult ApplyLeaseRevoke(long leaseId)
    {
        if (!_leases.ContainsKey(leaseId))
        {
            return new LeaseRevoked(ApplyStatus.LeaseNotFound, Store.CurrentRevision, 0);
        }
        long deleted = 0;
        var keys = Store.KeysWithLease(leaseId);
        if (keys.Count > 0)
        {
            // Every attached key goes in one revision, on every member alike.
            using var txn = Store.BeginWrite();
            foreach (var key in keys)
            {
                deleted += txn.DeleteRange(key).Deleted;
            }
            txn.Commit();
        }
        var leases = new Dictionary<long, Lease>(_leases);
        leases.Remove(leaseId);
        _leases = leases;
        return new LeaseRevoked(ApplyStatus.Ok, Store.CurrentRevision, deleted);
    }

    private ApplyResult ApplyCheckpoint(LeaseCheckpointCommand c)
    {
        var leases = new Dictionary<long, Lease>(_leases);
        foreach (var cp in c.Checkpoints)
        {
            // A checkpoint of a lease revoked meanwhile is harmless: skip it.
            if (leases.TryGetValue(cp.LeaseId, out var lease))
            {
                leases[cp.LeaseId] = lease with { RemainingTtlSeconds = Math.Clamp(cp.RemainingTtlSeconds, 0, lease.TtlSeconds) };
            }
        }
        _leases = leases;
        return new Applied(ApplyStatus.Ok, Store.CurrentRevision);
    }

    private ApplyResult ApplyMemberAttributes(MemberAttributesCommand c)
    {
        // Attributes of a member removed meanwhile are dropped.
        if (_members.TryGetValue(c.MemberId, out var m))
        {
            _members = new Dictionary<ulong, Member>(_members) { [c.MemberId] = m with { Name = c.Name, ClientUrls = c.ClientUrls.ToList() } };
        }
        return new Applied(ApplyStatus.Ok, Store.CurrentRevision);
    }

    private ApplyResult ApplyAlarm(AlarmCommand c)
    {
        var alarms = new HashSet<(ulong Member, AlarmType Alarm)>(_alarms);
        if (c.Action == AlarmAction.Activate)
        {
            alarms.Add((c.MemberId, c.Alarm));
        }
        else
        {
            alarms.RemoveWhere(a => (c.MemberId == 0 || a.Member == c.MemberId) && (c.Alarm == AlarmType.None || a.Alarm == c.Alarm));
        }
        _alarms = alarms;
        return new Applied(ApplyStatus.Ok, Store.CurrentRevision);
    }

    /// <summary>
    /// A put naming a lease that does not exist fails the whole request (etcd: "requested lease not
    /// found"). Checked over every put of the request, both branches of a txn included.
    /// </summary>
    private bool MissingLease(TxnRequest request) =>
        request.Success.Concat(request.Failure).Any(op => op switch
        {
            PutOp p => p.Request.Lease != 0 && !_leases.ContainsKey(p.Request.Lease),
            TxnOp t => MissingLease(t.Request),
            _ => false,
        });

    private static bool MayPut(TxnRequest request) =>
        request.Success.Concat(request.Failure).Any(op => op is PutOp || (op is TxnOp t && MayPut(t.Request)));

    private ApplyResult Failed(Command command, ApplyStatus status)
    {
        var rev = Store.CurrentRevision;
        return command switch
        {
            PutCommand => new PutApplied(status, rev, null),
            DeleteRangeCommand => new DeleteRangeApplied(status, rev, 0, []),
            TxnCommand => new TxnApplied(status, rev, false, []),
            CompactCommand => new CompactApplied(status, rev),
            LeaseGrantCommand g => new LeaseGranted(status, rev, g.LeaseId, 0),
            LeaseRevokeCommand => new LeaseRevoked(status, rev, 0),
            _ => new Applied(status, rev),
        };
    }

    private void Advance(in Entry entry)
    {
        if (entry.Index <= AppliedIndex)
        {
            throw new InvalidOperationException($"apply: entry {entry.Index} applied after {AppliedIndex}; entries must be applied once, in order");
        }
        AppliedIndex = entry.Index;
        AppliedTerm = entry.Term;
    }

    /// <summary>
    /// Writes the whole replicated state: a header (magic, applied index/term, members, leases,
    /// alarms, CRC-32C of the header) followed by the MVCC store's own snapshot. Call between two
    /// applies (the apply loop calls it itself); <see cref="BeginSnapshot"/> writes it later instead.
    /// </summary>
    public void WriteSnapshot(Stream output)
    {
        using var image = BeginSnapshot();
        image.WriteTo(output);
    }

    /// <summary>
    /// Fixes the image of the whole state as applied so far (call it between two applies) and
    /// returns it, to be written later from any thread while applying goes on: the header is taken
    /// now, the MVCC store is pinned at its current revision (<see cref="MvccStore.BeginSnapshot"/>).
    /// Dispose the image once written.
    /// </summary>
    public StateSnapshotImage BeginSnapshot()
    {
        using var header = new MemoryStream();
        using (var w = new BinaryWriter(header, Encoding.UTF8, leaveOpen: true))
        {
            w.Write(AppliedIndex);
            w.Write(AppliedTerm);
            w.Write(_members.Count);
            foreach (var m in _members.Values.OrderBy(m => m.Id))
            {
                var bytes = m.Encode();
                w.Write(bytes.Length);
                w.Write(bytes);
            }
            w.Write(_leases.Count);
            foreach (var l in _leases.Values.OrderBy(l => l.Id))
            {
                w.Write(l.Id);
                w.Write(l.TtlSeconds);
                w.Write(l.RemainingTtlSeconds);
            }
            w.Write(_alarms.Count);
            foreach (var (member, alarm) in _alarms.OrderBy(a => a.Member).ThenBy(a => a.Alarm))
            {
                w.Write(member);
                w.Write((byte)alarm);
            }
        }
        var body = header.GetBuffer().AsSpan(0, (int)header.Length);
        var prefix = new byte[SnapshotMagic.Length + 8 + body.Length];
        SnapshotMagic.CopyTo(prefix);
        BinaryPrimitives.WriteInt32LittleEndian(prefix.AsSpan(SnapshotMagic.Length), body.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(prefix.AsSpan(SnapshotMagic.Length + 4), Crc32C.Compute(body));
        body.CopyTo(prefix.AsSpan(SnapshotMagic.Length + 8));
        return new StateSnapshotImage(AppliedIndex, AppliedTerm, prefix, Store.BeginSnapshot());
    }

    /// <summary>Replaces the whole state with a snapshot written by <see cref="WriteSnapshot"/>; throws InvalidDataException if it is damaged.</summary>
    public void Restore(Stream input)
    {
        Span<byte> prefix = stackalloc byte[SnapshotMagic.Length + 8];
        input.ReadExactly(prefix);
        if (!prefix[..SnapshotMagic.Length].SequenceEqual(SnapshotMagic))
        {
            throw new InvalidDataException("state snapshot: bad magic (not a Conclave state snapshot, or an unknown version)");
        }
        var length = BinaryPrimitives.ReadInt32LittleEndian(prefix[SnapshotMagic.Length..]);
        var crc = BinaryPrimitives.ReadUInt32LittleEndian(prefix[(SnapshotMagic.Length + 4)..]);
        if (length < 0 || length > 1 << 30)
        {
            throw new InvalidDataException($"state snapshot: header length {length} out of range");
        }
        var body = new byte[length];
        input.ReadExactly(body);
        if (Crc32C.Compute(body) != crc)
        {
            throw new InvalidDataException("state snapshot: header checksum mismatch");
        }
        using var r = new BinaryReader(new MemoryStream(body), Encoding.UTF8);
        var applied = r.ReadUInt64();
        var appliedTerm = r.ReadUInt64();
        var members = new Dictionary<ulong, Member>();
        for (int i = 0, n = r.ReadInt32(); i < n; i++)
        {
            var m = Member.TryDecode(r.ReadBytes(r.ReadInt32())) ?? throw new InvalidDataException("state snapshot: bad member record");
            members[m.Id] = m;
        }
        var leases = new Dictionary<long, Lease>();
        for (int i = 0, n = r.ReadInt32(); i < n; i++)
        {
            var l = new Lease(r.ReadInt64(), r.ReadInt64(), r.ReadInt64());
            leases[l.Id] = l;
        }
        var alarms = new HashSet<(ulong Member, AlarmType Alarm)>();
        for (int i = 0, n = r.ReadInt32(); i < n; i++)
        {
            alarms.Add((r.ReadUInt64(), (AlarmType)r.ReadByte()));
        }
        Store.Restore(input);
        AppliedIndex = applied;
        AppliedTerm = appliedTerm;
        _members = members;
        _leases = leases;
        _alarms = alarms;
    }
}

/// <summary>
/// The replicated state's image at <see cref="Index"/>, fixed by <see cref="KvStateMachine.BeginSnapshot"/>:
/// its header bytes, and the MVCC store pinned at the matching revision.
/// </summary>
public sealed class StateSnapshotImage(ulong index, ulong term, byte[] header, MvccSnapshotImage store) : IDisposable
{
    /// <summary>The applied index the image holds.</summary>
    public ulong Index { get; } = index;

    /// <summary>The term of the entry at <see cref="Index"/>.</summary>
    public ulong Term { get; } = term;

    /// <summary>Writes the image (the format of <see cref="KvStateMachine.WriteSnapshot"/>). Any thread.</summary>
    public void WriteTo(Stream output)
    {
        ArgumentNullException.ThrowIfNull(output);
        output.Write(header);
        store.WriteTo(output);
    }

    /// <summary>Releases the MVCC store's pin.</summary>
    public void Dispose() => store.Dispose();
}
