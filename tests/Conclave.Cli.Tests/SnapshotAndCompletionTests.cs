using System.Diagnostics;
using System.Text.Json;

namespace Conclave.Cli.Tests;

/// <summary>snapshot save/status (and restore's flag check) against one real member, and shell completion through the [suggest] directive.</summary>
[Collection(ServerCollection.Name)]
public sealed class SnapshotAndCompletionTests(ServerFixture server)
{
    [Fact]
    public async Task Snapshot_save_then_status_reads_revision_and_keys_and_detects_damage()
    {
        var directory = Directory.CreateTempSubdirectory("conclave-snap-");
        try
        {
            for (var i = 0; i < 5; i++)
            {
                Assert.Equal(0, (await Cli.RunInProcessAsync("put", $"snap/k{i}", new string('v', 300), "--endpoints", server.Endpoint, "--timeout", Cli.TestTimeout)).ExitCode);
            }
            var current = await Cli.RunInProcessAsync("get", "snap/", "--prefix", "--count-only", "-w", "json", "--endpoints", server.Endpoint, "--timeout", Cli.TestTimeout);
            long revision, keys;
            using (var doc = JsonDocument.Parse(current.Stdout))
            {
                revision = doc.RootElement.GetProperty("header").GetProperty("revision").GetInt64();
            }
            var all = await Cli.RunInProcessAsync("get", "", "--prefix", "--count-only", "-w", "plain", "--endpoints", server.Endpoint, "--timeout", Cli.TestTimeout);
            keys = long.Parse(all.Stdout.Trim(), System.Globalization.CultureInfo.InvariantCulture);

            var file = Path.Combine(directory.FullName, "backup.db");
            var save = await Cli.RunAsync("snapshot", "save", file, "-w", "plain", "--endpoints", server.Endpoint, "--timeout", Cli.TestTimeout);
            Assert.True(save.ExitCode == 0, save.ToString());
            Assert.Equal($"Snapshot saved at {file}\n", save.Stdout);
            Assert.False(File.Exists(file + ".part"));

            var status = await Cli.RunInProcessAsync("snapshot", "status", file, "-w", "json");
            Assert.True(status.ExitCode == 0, status.ToString());
            using (var doc = JsonDocument.Parse(status.Stdout))
            {
                // The tests of the collection run one at a time: nothing was written since the reads above.
                Assert.Equal(revision, doc.RootElement.GetProperty("revision").GetInt64());
                Assert.Equal(keys, doc.RootElement.GetProperty("total_key").GetInt64());
                Assert.Equal(new FileInfo(file).Length, doc.RootElement.GetProperty("total_size").GetInt64());
                Assert.Equal(1, doc.RootElement.GetProperty("members").GetInt32());
            }

            var bytes = await File.ReadAllBytesAsync(file);
            bytes[bytes.Length / 2] ^= 0x55;
            var damaged = Path.Combine(directory.FullName, "damaged.db");
            await File.WriteAllBytesAsync(damaged, bytes);
            var bad = await Cli.RunInProcessAsync("snapshot", "status", damaged);
            Assert.Equal(1, bad.ExitCode);
            Assert.Equal("Error: the snapshot is damaged: its SHA-256 checksum does not match\n", bad.Stderr);

            // restore (SnapshotRestoreTests): flags that do not describe the member are a usage error, nothing written.
            var restore = await Cli.RunInProcessAsync("snapshot", "restore", file, "--data-dir", Path.Combine(directory.FullName, "x"), "--name", "x", "--initial-cluster", "y=http://127.0.0.1:1");
            Assert.Equal(2, restore.ExitCode);
            Assert.Equal("Error: --initial-cluster has no member named 'x' (--name)\n", restore.Stderr);
            Assert.False(Directory.Exists(Path.Combine(directory.FullName, "x")));
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task The_suggest_directive_completes_commands_and_options()
    {
        var commands = await Cli.RunAsync("[suggest:4]", "leas");
        Assert.Equal(0, commands.ExitCode);
        Assert.Contains("lease", commands.Stdout.Split('\n'));

        var sub = await Cli.RunAsync("[suggest:9]", "lease gra");
        Assert.Contains("grant", sub.Stdout.Split('\n'));

        var sortBy = await Cli.RunAsync("[suggest:16]", "get k --sort-by ");
        Assert.Contains("MODIFY", sortBy.Stdout.Split('\n'));
    }

    [Fact]
    public async Task The_bash_completion_script_completes_through_the_executable()
    {
        var script = await Cli.RunInProcessAsync("completion", "bash");
        Assert.Equal(0, script.ExitCode);
        var directory = Directory.CreateTempSubdirectory("conclave-completion-");
        try
        {
            var bin = Shim.Create(directory.FullName);
            var path = Path.Combine(directory.FullName, "complete.sh");
            await File.WriteAllTextAsync(path, script.Stdout + """
                COMP_LINE="conclave lease gr"; COMP_POINT=${#COMP_LINE}; COMP_WORDS=(conclave lease gr); COMP_CWORD=2
                _conclave_complete
                echo "${COMPREPLY[@]}"
                """);
            var start = new ProcessStartInfo("bash", [path]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            start.Environment["PATH"] = bin + ":" + Environment.GetEnvironmentVariable("PATH");
            using var bash = Process.Start(start)!;
            var output = await bash.StandardOutput.ReadToEndAsync();
            await bash.WaitForExitAsync();
            Assert.Equal("grant\n", output);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }
}

/// <summary>A directory with an executable `conclave` that runs the real conclave.dll, to put on PATH.</summary>
public static class Shim
{
    public static string Create(string root)
    {
        var bin = Directory.CreateDirectory(Path.Combine(root, "bin")).FullName;
        var shim = Path.Combine(bin, "conclave");
        File.WriteAllText(shim, $"#!/bin/sh\nexec dotnet '{Cli.ConclaveDll}' \"$@\"\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(shim, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        return bin;
    }
}
