using System.Globalization;
using System.Net;
using System.Text.Json;

namespace Conclave.Serve;

public enum AutoCompactionMode
{
    Periodic,
    Revision,
}

/// <summary>The validated settings of `conclave serve` (etcd's flags of the same names).</summary>
public sealed record ServeSettings
{
    public required string Name { get; init; }

    public required string DataDir { get; init; }

    public required IReadOnlyList<Uri> ListenClientUrls { get; init; }

    public required IReadOnlyList<Uri> AdvertiseClientUrls { get; init; }

    public required IReadOnlyList<Uri> ListenPeerUrls { get; init; }

    public required IReadOnlyList<Uri> InitialAdvertisePeerUrls { get; init; }

    /// <summary>HTTP/1.1 listeners for /health, /version, /metrics and the JSON gateway.</summary>
    public required IReadOnlyList<Uri> ListenMetricsUrls { get; init; }

    /// <summary>name → peer URLs.</summary>
    public required IReadOnlyDictionary<string, IReadOnlyList<string>> InitialCluster { get; init; }

    public required bool InitialClusterStateNew { get; init; }

    public required string InitialClusterToken { get; init; }

    /// <summary>Milliseconds.</summary>
    public required int HeartbeatIntervalMs { get; init; }

    /// <summary>Milliseconds.</summary>
    public required int ElectionTimeoutMs { get; init; }

    public required ulong SnapshotCount { get; init; }

    /// <summary>
    /// Raft log entries a member keeps behind each snapshot (etcd 3.6 --snapshot-catchup-entries,
    /// earlier --experimental-snapshot-catchup-entries): a follower at most this far behind the
    /// snapshot is caught up with entries, one further behind gets the snapshot.
    /// </summary>
    public required ulong SnapshotCatchUpEntries { get; init; }

    /// <summary>
    /// Size of one WAL segment file (hidden --wal-segment-bytes, not an etcd flag; default 64 MiB,
    /// etcd's): tests make it small so that segment rollover and release happen after a few writes.
    /// </summary>
    public required long WalSegmentBytes { get; init; }

    /// <summary>0 = the default quota (2 GiB).</summary>
    public required long QuotaBackendBytes { get; init; }

    public required int MaxRequestBytes { get; init; }

    public required AutoCompactionMode AutoCompactionMode { get; init; }

    /// <summary>Periodic: a duration; revision: a count of revisions to keep. Zero = off.</summary>
    public required TimeSpan AutoCompactionPeriod { get; init; }

    public required long AutoCompactionRevisions { get; init; }
}

/// <summary>
/// Builds <see cref="ServeSettings"/> from, in order of precedence, command-line flags, CONCLAVE_*
/// environment variables (the flag name upper-cased, '-' → '_', e.g. CONCLAVE_DATA_DIR) and a JSON
/// config file (--config-file; keys are the flag names, e.g. {"name":"a","data-dir":"/var/lib/a"}),
/// then etcd's defaults. Every problem is reported, not only the first.
/// </summary>
public static class ServeSettingsParser
{
    /// <summary>Every flag `conclave serve` accepts, without the leading dashes.</summary>
    public static readonly IReadOnlyList<string> Flags =
    [
        "name", "data-dir", "listen-client-urls", "advertise-client-urls", "listen-peer-urls",
        "initial-advertise-peer-urls", "listen-metrics-urls", "initial-cluster", "initial-cluster-state",
        "initial-cluster-token", "heartbeat-interval", "election-timeout", "snapshot-count",
        "snapshot-catchup-entries", "wal-segment-bytes", "quota-backend-bytes", "max-request-bytes", "auto-compaction-mode", "auto-compaction-retention",
    ];

