namespace Conclave.Storage.Wal;

/// <summary>Named points in the WAL's write path where a test can stop the log as if the process had crashed.</summary>
internal enum WalFailpoint
{
    /// <summary>A batch has been encoded and nothing of it is written yet.</summary>
    BeforeWrite,

    /// <summary>The first part of a record is written, the rest is not (a torn write).</summary>
    MidRecord,

    /// <summary>The batch is written to the file but not yet synced. Hit once per data sync: tests count syncs here.</summary>
    BeforeFsync,

    /// <summary>The batch is durable and its callers are not yet told.</summary>
    AfterFsync,

    /// <summary>A new segment is written and synced under its temporary name and not yet renamed into place.</summary>
    MidSegmentRollover,

    /// <summary>A new segment is renamed into place and the directory is not yet synced.</summary>
    AfterSegmentRename,

    /// <summary>Segments covered by a snapshot are about to be deleted.</summary>
    BeforeRelease,
}

/// <summary>
/// Test hook: the WAL calls <see cref="Hit"/> at every <see cref="WalFailpoint"/>. To simulate a
/// crash the hook throws; the log then stops writing, fails every pending and later call with
/// that exception, and must be disposed and reopened. Null in production, where the only cost
/// is a null check per batch.
/// </summary>
internal interface IWalFailpoints
{
    void Hit(WalFailpoint point);
}
