using System.Globalization;

namespace Conclave.Server;

/// <summary>
/// The member and cluster id a data dir belongs to, and the cluster token (new members' ids derive
/// from it), kept in <c>member/identity</c> (lines <c>member=&lt;16 hex digits&gt;</c>,
/// <c>cluster=&lt;16 hex digits&gt;</c>, <c>token=&lt;text&gt;</c>), written once when the data dir is first used. On a restart these ids win over the flags, as etcd takes them from its WAL
/// metadata and ignores --initial-cluster, --initial-cluster-state and --initial-cluster-token
/// (etcd server/etcdserver/bootstrap.go, bootstrapClusterWithWAL).
/// </summary>
public readonly record struct StoredIdentity(ulong MemberId, ulong ClusterId, string ClusterToken)
{
    private const string FileName = "identity";

    public static string PathOf(string dataDir) => Path.Combine(dataDir, "member", FileName);

    /// <summary>The ids stored in <paramref name="dataDir"/>, or null when it has none. A file that does not parse is an error (InvalidDataException).</summary>
    public static StoredIdentity? Read(string dataDir)
    {
        var path = PathOf(dataDir);
        if (!File.Exists(path))
        {
            return null;
        }
        ulong? member = null;
        ulong? cluster = null;
        string? token = null;
        foreach (var line in File.ReadAllLines(path))
        {
            var eq = line.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0 && line[..eq] == "token")
            {
                token = line[(eq + 1)..];
                continue;
            }
            if (eq < 0 || !ulong.TryParse(line.AsSpan(eq + 1), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var value))
            {
                continue;
            }
            switch (line[..eq])
            {
                case "member":
                    member = value;
                    break;
                case "cluster":
                    cluster = value;
                    break;
            }
        }
        if (member is not { } m || cluster is not { } c || m == 0 || c == 0 || token is null)
        {
            throw new InvalidDataException($"server: {path} does not name a member id, a cluster id and a cluster token");
        }
        return new StoredIdentity(m, c, token);
    }

    /// <summary>Writes the file atomically (temp file, fsync, rename).</summary>
    public void Write(string dataDir)
    {
        var path = PathOf(dataDir);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temp = path + ".tmp";
        using (var f = new FileStream(temp, FileMode.Create, FileAccess.Write))
        {
            using var w = new StreamWriter(f);
            w.Write(string.Create(CultureInfo.InvariantCulture, $"member={MemberId:x16}\ncluster={ClusterId:x16}\ntoken={ClusterToken}\n"));
            w.Flush();
            f.Flush(flushToDisk: true);
        }
        File.Move(temp, path, overwrite: true);
    }
}
