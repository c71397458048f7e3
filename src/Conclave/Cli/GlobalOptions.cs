using System.CommandLine;
using System.Globalization;

namespace Conclave.Cli;

/// <summary>How a command prints its result: aligned tables for people, one JSON document per
/// result for programs, or etcdctl-like bare lines for shell scripts.</summary>
public enum OutputFormat
{
    Human,
    Json,
    Plain,
}

/// <summary>What every client command reads from the global options.</summary>
public sealed record CliSettings(IReadOnlyList<string> Endpoints, OutputFormat Output, TimeSpan Timeout);

/// <summary>
/// The options every client command takes (anywhere after the command name, recursive into
/// subcommands): --endpoints (or CONCLAVE_ENDPOINTS), --output/-o/-w, --timeout.
/// </summary>
public sealed class GlobalOptions
{
    public const string EndpointsVariable = "CONCLAVE_ENDPOINTS";
    public const string DefaultEndpoint = "127.0.0.1:2379";

    public Option<string> Endpoints { get; } = new("--endpoints")
    {
        Description = $"Comma-separated host:port of the members (default: ${EndpointsVariable}, else {DefaultEndpoint}).",
        Recursive = true,
    };

    public Option<string> Output { get; } = CreateOutput();

    public Option<string> Timeout { get; } = new("--timeout")
    {
        Description = "Deadline of each request: 5s, 500ms, 1m (a bare number is seconds).",
        DefaultValueFactory = _ => "5s",
        Recursive = true,
    };

    public IEnumerable<Option> All => [Endpoints, Output, Timeout];

    public void AddTo(Command command)
    {
        foreach (var option in All)
        {
            command.Options.Add(option);
        }
    }

    /// <summary>Reads the settings; a malformed value throws <see cref="CliUsageException"/>.</summary>
    public CliSettings Read(ParseResult parse)
    {
        var endpoints = parse.GetValue(Endpoints);
        if (string.IsNullOrWhiteSpace(endpoints))
        {
            endpoints = Environment.GetEnvironmentVariable(EndpointsVariable);
        }
        if (string.IsNullOrWhiteSpace(endpoints))
        {
            endpoints = DefaultEndpoint;
        }
        var list = endpoints.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (var endpoint in list)
        {
            var uri = endpoint.Contains("://", StringComparison.Ordinal) ? endpoint : "http://" + endpoint;
            if (!Uri.TryCreate(uri, UriKind.Absolute, out var parsed) || parsed.Port <= 0)
            {
                throw new CliUsageException($"'{endpoint}' is not an endpoint (host:port or http://host:port)");
            }
        }
        var output = parse.GetValue(Output) switch
        {
            "json" => OutputFormat.Json,
            "plain" => OutputFormat.Plain,
            _ => OutputFormat.Human,
        };
        return new CliSettings(list, output, ParseDuration(parse.GetValue(Timeout) ?? "5s", "--timeout"));
    }

    /// <summary>"5s", "500ms", "2m", "1h", or a bare number of seconds; must be positive.</summary>
    public static TimeSpan ParseDuration(string text, string option)
    {
        var t = text.Trim();
        (string number, double scale) = t switch
        {
            _ when t.EndsWith("ms", StringComparison.Ordinal) => (t[..^2], 0.001),
            _ when t.EndsWith('s') => (t[..^1], 1),
            _ when t.EndsWith('m') => (t[..^1], 60),
            _ when t.EndsWith('h') => (t[..^1], 3600),
            _ => (t, 1),
        };
        if (!double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || value <= 0 || double.IsInfinity(value))
        {
            throw new CliUsageException($"{option} '{text}' is not a positive duration (e.g. 5s, 500ms, 2m)");
        }
        return TimeSpan.FromSeconds(value * scale);
    }

    private static Option<string> CreateOutput()
    {
        var option = new Option<string>("--output", "-o", "-w")
        {
            Description = "human (tables, colour on a terminal), json (one document per result) or plain (bare lines for scripts).",
            DefaultValueFactory = _ => "human",
            Recursive = true,
        };
        option.AcceptOnlyFromAmong("human", "json", "plain");
        return option;
    }
}

/// <summary>A command line that parsed but makes no sense (exit code 2).</summary>
public sealed class CliUsageException(string message) : Exception(message);

/// <summary>An operation that ran and failed in a way the message explains fully (exit code 1, or the given one).</summary>
public sealed class CliFailureException(string message, int exitCode = ExitCodes.Failed) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}

/// <summary>The exit codes of the client commands (docs/cli.md); scripts rely on them, keep them stable.</summary>
public static class ExitCodes
{
    public const int Ok = 0;

    /// <summary>The operation ran and failed (key not found, lease not found, compacted, refused by the server).</summary>
    public const int Failed = 1;

    /// <summary>The command line is wrong.</summary>
    public const int Usage = 2;

    /// <summary>The cluster could not be reached, has no leader, or did not answer in time; a write's outcome is unknown.</summary>
    public const int Unavailable = 3;

    /// <summary>Interrupted by Ctrl-C / SIGTERM.</summary>
    public const int Interrupted = 130;
}
