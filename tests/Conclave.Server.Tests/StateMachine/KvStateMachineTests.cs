using System.Text;
using Conclave.Raft;
using Conclave.Server.StateMachine;
using Conclave.Storage.Mvcc;

namespace Conclave.Server.Tests.StateMachine;

public sealed class KvStateMachineTests
{
    private ulong _index;

    private static byte[] B(string s) => Encoding.UTF8.GetBytes(s);

    private static KvStateMachine NewMachine(long quotaBytes = 1 << 30, long minTtl = 5) =>
        new(new MvccStore(new MvccStoreOptions { QuotaBytes = quotaBytes }), minTtl);

    /// <summary>Applies a command the way the apply loop does: encoded in a log entry.</summary>
    private ApplyResult Apply(KvStateMachine sm, Command command) =>
        sm.Apply(new Entry(1, ++_index, EntryType.Normal, CommandCodec.Encode(command)));

    private static PutCommand Put(string key, string value, long lease = 0) =>
        new(new PutRequest { Key = B(key), Value = B(value), Lease = lease });

    private static string? Get(KvStateMachine sm, string key)
    {
        var r = sm.Store.Range(RangeRequest.Single(B(key)));
        return r.Kvs.Count == 0 ? null : Encoding.UTF8.GetString(r.Kvs[0].Value.Span);
    }

    [Fact]
    public void Puts_advance_the_revision_and_the_applied_index()
    {
        var sm = NewMachine();
        var r1 = (PutApplied)Apply(sm, Put("a", "1"));
        var r2 = (PutApplied)Apply(sm, Put("a", "2") with { Request = new PutRequest { Key = B("a"), Value = B("2"), PrevKv = true } });
        Assert.Equal((ApplyStatus.Ok, 2L), (r1.Status, r1.Revision));
        Assert.Equal((ApplyStatus.Ok, 3L), (r2.Status, r2.Revision));
        Assert.Equal("1", Encoding.UTF8.GetString(r2.PrevKv!.Value.Span));
        Assert.Equal(2UL, sm.AppliedIndex);
        Assert.Equal("2", Get(sm, "a"));
    }

    [Fact]
    public void An_empty_entry_only_advances_the_applied_index()
    {
        var sm = NewMachine();
        var r = sm.Apply(new Entry(3, 1));
        Assert.Equal((ApplyStatus.Ok, 1L), (r.Status, r.Revision));
        Assert.Equal((1UL, 3UL), (sm.AppliedIndex, sm.AppliedTerm));
    }

    [Fact]
    public void Entries_must_be_applied_once_and_in_order()
    {
        var sm = NewMachine();
        sm.Apply(new Entry(1, 5));
        Assert.Throws<InvalidOperationException>(() => sm.Apply(new Entry(1, 5)));
        Assert.Throws<InvalidOperationException>(() => sm.Apply(new Entry(1, 4)));
    }

    [Fact]
    public void An_entry_that_is_not_a_command_stops_apply_with_its_index()
    {
        var sm = NewMachine();
        var e = Assert.Throws<InvalidDataException>(() => sm.Apply(new Entry(2, 9, EntryType.Normal, new byte[] { 77 })));
        Assert.Contains("entry 9", e.Message);
    }

    [Fact]
    public void A_grant_below_the_minimum_ttl_gets_the_minimum()
    {
        var sm = NewMachine(minTtl: 5);
        var g = (LeaseGranted)Apply(sm, new LeaseGrantCommand(100, 1));
        Assert.Equal((ApplyStatus.Ok, 5L), (g.Status, g.TtlSeconds));
        var big = (LeaseGranted)Apply(sm, new LeaseGrantCommand(101, 60));
        Assert.Equal(60L, big.TtlSeconds);
        Assert.Equal(1L, big.Revision);
    }

    [Theory]
    [InlineData(100, 10, ApplyStatus.LeaseExists)]
    [InlineData(0, 10, ApplyStatus.InvalidLeaseId)]
    [InlineData(-5, 10, ApplyStatus.InvalidLeaseId)]
    [InlineData(200, KvStateMachine.MaxLeaseTtlSeconds + 1, ApplyStatus.LeaseTtlTooLarge)]
    public void Bad_grants_are_refused_and_change_nothing(long id, long ttl, ApplyStatus expected)
    {
        var sm = NewMachine();
        Apply(sm, new LeaseGrantCommand(100, 10));
        var r = Apply(sm, new LeaseGrantCommand(id, ttl));
        Assert.Equal(expected, r.Status);
        Assert.Single(sm.Leases);
        Assert.Equal(10L, sm.Leases[100].TtlSeconds);
    }

