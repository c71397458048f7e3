namespace Conclave.Raft.Tests;

public class StorageTests
{
    private static MemoryStorage With(params (ulong Term, ulong Index)[] entries)
    {
        var s = new MemoryStorage();
        s.Append(entries.Select(e => new Entry(e.Term, e.Index)).ToList());
        return s;
    }

    [Fact]
    public void Append_replaces_a_conflicting_suffix()
    {
        var s = With((1, 1), (1, 2), (1, 3));
        s.Append([new Entry(2, 2)]);
        Assert.Equal(2UL, s.LastIndex());
        Assert.Equal(2UL, s.Term(2));
        Assert.Throws<ArgumentException>(() => s.Append([new Entry(2, 9)]));
    }

    [Fact]
    public void Compacted_and_unavailable_indexes_are_typed()
    {
        var s = With((1, 1), (1, 2), (2, 3), (2, 4));
        s.CreateSnapshot(2, null, new byte[] { 1 });
        s.Compact(2);
        Assert.Equal(3UL, s.FirstIndex());
        Assert.Equal(1UL, s.Term(2));
        Assert.Equal(StorageError.Compacted, Assert.Throws<RaftStorageException>(() => s.Term(1)).Error);
        Assert.Equal(StorageError.Compacted, Assert.Throws<RaftStorageException>(() => s.Entries(2, 4, ulong.MaxValue)).Error);
        Assert.Equal(StorageError.Unavailable, Assert.Throws<RaftStorageException>(() => s.Term(5)).Error);
        Assert.Equal(StorageError.Compacted, Assert.Throws<RaftStorageException>(() => s.Compact(2)).Error);
        Assert.Equal([new Entry(2, 3), new Entry(2, 4)], s.Entries(3, 5, ulong.MaxValue));
    }

    [Fact]
    public void Entries_are_limited_by_size_but_never_empty()
    {
        var s = new MemoryStorage();
        s.Append(Enumerable.Range(1, 5).Select(i => new Entry(1, (ulong)i, EntryType.Normal, new byte[100])).ToList());
        Assert.Single(s.Entries(1, 6, 0));
        Assert.Equal(2, s.Entries(1, 6, 2 * 116).Count);
        Assert.Equal(5, s.Entries(1, 6, ulong.MaxValue).Count);
    }

    [Fact]
    public void An_older_snapshot_is_refused()
    {
        var s = new MemoryStorage();
        var cs = new ConfState { Voters = [1] };
        s.ApplySnapshot(new Snapshot(new SnapshotMetadata(5, 2, cs), ReadOnlyMemory<byte>.Empty));
        Assert.Equal(6UL, s.FirstIndex());
        Assert.Equal(5UL, s.LastIndex());
        Assert.Equal(cs, s.InitialState().ConfState);
        Assert.Equal(StorageError.SnapshotOutOfDate, Assert.Throws<RaftStorageException>(
            () => s.ApplySnapshot(new Snapshot(new SnapshotMetadata(4, 2, cs), ReadOnlyMemory<byte>.Empty))).Error);
    }
}