    /// <summary>
    /// <paramref name="flags"/>: values given on the command line (flag name → value). Returns the
    /// settings, or null with the problems listed in <paramref name="errors"/>.
    /// </summary>
    public static ServeSettings? Parse(
        IReadOnlyDictionary<string, string> flags,
        string? configFile,
        Func<string, string?> environment,
        List<string> errors)
    {
        var config = new Dictionary<string, string>(StringComparer.Ordinal);
        if (configFile is null)
        {
            configFile = environment("CONCLAVE_CONFIG_FILE");
        }
        if (configFile is not null)
        {
            ReadConfigFile(configFile, config, errors);
        }

        string? Get(string flag)
        {
            if (flags.TryGetValue(flag, out var v))
            {
                return v;
            }
            var env = environment("CONCLAVE_" + flag.ToUpperInvariant().Replace('-', '_'));
            if (env is not null)
            {
                return env;
            }
            return config.GetValueOrDefault(flag);
        }

        var name = Get("name") ?? "default";
        if (name.Length == 0)
        {
            errors.Add("--name must not be empty");
        }
        var dataDir = Get("data-dir") ?? $"{name}.conclave";
        var listenClient = Urls("listen-client-urls", Get("listen-client-urls") ?? "http://127.0.0.1:2379", errors);
        var advertiseClient = Urls("advertise-client-urls", Get("advertise-client-urls") ?? string.Join(',', listenClient), errors);
        var listenPeer = Urls("listen-peer-urls", Get("listen-peer-urls") ?? "http://127.0.0.1:2380", errors);
        var advertisePeer = Urls("initial-advertise-peer-urls", Get("initial-advertise-peer-urls") ?? string.Join(',', listenPeer), errors);
        var listenMetrics = Urls("listen-metrics-urls", Get("listen-metrics-urls") ?? "http://127.0.0.1:2381", errors);
        var initialCluster = ParseInitialCluster(Get("initial-cluster") ?? $"{name}={string.Join(',', advertisePeer.Select(u => u.ToString().TrimEnd('/')))}", errors);

        var state = Get("initial-cluster-state") ?? "new";
        if (state is not ("new" or "existing"))
        {
            errors.Add($"--initial-cluster-state must be 'new' or 'existing', not '{state}'");
        }
        var token = Get("initial-cluster-token") ?? "etcd-cluster";
        var heartbeat = Number("heartbeat-interval", Get("heartbeat-interval") ?? "100", 1, 60_000, errors);
        var election = Number("election-timeout", Get("election-timeout") ?? "1000", 1, 300_000, errors);
        if (heartbeat > 0 && election > 0 && election < 5 * heartbeat)
        {
            errors.Add($"--election-timeout ({election}) must be at least 5 times --heartbeat-interval ({heartbeat})");
        }
        var snapshotCount = Number("snapshot-count", Get("snapshot-count") ?? "100000", 1, long.MaxValue, errors);
        var walSegmentBytes = Number("wal-segment-bytes", Get("wal-segment-bytes") ?? "67108864", 4096, 1L << 30, errors);
        var catchUpEntries = Number("snapshot-catchup-entries", Get("snapshot-catchup-entries") ?? "5000", 1, long.MaxValue, errors);
        var quota = Number("quota-backend-bytes", Get("quota-backend-bytes") ?? "0", 0, long.MaxValue, errors);
        var maxRequest = Number("max-request-bytes", Get("max-request-bytes") ?? "1572864", 1, 64L * 1024 * 1024, errors);

        var modeText = Get("auto-compaction-mode") ?? "periodic";
        var mode = modeText switch
        {
            "periodic" => AutoCompactionMode.Periodic,
            "revision" => AutoCompactionMode.Revision,
            _ => (AutoCompactionMode?)null,
        };
        if (mode is null)
        {
            errors.Add($"--auto-compaction-mode must be 'periodic' or 'revision', not '{modeText}'");
        }
        var retention = Get("auto-compaction-retention") ?? "0";
        var period = TimeSpan.Zero;
        long revisions = 0;
        if (mode == AutoCompactionMode.Revision)
        {
            revisions = Number("auto-compaction-retention", retention, 0, long.MaxValue, errors);
        }
        else if (!TryParseRetention(retention, out period))
        {
            errors.Add($"--auto-compaction-retention '{retention}' is neither a number of hours nor a duration like 30m or 1h30m");
        }

        if (initialCluster is not null && name.Length > 0)
        {
            if (!initialCluster.TryGetValue(name, out var mine))
            {
                errors.Add($"--initial-cluster has no member named '{name}' (--name)");
            }
            else if (!SameUrls(mine, advertisePeer))
            {
                errors.Add($"--initial-cluster gives '{name}' the peer URLs {string.Join(',', mine)}, but --initial-advertise-peer-urls is {string.Join(',', advertisePeer.Select(u => u.ToString().TrimEnd('/')))}");
            }
        }
        if (listenPeer.Count > 1)
        {
            errors.Add("--listen-peer-urls: only one peer URL is supported");
        }
        foreach (var u in listenClient.Concat(listenPeer).Concat(listenMetrics))
        {
            if (u.Scheme != "http")
            {
                errors.Add($"{u}: only http:// URLs are supported (TLS is not implemented yet)");
            }
        }
        var endpoints = listenClient.Concat(listenPeer).Concat(listenMetrics).Select(u => $"{u.Host}:{u.Port}").ToList();
        foreach (var dup in endpoints.GroupBy(e => e).Where(g => g.Count() > 1))
        {
            errors.Add($"{dup.Key} is given to more than one of --listen-client-urls, --listen-peer-urls, --listen-metrics-urls");
        }

        if (errors.Count > 0)
        {
            return null;
        }
        return new ServeSettings
        {
            Name = name,
            DataDir = dataDir,
            ListenClientUrls = listenClient,
            AdvertiseClientUrls = advertiseClient,
            ListenPeerUrls = listenPeer,
            InitialAdvertisePeerUrls = advertisePeer,
            ListenMetricsUrls = listenMetrics,
            InitialCluster = initialCluster!,
            InitialClusterStateNew = state == "new",
            InitialClusterToken = token,
            HeartbeatIntervalMs = (int)heartbeat,
            ElectionTimeoutMs = (int)election,
            SnapshotCount = (ulong)snapshotCount,
            SnapshotCatchUpEntries = (ulong)catchUpEntries,
            WalSegmentBytes = walSegmentBytes,
            QuotaBackendBytes = quota,
            MaxRequestBytes = (int)maxRequest,
            AutoCompactionMode = mode!.Value,
            AutoCompactionPeriod = period,
            AutoCompactionRevisions = revisions,
        };
    }