    [Fact]
    public void A_put_with_an_unknown_lease_is_refused_whole()
    {
        var sm = NewMachine();
        var r = Apply(sm, Put("k", "v", lease: 77));
        Assert.Equal(ApplyStatus.LeaseNotFound, r.Status);
        var txn = new TxnCommand(new TxnRequest
        {
            Success = [RequestOp.Put(new PutRequest { Key = B("a"), Value = B("1") }), RequestOp.Put(new PutRequest { Key = B("b"), Value = B("2"), Lease = 77 })],
        });
        Assert.Equal(ApplyStatus.LeaseNotFound, Apply(sm, txn).Status);
        Assert.Equal(1L, sm.Store.CurrentRevision);
        Assert.Null(Get(sm, "a"));
    }

    [Fact]
    public void Revoke_deletes_every_attached_key_in_one_revision()
    {
        var sm = NewMachine();
        Apply(sm, new LeaseGrantCommand(9, 30));
        Apply(sm, Put("a", "1", lease: 9));
        Apply(sm, Put("b", "2", lease: 9));
        Apply(sm, Put("c", "3"));
        Assert.Equal(4L, sm.Store.CurrentRevision);

        var r = (LeaseRevoked)Apply(sm, new LeaseRevokeCommand(9));
        Assert.Equal((ApplyStatus.Ok, 5L, 2L), (r.Status, r.Revision, r.DeletedKeys));
        Assert.Null(Get(sm, "a"));
        Assert.Null(Get(sm, "b"));
        Assert.Equal("3", Get(sm, "c"));
        Assert.Empty(sm.Leases);

        var events = sm.Store.EventsSince(5, B("\0"), new byte[] { 0 });
        Assert.Equal(2, events.Events.Count);
        Assert.All(events.Events, e => Assert.Equal((EventType.Delete, 5L), (e.Type, e.Kv.ModRevision)));

        Assert.Equal(ApplyStatus.LeaseNotFound, Apply(sm, new LeaseRevokeCommand(9)).Status);
    }

    [Fact]
    public void Revoking_a_lease_without_keys_keeps_the_revision()
    {
        var sm = NewMachine();
        Apply(sm, new LeaseGrantCommand(9, 30));
        var r = (LeaseRevoked)Apply(sm, new LeaseRevokeCommand(9));
        Assert.Equal((ApplyStatus.Ok, 1L, 0L), (r.Status, r.Revision, r.DeletedKeys));
    }

    [Fact]
    public void Checkpoints_record_the_remaining_ttl_within_the_granted_one()
    {
        var sm = NewMachine();
        Apply(sm, new LeaseGrantCommand(1, 60));
        Apply(sm, new LeaseGrantCommand(2, 60));
        Apply(sm, new LeaseCheckpointCommand([new LeaseCheckpoint(1, 20), new LeaseCheckpoint(2, 600), new LeaseCheckpoint(3, 5)]));
        Assert.Equal(20L, sm.Leases[1].EffectiveRemainingSeconds);
        Assert.Equal(60L, sm.Leases[2].EffectiveRemainingSeconds);
        Assert.False(sm.Leases.ContainsKey(3));
    }

    [Fact]
    public void Quota_raises_nospace_which_refuses_puts_until_disarmed_but_allows_deletes()
    {
        var sm = NewMachine(quotaBytes: 4096);
        var value = new string('x', 1000);
        var status = ApplyStatus.Ok;
        var i = 0;
        while (status == ApplyStatus.Ok && i < 100)
        {
            status = Apply(sm, Put($"k{i++}", value)).Status;
        }
        Assert.Equal(ApplyStatus.NoSpace, status);
        Assert.True(sm.HasAlarm(AlarmType.NoSpace));
        var revision = sm.Store.CurrentRevision;

        // Even a small put is refused while the alarm is up; lease grants too.
        Assert.Equal(ApplyStatus.NoSpace, Apply(sm, Put("tiny", "1")).Status);
        Assert.Equal(ApplyStatus.NoSpace, Apply(sm, new LeaseGrantCommand(5, 10)).Status);
        Assert.Equal(revision, sm.Store.CurrentRevision);

        // A client can repair the store: delete, compact, disarm.
        var deleted = (DeleteRangeApplied)Apply(sm, new DeleteRangeCommand(new DeleteRangeRequest { Key = B("k"), RangeEnd = B("l") }));
        Assert.Equal(ApplyStatus.Ok, deleted.Status);
        Assert.Equal(ApplyStatus.Ok, Apply(sm, new CompactCommand(sm.Store.CurrentRevision)).Status);
        sm.Store.FinishCompaction();
        Apply(sm, new AlarmCommand(AlarmAction.Deactivate, 0, AlarmType.NoSpace));
        Assert.False(sm.HasAlarm(AlarmType.NoSpace));
        Assert.Equal(ApplyStatus.Ok, Apply(sm, Put("tiny", "1")).Status);
    }

