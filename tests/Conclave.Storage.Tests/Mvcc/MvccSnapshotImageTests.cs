using Conclave.Storage.Mvcc;
using static Conclave.Storage.Tests.Mvcc.MvccTestKit;

namespace Conclave.Storage.Tests.Mvcc;

/// <summary>
/// An image fixed by BeginSnapshot is written later, while the store goes on: it must be byte for
/// byte the snapshot that WriteSnapshot would have written at the moment it was fixed.
/// </summary>
public sealed class MvccSnapshotImageTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void An_image_written_after_more_writes_and_compactions_is_the_state_it_was_fixed_at(int seed)
    {
        var rng = new Random(seed);
        var store = new MvccStore();
        RandomWrites(store, rng, 400);
        store.Compact(store.CurrentRevision / 3);
        store.StepCompaction(3); // part-way through physical pruning

        var expected = new MemoryStream();
        store.WriteSnapshot(expected);
        using var image = store.BeginSnapshot();
        Assert.Equal(store.CurrentRevision, image.Revision);

        // The store goes on: writes, deletes, a compaction past the image's revision, pruning steps.
        RandomWrites(store, rng, 400);
        store.Compact(image.Revision + 50);
        while (store.StepCompaction(2) && rng.Next(50) != 0)
        {
        }

        var written = new MemoryStream();
        image.WriteTo(written);
        Assert.Equal(expected.ToArray(), written.ToArray());

        var restored = new MvccStore();
        written.Position = 0;
        restored.Restore(written);
        Assert.Equal(image.Revision, restored.CurrentRevision);
    }

    [Fact]
    public void Pruning_waits_for_the_image_and_goes_on_once_it_is_disposed()
    {
        var store = new MvccStore();
        for (var i = 0; i < 50; i++)
        {
            store.Put("k", $"v{i}");
        }
        var image = store.BeginSnapshot();
        store.Compact(40);
        Assert.True(store.StepCompaction(1000)); // held back: still pending
        Assert.True(store.CompactionPending);
        image.Dispose();
        image.Dispose(); // idempotent: the pin is released once
        while (store.StepCompaction(1000))
        {
        }
        Assert.False(store.CompactionPending);
        Assert.Throws<ObjectDisposedException>(() => image.WriteTo(new MemoryStream()));
    }

    [Fact]
    public void An_image_written_on_another_thread_while_writes_go_on_is_the_fixed_state()
    {
        var rng = new Random(7);
        var store = new MvccStore();
        RandomWrites(store, rng, 3000);
        var expected = new MemoryStream();
        store.WriteSnapshot(expected);
        using var image = store.BeginSnapshot();

        var written = new MemoryStream();
        var writer = new Thread(() => image.WriteTo(written));
        writer.Start();
        // The single writer goes on while the image is being written.
        var more = new Random(8);
        while (writer.IsAlive)
        {
            RandomWrites(store, more, 50);
        }
        writer.Join();
        Assert.Equal(expected.ToArray(), written.ToArray());
    }

    private static void RandomWrites(MvccStore store, Random rng, int count)
    {
        for (var i = 0; i < count; i++)
        {
            var key = $"k{rng.Next(60):D2}";
            if (rng.Next(6) == 0)
            {
                store.Delete(key);
            }
            else
            {
                store.Put(key, new string('v', rng.Next(1, 40)), lease: rng.Next(3));
            }
        }
    }
}
