using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using Conclave.Client;
using Spectre.Console;

namespace Conclave.Cli;

/// <summary>
/// What a running client command works with: its settings, its output streams (the invocation's,
/// so tests can capture them), a Spectre console over stdout for human output and a client
/// created on first use. Disposing closes the client.
/// </summary>
public sealed class CliContext : IAsyncDisposable
{
    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = false };
    private ConclaveClient? _client;
    private IAnsiConsole? _console;

    public CliContext(CliSettings settings, ParseResult parse, CancellationToken cancellationToken)
    {
        Settings = settings;
        Parse = parse;
        Out = parse.InvocationConfiguration.Output;
        Err = parse.InvocationConfiguration.Error;
        CancellationToken = cancellationToken;
    }

    public CliSettings Settings { get; }

    public ParseResult Parse { get; }

    public TextWriter Out { get; }

    public TextWriter Err { get; }

    /// <summary>Fires on Ctrl-C / SIGTERM.</summary>
    public CancellationToken CancellationToken { get; }

    public OutputFormat Format => Settings.Output;

    public bool Human => Settings.Output == OutputFormat.Human;

    /// <summary>The client over --endpoints; each request's deadline is --timeout.</summary>
    public ConclaveClient Client => _client ??= new ConclaveClient(Settings.Endpoints, new ConclaveClientOptions
    {
        RequestTimeout = Settings.Timeout,
        DialTimeout = Settings.Timeout < TimeSpan.FromSeconds(2) ? Settings.Timeout : TimeSpan.FromSeconds(2),
    });

    /// <summary>Spectre over stdout: colour and width only when stdout is a terminal.</summary>
    public IAnsiConsole Console => _console ??= CreateConsole(Out);

    public static IAnsiConsole CreateConsole(TextWriter writer)
    {
        // Colour and cursor control only on a real terminal: never into a pipe, a file or a test's writer.
        var terminal = ReferenceEquals(writer, System.Console.Out) && !System.Console.IsOutputRedirected;
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(writer),
            Ansi = terminal ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = terminal ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
        });
        if (!terminal)
        {
            // No wrapping of long keys and values at an invented width of 80.
            console.Profile.Width = 240;
        }
        return console;
    }

    /// <summary>Writes one JSON document on one line.</summary>
    public void WriteJson(JsonNode node) => Out.WriteLine(node.ToJsonString(JsonOptions));

    public ValueTask DisposeAsync() => _client?.DisposeAsync() ?? ValueTask.CompletedTask;
}