    [Fact]
    public void A_corrupt_alarm_refuses_every_write()
    {
        var sm = NewMachine();
        Apply(sm, new AlarmCommand(AlarmAction.Activate, 3, AlarmType.Corrupt));
        Assert.Equal(ApplyStatus.Corrupt, Apply(sm, Put("a", "1")).Status);
        Assert.Equal(ApplyStatus.Corrupt, Apply(sm, new LeaseGrantCommand(1, 10)).Status);
        Assert.Equal(ApplyStatus.Corrupt, Apply(sm, new CompactCommand(1)).Status);
        Apply(sm, new AlarmCommand(AlarmAction.Deactivate, 3, AlarmType.Corrupt));
        Assert.Equal(ApplyStatus.Ok, Apply(sm, Put("a", "1")).Status);
    }

    [Fact]
    public void Configuration_changes_maintain_the_member_table()
    {
        var sm = NewMachine();
        var m2 = new global::Conclave.Server.StateMachine.Member { Id = 2, Name = "two", PeerUrls = ["http://127.0.0.1:2"] };
        sm.ApplyConfChange(new Entry(1, ++_index), ConfChange.Single(ConfChangeType.AddLearnerNode, 2) with { Context = m2.Encode() });
        Assert.True(sm.Members[2].IsLearner);
        Assert.Equal("two", sm.Members[2].Name);

        // Promotion keeps what is known of the member.
        sm.ApplyConfChange(new Entry(1, ++_index), ConfChange.Single(ConfChangeType.AddNode, 2));
        Assert.False(sm.Members[2].IsLearner);
        Assert.Equal(["http://127.0.0.1:2"], sm.Members[2].PeerUrls);

        sm.ApplyConfChange(new Entry(1, ++_index), ConfChange.Single(ConfChangeType.RemoveNode, 2));
        Assert.Empty(sm.Members);
        Assert.Equal(3UL, sm.AppliedIndex);
    }

    [Fact]
    public void Published_attributes_update_a_known_member_and_are_dropped_for_an_unknown_one()
    {
        var sm = NewMachine();
        sm.ApplyConfChange(new Entry(1, ++_index), ConfChange.Single(ConfChangeType.AddNode, 7) with { Context = new global::Conclave.Server.StateMachine.Member { Id = 7, PeerUrls = ["http://p:1"] }.Encode() });
        Assert.Equal(ApplyStatus.Ok, Apply(sm, new MemberAttributesCommand(7, "seven", ["http://c:1"])).Status);
        Assert.Equal(("seven", "http://c:1", "http://p:1"), (sm.Members[7].Name, sm.Members[7].ClientUrls.Single(), sm.Members[7].PeerUrls.Single()));
        Apply(sm, new MemberAttributesCommand(8, "eight", ["http://c:2"]));
        Assert.False(sm.Members.ContainsKey(8));
        Assert.Equal(1L, sm.Store.CurrentRevision);
    }

    [Fact]
    public void A_snapshot_restores_an_indistinguishable_state()
    {
        var sm = NewMachine();
        sm.ApplyConfChange(new Entry(1, ++_index), ConfChange.Single(ConfChangeType.AddNode, 1) with { Context = new global::Conclave.Server.StateMachine.Member { Id = 1, Name = "one" }.Encode() });
        Apply(sm, new LeaseGrantCommand(9, 30));
        Apply(sm, new LeaseCheckpointCommand([new LeaseCheckpoint(9, 12)]));
        for (var i = 0; i < 50; i++)
        {
            Apply(sm, Put($"k{i % 7}", $"v{i}", lease: i % 3 == 0 ? 9 : 0));
        }
        Apply(sm, new CompactCommand(20));
        Apply(sm, new AlarmCommand(AlarmAction.Activate, 1, AlarmType.NoSpace));

        using var image = new MemoryStream();
        sm.WriteSnapshot(image);
        var restored = NewMachine();
        image.Position = 0;
        restored.Restore(image);

        Assert.Equal((sm.AppliedIndex, sm.AppliedTerm), (restored.AppliedIndex, restored.AppliedTerm));
        Assert.Equal(sm.Members[1], restored.Members[1]);
        Assert.Equal(sm.Leases[9], restored.Leases[9]);
        Assert.Equal(sm.Alarms, restored.Alarms);
        Assert.Equal(sm.Store.CurrentRevision, restored.Store.CurrentRevision);
        Assert.Equal(sm.Store.CompactRevision, restored.Store.CompactRevision);
        Assert.Equal(sm.Store.HashKV(0).Hash, restored.Store.HashKV(0).Hash);
        Assert.Equal(sm.Store.KeysWithLease(9).Count, restored.Store.KeysWithLease(9).Count);
    }

    [Fact]
    public void A_damaged_snapshot_header_is_refused()
    {
        var sm = NewMachine();
        Apply(sm, Put("a", "1"));
        using var image = new MemoryStream();
        sm.WriteSnapshot(image);
        var bytes = image.ToArray();
        bytes[20] ^= 0x40;
        var e = Assert.Throws<InvalidDataException>(() => NewMachine().Restore(new MemoryStream(bytes)));
        Assert.Contains("checksum", e.Message);
    }
}
