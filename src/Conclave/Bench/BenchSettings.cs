namespace Conclave.Bench;

/// <summary>The output format of a bench run.</summary>
public enum BenchOutput
{
    Table,
    Json,
}

/// <summary>
/// Settings every workload shares. A run is bounded by exactly one of <see cref="Total"/>
/// (operations issued by the load clients, successful or not) and <see cref="Duration"/>.
/// </summary>
public sealed record BenchSettings
{
    /// <summary>host:port of each member; channel i connects to endpoint i mod count.</summary>
    public required IReadOnlyList<string> Endpoints { get; init; }

    /// <summary>Concurrent load clients, each with one operation in flight at a time.</summary>
    public int Clients { get; init; } = 1;

    /// <summary>gRPC channels (one HTTP/2 connection each); clients are spread over them round robin.</summary>
    public int Conns { get; init; } = 1;

    public long? Total { get; init; }

    public TimeSpan? Duration { get; init; }

    /// <summary>Operations started per second over all clients; null means as fast as the clients go.</summary>
    public double? Rate { get; init; }

    /// <summary>Seeds every random choice (keys, read/write mix, values); client i uses seed + i.</summary>
    public int Seed { get; init; } = 1;

    public BenchOutput Output { get; init; } = BenchOutput.Table;

    public bool Progress { get; init; } = true;

    /// <summary>Default bound when neither --total nor --duration is given (as etcd's benchmark).</summary>
    public const long DefaultTotal = 10_000;

    /// <summary>Host:port, or a URL whose scheme is dropped: the bench speaks h2c only.</summary>
    public static IReadOnlyList<string> ParseEndpoints(string value)
    {
        var endpoints = new List<string>();
        foreach (var part in value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var endpoint = part;
            var scheme = endpoint.IndexOf("://", StringComparison.Ordinal);
            if (scheme >= 0)
            {
                endpoint = endpoint[(scheme + 3)..].TrimEnd('/');
            }
            var colon = endpoint.LastIndexOf(':');
            if (colon <= 0 || !int.TryParse(endpoint.AsSpan(colon + 1), out var port) || port is <= 0 or > 65535)
            {
                throw new FormatException($"endpoint '{part}' is not host:port");
            }
            endpoints.Add(endpoint);
        }
        if (endpoints.Count == 0)
        {
            throw new FormatException("no endpoint given");
        }
        return endpoints;
    }

    /// <summary>"500ms", "10s", "2m", "1h", or a TimeSpan ("00:00:10"); must be positive.</summary>
    public static TimeSpan ParseDuration(string value)
    {
        value = value.Trim();
        (string Suffix, double Seconds)[] units = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)];
        foreach (var (suffix, seconds) in units)
        {
            if (value.EndsWith(suffix, StringComparison.Ordinal)
                && double.TryParse(value.AsSpan(0, value.Length - suffix.Length), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var number)
                && number > 0)
            {
                return TimeSpan.FromSeconds(number * seconds);
            }
        }
        // A bare number would parse as days; only the h:m:s form is taken as a TimeSpan.
        if (value.Contains(':', StringComparison.Ordinal) && TimeSpan.TryParse(value, System.Globalization.CultureInfo.InvariantCulture, out var span) && span > TimeSpan.Zero)
        {
            return span;
        }
        throw new FormatException($"duration '{value}' is not a positive number with a unit (ms, s, m, h)");
    }
}
