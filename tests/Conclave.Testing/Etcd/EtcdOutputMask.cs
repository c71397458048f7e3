using System.Globalization;
using System.Text.RegularExpressions;

namespace Conclave.Testing.Etcd;

/// <summary>
/// Replaces what legitimately differs between two servers in etcdctl output so that the
/// output of Conclave and of a real etcd can be compared as text: the cluster and member ids
/// (given, in decimal, unpadded hex and 16-digit hex, since etcdctl prints member ids with %x),
/// lease ids, raft term, raft index, db size, server version, ports on 127.0.0.1, the latency
/// in `endpoint health`, and clientv3's JSON log lines on stderr (they carry a timestamp and a
/// random target id). Revisions, keys, values and versions of keys are never masked: they
/// must match.
/// </summary>
public sealed partial class EtcdOutputMask(ulong clusterId, ulong memberId)
{
    public const string ClusterIdMark = "<cluster-id>";
    public const string MemberIdMark = "<member-id>";
    public const string LeaseIdMark = "<lease-id>";
    public const string RaftTermMark = "<raft-term>";
    public const string RaftIndexMark = "<raft-index>";
    public const string DbSizeMark = "<db-size>";
    public const string VersionMark = "<version>";
    public const string PortMark = "<port>";
    public const string DurationMark = "<duration>";

    public ulong ClusterId { get; } = clusterId;

    public ulong MemberId { get; } = memberId;

    public string Mask(string output)
    {
        var text = ClientLogLine().Replace(output, "");
        text = ReplaceId(text, ClusterId, ClusterIdMark);
        text = ReplaceId(text, MemberId, MemberIdMark);
        text = LeaseSentence().Replace(text, m => $"lease {LeaseIdMark} {m.Groups["verb"].Value}");
        text = LeaseList().Replace(text, m =>
            m.Groups["header"].Value + HexLine().Replace(m.Groups["ids"].Value, LeaseIdMark));
        text = LeaseJsonId().Replace(text, m => $"\"{m.Groups["name"].Value}\":\"{LeaseIdMark}\"");
        text = JsonNumber().Replace(text, m => $"\"{m.Groups["name"].Value}\":\"{MarkFor(m.Groups["name"].Value)}\"");
        text = JsonVersion().Replace(text, $"\"version\":\"{VersionMark}\"");
        text = StatusLine().Replace(text, m =>
            $"{m.Groups["prefix"].Value}{VersionMark}, {DbSizeMark}, {m.Groups["flags"].Value}" +
            $"{RaftTermMark}, {RaftIndexMark}, {RaftIndexMark},{m.Groups["rest"].Value}");
        text = StatusTableRow().Replace(text, m =>
            $"{m.Groups["prefix"].Value}| {VersionMark} | {DbSizeMark} |{m.Groups["flags"].Value}" +
            $"| {RaftTermMark} | {RaftIndexMark} | {RaftIndexMark} |{m.Groups["rest"].Value}");
        text = LoopbackPort().Replace(text, $"127.0.0.1:{PortMark}");
        text = HealthLatency().Replace(text, $"took = {DurationMark}");
        return text;
    }

    private static string ReplaceId(string text, ulong id, string mark)
    {
        if (id == 0)
        {
            return text;
        }
        foreach (var form in new[]
        {
            id.ToString(CultureInfo.InvariantCulture),
            id.ToString("x16", CultureInfo.InvariantCulture),
            id.ToString("x", CultureInfo.InvariantCulture),
        }.Distinct())
        {
            text = Regex.Replace(text, $@"(?<![0-9A-Za-z]){form}(?![0-9A-Za-z])", mark);
        }
        return text;
    }

    private static string MarkFor(string jsonName) => jsonName switch
    {
        "raft_term" or "raftTerm" => RaftTermMark,
        "raftIndex" or "raftAppliedIndex" => RaftIndexMark,
        "dbSize" or "dbSizeInUse" => DbSizeMark,
        _ => throw new ArgumentOutOfRangeException(nameof(jsonName), jsonName, "no mark for this JSON field"),
    };

    // {"level":"warn","ts":"...","caller":"clientv3/retry_interceptor.go:62",...} written by etcdctl's client.
    [GeneratedRegex(@"^\{""level"":""[a-z]+"",""ts"":[^\n]*\n?", RegexOptions.Multiline)]
    private static partial Regex ClientLogLine();

    // lease 3ceea216185d1610 granted with TTL(60s) / revoked / keepalived ... / already expired
    [GeneratedRegex(@"\blease (?<id>[0-9a-f]{1,16}) (?<verb>granted|revoked|keepalived|already expired)")]
    private static partial Regex LeaseSentence();

    // `lease list`: "found N leases" followed by one hex id per line.
    [GeneratedRegex(@"(?<header>^found \d+ leases\n)(?<ids>(?:[0-9a-f]{1,16}\n?)*)", RegexOptions.Multiline)]
    private static partial Regex LeaseList();

    [GeneratedRegex(@"^[0-9a-f]{1,16}$", RegexOptions.Multiline)]
    private static partial Regex HexLine();

    // "lease":4390624902514546210 in a KeyValue, "ID":... in lease JSON (member ids are replaced before this runs).
    [GeneratedRegex(@"""(?<name>lease|ID)"":(?<value>[1-9][0-9]*)")]
    private static partial Regex LeaseJsonId();

    [GeneratedRegex(@"""(?<name>raft_term|raftTerm|raftIndex|raftAppliedIndex|dbSize|dbSizeInUse)"":[0-9]+")]
    private static partial Regex JsonNumber();

    // The server version in Status JSON is a string; a key's version is a number and stays.
    [GeneratedRegex(@"""version"":""[^""]*""")]
    private static partial Regex JsonVersion();

    // endpoint status (simple): endpoint, ID, version, db size, is leader, is learner, raft term, raft index, applied index, errors
    [GeneratedRegex(@"^(?<prefix>[^,\n]+, [^,\n]+, )[^,\n]+, [^,\n]+, (?<flags>(?:true|false), (?:true|false), )\d+, \d+, \d+,(?<rest>[^\n]*)$", RegexOptions.Multiline)]
    private static partial Regex StatusLine();

    // endpoint status -w table, one data row.
    [GeneratedRegex(@"^(?<prefix>\| [^|\n]+ \| [^|\n]+ )\| +[^|\n]+ \| +[^|\n]+ \|(?<flags> +(?:true|false) \| +(?:true|false) )\| +\d+ \| +\d+ \| +\d+ \|(?<rest>[^\n]*)$", RegexOptions.Multiline)]
    private static partial Regex StatusTableRow();

    [GeneratedRegex(@"127\.0\.0\.1:\d+")]
    private static partial Regex LoopbackPort();

    [GeneratedRegex(@"took = [0-9.]+(?:ns|µs|us|ms|s|m)")]
    private static partial Regex HealthLatency();
}
