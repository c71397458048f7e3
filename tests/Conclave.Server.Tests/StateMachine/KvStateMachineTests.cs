using Conclave.Raft;
using Conclave.Server.StateMachine;
using Conclave.Storage.Mvcc;

namespace Conclave.Server.Tests.StateMachine;

public sealed class KvStateMachineTests
{
    private ulong _index;

    private ApplyResult Apply(KvStateMachine sm, Command c) =>
        sm.Apply(new Entry(1, ++_index, EntryType.Normal, CommandCodec.Encode(c)));

    private static PutCommand Put(string key, long lease = 0, int valueBytes = 1) =>
        new(new PutRequest { Key = System.Text.Encoding.UTF8.GetBytes(key), Value = new byte[valueBytes], Lease = lease });

    [Fact]
    public void Lease_rules_ids_ttl_missing_lease_and_revoke_of_attached_keys()
    {
        var sm = new KvStateMachine(new MvccStore(), minLeaseTtlSeconds: 5);
        Assert.Equal(ApplyStatus.InvalidLeaseId, Apply(sm, new LeaseGrantCommand(0, 10)).Status);
        Assert.Equal(ApplyStatus.LeaseTtlTooLarge, Apply(sm, new LeaseGrantCommand(1, KvStateMachine.MaxLeaseTtlSeconds + 1)).Status);
        var g = (LeaseGranted)Apply(sm, new LeaseGrantCommand(1, 2));
        Assert.Equal(5, g.TtlSeconds);
        Assert.Equal(ApplyStatus.LeaseExists, Apply(sm, new LeaseGrantCommand(1, 2)).Status);
        Assert.Equal(ApplyStatus.LeaseNotFound, Apply(sm, Put("a", lease: 2)).Status);
        Assert.Equal(ApplyStatus.Ok, Apply(sm, Put("a", lease: 1)).Status);
        Assert.Equal(ApplyStatus.Ok, Apply(sm, Put("b", lease: 1)).Status);
        var before = sm.Store.CurrentRevision;
        var r = (LeaseRevoked)Apply(sm, new LeaseRevokeCommand(1));
        Assert.Equal(2, r.DeletedKeys);
        Assert.Equal(before + 1, r.Revision);
        Assert.Equal(ApplyStatus.LeaseNotFound, Apply(sm, new LeaseRevokeCommand(1)).Status);
        Assert.Equal(_index, sm.AppliedIndex);
    }

    [Fact]
    public void Hitting_the_quota_raises_nospace_until_it_is_disarmed()
    {
        var sm = new KvStateMachine(new MvccStore(new MvccStoreOptions { QuotaBytes = 1000 }), 1);
        Assert.Equal(ApplyStatus.Ok, Apply(sm, Put("a", valueBytes: 500)).Status);
        Assert.Equal(ApplyStatus.NoSpace, Apply(sm, Put("b", valueBytes: 500)).Status);
        Assert.True(sm.HasAlarm(AlarmType.NoSpace));
        Assert.Equal(ApplyStatus.NoSpace, Apply(sm, Put("c")).Status);
        Assert.Equal(ApplyStatus.Ok, Apply(sm, new DeleteRangeCommand(new DeleteRangeRequest { Key = "a"u8.ToArray() })).Status);
        Assert.Equal(ApplyStatus.NoSpace, Apply(sm, Put("c")).Status);
        Apply(sm, new AlarmCommand(AlarmAction.Deactivate, 0, AlarmType.NoSpace));
        Assert.False(sm.HasAlarm(AlarmType.NoSpace));
        Apply(sm, new CompactCommand(sm.Store.CurrentRevision));
        sm.Store.FinishCompaction();
        Assert.Equal(ApplyStatus.Ok, Apply(sm, Put("c")).Status);
    }

    [Fact]
    public void A_snapshot_restores_store_leases_members_alarms_and_applied_index()
    {
        var sm = new KvStateMachine(new MvccStore(), 1);
        var member = new Server.StateMachine.Member { Id = 3, Name = "m3", PeerUrls = ["http://x:2380"] };
        var cc = ConfChange.Single(ConfChangeType.AddNode, 3) with { Context = member.Encode() };
        sm.ApplyConfChange(new Entry(1, ++_index, EntryType.ConfChange, cc.Encode()), cc);
        Apply(sm, new LeaseGrantCommand(9, 30));
        Apply(sm, new LeaseCheckpointCommand([new LeaseCheckpoint(9, 12)]));
        Apply(sm, Put("k", lease: 9));
        Apply(sm, new AlarmCommand(AlarmAction.Activate, 3, AlarmType.Corrupt));
        using var image = new MemoryStream();
        sm.WriteSnapshot(image);

        var restored = new KvStateMachine(new MvccStore(), 1);
        image.Position = 0;
        restored.Restore(image);
        Assert.Equal(sm.AppliedIndex, restored.AppliedIndex);
        Assert.Equal(sm.Store.CurrentRevision, restored.Store.CurrentRevision);
        Assert.Equal(sm.Store.HashKV(0).Hash, restored.Store.HashKV(0).Hash);
        Assert.Equal(new Lease(9, 30, 12), restored.Leases[9]);
        Assert.Equal("m3", restored.Members[3].Name);
        Assert.True(restored.HasAlarm(AlarmType.Corrupt));
        Assert.Equal(ApplyStatus.Corrupt, Apply(restored, Put("x")).Status);

        var damaged = image.ToArray();
        damaged[20] ^= 0xFF;
        Assert.Throws<InvalidDataException>(() => new KvStateMachine(new MvccStore(), 1).Restore(new MemoryStream(damaged)));
    }
}
