namespace Conclave.Storage.Snapshots;

/// <summary>Named points in saving or installing a snapshot where a test can stop the store as if the process had crashed.</summary>
internal enum SnapshotFailpoint
{
    /// <summary>Half of the data is written to the temporary file.</summary>
    MidWrite,

    /// <summary>The temporary file is complete and not yet synced.</summary>
    BeforeFsync,

    /// <summary>The temporary file is synced and not yet renamed.</summary>
    BeforeRename,

    /// <summary>The file has its final name and the directory is not yet synced.</summary>
    BeforeDirectorySync,

    /// <summary>The snapshot is durable; older snapshots beyond the retention count are not yet deleted.</summary>
    BeforeRetention,
}

/// <summary>Test hook, called at every <see cref="SnapshotFailpoint"/>; throws to simulate a crash. Null in production.</summary>
internal interface ISnapshotFailpoints
{
    void Hit(SnapshotFailpoint point);
}
