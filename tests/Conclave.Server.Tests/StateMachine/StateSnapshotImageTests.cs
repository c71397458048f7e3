using System.Text;
using Conclave.Raft;
using Conclave.Server.StateMachine;
using Conclave.Storage.Mvcc;

namespace Conclave.Server.Tests.StateMachine;

/// <summary>
/// The member writes its snapshots in the background: the image is fixed between two applies and
/// written while applying goes on. It must be exactly the state at the moment it was fixed.
/// </summary>
public sealed class StateSnapshotImageTests
{
    private ulong _index;

    private ApplyResult Apply(KvStateMachine sm, Command command) =>
        sm.Apply(new Entry(1, ++_index, EntryType.Normal, CommandCodec.Encode(command)));

    private static PutCommand Put(string key, string value, long lease = 0) =>
        new(new PutRequest { Key = Encoding.UTF8.GetBytes(key), Value = Encoding.UTF8.GetBytes(value), Lease = lease });

    [Fact]
    public void An_image_written_after_later_applies_holds_the_state_it_was_fixed_at()
    {
        var sm = new KvStateMachine(new MvccStore(), 5);
        Apply(sm, new LeaseGrantCommand(100, 30));
        for (var i = 0; i < 200; i++)
        {
            Apply(sm, Put($"k{i % 17}", $"v{i}", lease: i % 3 == 0 ? 100 : 0));
        }
        var expected = new MemoryStream();
        sm.WriteSnapshot(expected);
        using var image = sm.BeginSnapshot();
        Assert.Equal((sm.AppliedIndex, sm.AppliedTerm), (image.Index, image.Term));

        // Applying goes on: new leases, puts, a revoke that deletes keys, a compaction.
        Apply(sm, new LeaseGrantCommand(200, 60));
        for (var i = 0; i < 100; i++)
        {
            Apply(sm, Put($"k{i % 23}", $"w{i}", lease: 200));
        }
        Apply(sm, new LeaseRevokeCommand(100));
        Apply(sm, new CompactCommand(sm.Store.CurrentRevision - 5));

        var written = new MemoryStream();
        image.WriteTo(written);
        Assert.Equal(expected.ToArray(), written.ToArray());

        var restored = new KvStateMachine(new MvccStore(), 5);
        written.Position = 0;
        restored.Restore(written);
        Assert.Equal(image.Index, restored.AppliedIndex);
        Assert.True(restored.Leases.ContainsKey(100));
        Assert.False(restored.Leases.ContainsKey(200));
    }
}
