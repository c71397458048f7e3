namespace Conclave.Testing.Etcd;

/// <summary>What an external tool printed and how it exited.</summary>
public sealed record ToolResult(string CommandLine, int ExitCode, string StdOut, string StdErr)
{
    /// <summary>True when the caller stopped the process because its output was complete
    /// (<see cref="ToolProcess.RunUntilAsync"/>); <see cref="ExitCode"/> is then the kill's.</summary>
    public bool StoppedWhenComplete { get; init; }

    /// <summary>Exited 0, or was stopped by the caller once its output was complete.</summary>
    public bool Succeeded => ExitCode == 0 || StoppedWhenComplete;

    /// <summary>Returns this result, or throws with the command, exit code and both streams when it failed.</summary>
    public ToolResult EnsureSuccess() =>
        Succeeded ? this : throw new InvalidOperationException($"{Describe()} failed");

    public string Describe() =>
        $"`{CommandLine}` {(StoppedWhenComplete ? "stopped when complete" : $"exited {ExitCode}")}\n--- stdout ---\n{StdOut}\n--- stderr ---\n{StdErr}";
}