    /// <summary>The end point a listen URL names; "localhost" is the IPv4 loopback.</summary>
    public static IPEndPoint EndPoint(Uri url)
    {
        var address = url.Host is "localhost" ? IPAddress.Loopback : IPAddress.Parse(url.Host.Trim('[', ']'));
        return new IPEndPoint(address, url.Port);
    }

    private static void ReadConfigFile(string path, Dictionary<string, string> config, List<string> errors)
    {
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                errors.Add($"--config-file {path}: the top level must be a JSON object");
                return;
            }
            foreach (var p in doc.RootElement.EnumerateObject())
            {
                if (!Flags.Contains(p.Name))
                {
                    errors.Add($"--config-file {path}: unknown setting '{p.Name}'");
                    continue;
                }
                config[p.Name] = p.Value.ValueKind switch
                {
                    JsonValueKind.String => p.Value.GetString()!,
                    JsonValueKind.Number => p.Value.GetRawText(),
                    JsonValueKind.Array => string.Join(',', p.Value.EnumerateArray().Select(e => e.ToString())),
                    _ => p.Value.GetRawText(),
                };
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
        {
            errors.Add($"--config-file {path}: {e.Message}");
        }
    }

    private static List<Uri> Urls(string flag, string text, List<string> errors)
    {
        var urls = new List<Uri>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!Uri.TryCreate(part, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || uri.IsDefaultPort && !part.Contains(":" + uri.Port, StringComparison.Ordinal))
            {
                errors.Add($"--{flag}: '{part}' is not a URL of the form http://host:port");
                continue;
            }
            if (uri.Host is not "localhost" && !IPAddress.TryParse(uri.Host.Trim('[', ']'), out _) && flag.StartsWith("listen", StringComparison.Ordinal))
            {
                errors.Add($"--{flag}: '{part}' must name an IP address (or localhost) to listen on");
                continue;
            }
            urls.Add(uri);
        }
        if (urls.Count == 0 && !errors.Any(e => e.StartsWith($"--{flag}", StringComparison.Ordinal)))
        {
            errors.Add($"--{flag} must give at least one URL");
        }
        return urls;
    }

    private static Dictionary<string, IReadOnlyList<string>>? ParseInitialCluster(string text, List<string> errors)
    {
        var cluster = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var eq = part.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0 || !Uri.TryCreate(part[(eq + 1)..], UriKind.Absolute, out var uri) || uri.Scheme != "http")
            {
                errors.Add($"--initial-cluster: '{part}' is not name=http://host:port");
                return null;
            }
            var memberName = part[..eq];
            if (!cluster.TryGetValue(memberName, out var urls))
            {
                cluster[memberName] = urls = [];
            }
            urls.Add(uri.ToString().TrimEnd('/'));
        }
        var allUrls = cluster.Values.SelectMany(u => u).ToList();
        foreach (var dup in allUrls.GroupBy(u => u).Where(g => g.Count() > 1))
        {
            errors.Add($"--initial-cluster: the peer URL {dup.Key} is given twice");
        }
        return cluster.ToDictionary(kv => kv.Key, kv => (IReadOnlyList<string>)kv.Value, StringComparer.Ordinal);
    }

    private static bool SameUrls(IReadOnlyList<string> a, IReadOnlyList<Uri> b) =>
        a.Order(StringComparer.Ordinal).SequenceEqual(b.Select(u => u.ToString().TrimEnd('/')).Order(StringComparer.Ordinal));

    private static long Number(string flag, string text, long min, long max, List<string> errors)
    {
        if (!long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) || n < min || n > max)
        {
            errors.Add($"--{flag} must be a whole number from {min} to {max}, not '{text}'");
            return 0;
        }
        return n;
    }

    /// <summary>etcd's periodic retention: a bare number is hours; else a Go-style duration (1h30m, 45m, 10s).</summary>
    internal static bool TryParseRetention(string text, out TimeSpan period)
    {
        period = TimeSpan.Zero;
        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var hours))
        {
            period = TimeSpan.FromHours(hours);
            return hours >= 0;
        }
        var total = TimeSpan.Zero;
        var i = 0;
        while (i < text.Length)
        {
            var start = i;
            while (i < text.Length && (char.IsAsciiDigit(text[i]) || text[i] == '.'))
            {
                i++;
            }
            if (start == i || !double.TryParse(text[start..i], NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
            {
                return false;
            }
            var unitStart = i;
            while (i < text.Length && char.IsAsciiLetter(text[i]))
            {
                i++;
            }
            switch (text[unitStart..i])
            {
                case "h":
                    total += TimeSpan.FromHours(value);
                    break;
                case "m":
                    total += TimeSpan.FromMinutes(value);
                    break;
                case "s":
                    total += TimeSpan.FromSeconds(value);
                    break;
                case "ms":
                    total += TimeSpan.FromMilliseconds(value);
                    break;
                default:
                    return false;
            }
        }
        period = total;
        return text.Length > 0;
    }
}
