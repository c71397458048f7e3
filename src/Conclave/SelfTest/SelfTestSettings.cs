using System.Globalization;
using Conclave.Bench;

namespace Conclave.SelfTest;

public enum SelfTestOutput
{
    Human,
    Json,
}

/// <summary>What `conclave selftest` runs: a bounded workload on one key prefix of a live cluster.</summary>
public sealed record SelfTestSettings
{
    /// <summary>The default prefix is this plus a random 8-hex-digit run id and "/".</summary>
    public const string DefaultPrefixRoot = "conclave-selftest/";

    public static readonly TimeSpan MaxDuration = TimeSpan.FromMinutes(10);

    public const int MaxClients = 64;

    public const int MaxKeys = 1000;

    /// <summary>Client endpoints, "http://host:port".</summary>
    public required IReadOnlyList<Uri> Endpoints { get; init; }

    /// <summary>Every key the run writes starts with this; the run deletes the whole prefix at the end.</summary>
    public required string Prefix { get; init; }

    /// <summary>How long the concurrent workload runs; the final reads, checks and cleanup come on top.</summary>
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(20);

    public int Clients { get; init; } = 4;

    public int Keys { get; init; } = 4;

    public int Seed { get; init; }

    public SelfTestOutput Output { get; init; } = SelfTestOutput.Human;

    /// <summary>Per-operation deadline; an operation past it is recorded with unknown outcome.</summary>
    public TimeSpan OpTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Linearizability checker budget (model steps); past it the verdict is UNDECIDED, never a hang.</summary>
    public long CheckMaxSteps { get; init; } = 20_000_000;

    /// <summary>Linearizability checker wall-clock budget; past it the verdict is UNDECIDED.</summary>
    public TimeSpan CheckTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>A fresh prefix under <see cref="DefaultPrefixRoot"/>.</summary>
    public static string RandomPrefix() =>
        DefaultPrefixRoot + Random.Shared.Next().ToString("x8", CultureInfo.InvariantCulture) + "/";

    /// <summary>Validates the command line's values; throws <see cref="FormatException"/> with the option's name.</summary>
    public static SelfTestSettings Create(string endpoints, string duration, int clients, int keys, string? prefix, int? seed, string output)
    {
        var parsed = BenchSettings.ParseEndpoints(endpoints);
        if (parsed.Count == 0)
        {
            throw new FormatException("--endpoints names no endpoint");
        }

        var runFor = BenchSettings.ParseDuration(duration);
        if (runFor < TimeSpan.FromSeconds(1) || runFor > MaxDuration)
        {
            throw new FormatException($"--duration must be between 1s and {MaxDuration.TotalMinutes:0}m, got {duration}");
        }

        if (clients < 1 || clients > MaxClients)
        {
            throw new FormatException($"--clients must be between 1 and {MaxClients}, got {clients}");
        }

        if (keys < 1 || keys > MaxKeys)
        {
            throw new FormatException($"--keys must be between 1 and {MaxKeys}, got {keys}");
        }

        prefix ??= RandomPrefix();
        ValidatePrefix(prefix);
        return new SelfTestSettings
        {
            Endpoints = parsed.Select(e => new Uri($"http://{e}")).ToList(),
            Prefix = prefix,
            Duration = runFor,
            Clients = clients,
            Keys = keys,
            Seed = seed ?? Random.Shared.Next(),
            Output = output == "json" ? SelfTestOutput.Json : SelfTestOutput.Human,
        };
    }

    /// <summary>
    /// A prefix is printable ASCII without spaces, at least 2 characters: the watch range end is
    /// the prefix with its last byte plus one, and a one-character prefix would cover too much of
    /// the key space to delete it afterwards without a second thought.
    /// </summary>
    private static void ValidatePrefix(string prefix)
    {
        if (prefix.Length < 2 || prefix.Any(c => c is <= ' ' or > '~'))
        {
            throw new FormatException($"--prefix must be at least 2 printable ASCII characters without spaces, got \"{prefix}\"");
        }
    }
}
