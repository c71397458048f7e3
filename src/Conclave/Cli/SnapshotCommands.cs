using System.Buffers.Binary;
using System.CommandLine;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Conclave.Server.StateMachine;
using Conclave.Storage;
using Conclave.Storage.Mvcc;
using Spectre.Console;
using Command = System.CommandLine.Command;

namespace Conclave.Cli;

/// <summary>
/// `conclave snapshot save/status/restore`. A snapshot file is what Maintenance.Snapshot streams:
/// the member's state image, zero-padded to a multiple of 512 bytes, then the SHA-256 of the
/// padded image (etcd's layout). `restore` is not available yet and says so (exit 2).
/// </summary>
public static class SnapshotCommands
{
    public static Command Create(GlobalOptions global)
    {
        var snapshot = new Command("snapshot", "Save a member's snapshot to a file and inspect it.");
        global.AddTo(snapshot);
        snapshot.Subcommands.Add(Save(global));
        snapshot.Subcommands.Add(Status(global));
        snapshot.Subcommands.Add(Restore());
        return snapshot;
    }

    private static Command Save(GlobalOptions global)
    {
        var file = new Argument<string>("FILE");
        var command = new Command("save", "Stream the snapshot of the first --endpoints member to FILE (checksum verified before FILE appears).") { file };
        CliAction.Set(command, global, async c =>
        {
            var path = Path.GetFullPath(c.Parse.GetValue(file)!);
            var partial = path + ".part";
            var endpoint = c.Settings.Endpoints[0];
            long size;
            try
            {
                await using (var output = File.Create(partial))
                {
                    size = c.Human && !Console.IsErrorRedirected
                        ? await WithProgressAsync(c, endpoint, output)
                        : await c.Client.SnapshotAsync(endpoint, output, null, c.CancellationToken);
                }
                File.Move(partial, path, overwrite: true);
            }
            catch (InvalidDataException e)
            {
                throw new CliFailureException($"snapshot not saved: {e.Message}");
            }
            finally
            {
                File.Delete(partial);
            }
            LeaseCommands.Print(c, new JsonObject { ["path"] = path, ["size"] = size, ["endpoint"] = endpoint },
                $"Snapshot saved at {path}", $"[green]snapshot saved[/] at {Markup.Escape(path)} ({ClusterCommands.Size(size)} from {Markup.Escape(endpoint)})");
            return ExitCodes.Ok;
        });
        return command;
    }

    private static async Task<long> WithProgressAsync(CliContext c, string endpoint, Stream output)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        long size = 0;
        await console.Progress().AutoClear(true).StartAsync(async progress =>
        {
            var task = progress.AddTask($"snapshot from {Markup.Escape(endpoint)}", maxValue: 1);
            size = await c.Client.SnapshotAsync(endpoint, output, new Progress<(long Received, long Total)>(p =>
            {
                task.MaxValue = Math.Max(1, p.Total);
                task.Value = p.Received;
            }), c.CancellationToken);
            task.Value = task.MaxValue;
        });
        return size;
    }

    private static Command Status(GlobalOptions global)
    {
        var file = new Argument<string>("FILE");
        var command = new Command("status", "Verify a snapshot file and show its revision, keys, size and hash (exit 1 if it is damaged).") { file };
        CliAction.Set(command, global, async c =>
        {
            var path = c.Parse.GetValue(file)!;
            var bytes = await File.ReadAllBytesAsync(path, c.CancellationToken);
            var info = Inspect(bytes);
            var json = new JsonObject
            {
                ["hash"] = info.Sha256,
                ["revision"] = info.Revision,
                ["compact_revision"] = info.CompactRevision,
                ["total_key"] = info.Keys,
                ["total_size"] = bytes.Length,
                ["raft_index"] = info.AppliedIndex,
                ["raft_term"] = info.AppliedTerm,
                ["members"] = info.Members,
                ["leases"] = info.Leases,
            };
            switch (c.Format)
            {
                case OutputFormat.Json:
                    c.WriteJson(json);
                    break;
                case OutputFormat.Plain:
                    c.Out.WriteLine($"{info.Sha256}, {info.Revision}, {info.Keys}, {ClusterCommands.Size(bytes.Length)}");
                    break;
                default:
                    var table = new Table().Border(TableBorder.Rounded);
                    foreach (var column in new[] { "HASH (SHA-256)", "REVISION", "TOTAL KEYS", "TOTAL SIZE", "RAFT INDEX", "MEMBERS", "LEASES" })
                    {
                        table.AddColumn(column);
                    }
                    table.AddRow(info.Sha256[..16] + "…", Render.Num(info.Revision), Render.Num(info.Keys), ClusterCommands.Size(bytes.Length),
                        info.AppliedIndex.ToString(System.Globalization.CultureInfo.InvariantCulture), Render.Num(info.Members), Render.Num(info.Leases));
                    c.Console.Write(table);
                    break;
            }
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Restore()
    {
        var command = new Command("restore", "Not available yet: seeding a new cluster from a snapshot file.")
        {
            TreatUnmatchedTokensAsErrors = false,
        };
        command.SetAction(async parse =>
        {
            await parse.InvocationConfiguration.Error.WriteLineAsync(
                "Error: snapshot restore is not available yet (it must write a fresh WAL and snapshot with a new membership); see docs/cli.md");
            return ExitCodes.Usage;
        });
        return command;
    }

    /// <summary>What a snapshot file holds.</summary>
    public sealed record SnapshotInfo(string Sha256, long Revision, long CompactRevision, long Keys, ulong AppliedIndex, ulong AppliedTerm, int Members, int Leases);

    /// <summary>
    /// Checks the trailing SHA-256, finds the image's end inside the zero padding (the image ends
    /// with the CRC-32C of its store part), loads it into a scratch state machine and reads the
    /// figures. Throws <see cref="CliFailureException"/> when the file is damaged or not a snapshot.
    /// </summary>
    public static SnapshotInfo Inspect(byte[] bytes)
    {
        if (bytes.Length < 32 + 16)
        {
            throw new CliFailureException($"not a snapshot: {bytes.Length} bytes is too short");
        }
        var image = bytes.AsSpan(0, bytes.Length - 32);
        var sha = SHA256.HashData(image);
        if (!sha.AsSpan().SequenceEqual(bytes.AsSpan(bytes.Length - 32)))
        {
            throw new CliFailureException("the snapshot is damaged: its SHA-256 checksum does not match");
        }
        // State header: magic (8) | body length (4) | crc (4) | body; the store part follows.
        var storeStart = 16 + BinaryPrimitives.ReadInt32LittleEndian(image[8..]);
        if (storeStart < 16 || storeStart > image.Length)
        {
            throw new CliFailureException("not a Conclave snapshot (bad state header)");
        }
        var end = ImageEnd(image, storeStart) ?? throw new CliFailureException("not a Conclave snapshot (no store checksum found)");
        var state = new KvStateMachine(new MvccStore(), 1);
        try
        {
            state.Restore(new MemoryStream(bytes, 0, end, writable: false));
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException)
        {
            throw new CliFailureException($"not a Conclave snapshot: {e.Message}");
        }
        var store = state.Store;
        var all = store.Range(new RangeRequest { Key = new byte[] { 0 }, RangeEnd = new byte[] { 0 }, CountOnly = true });
        return new SnapshotInfo(Convert.ToHexStringLower(sha), store.CurrentRevision, store.CompactRevision, all.Count,
            state.AppliedIndex, state.AppliedTerm, state.Members.Count, state.Leases.Count);
    }

    /// <summary>The image length: the last position within the final 512 bytes, followed only by zeros, where the
    /// 4 bytes before it are the CRC-32C of the store part up to them.</summary>
    private static int? ImageEnd(ReadOnlySpan<byte> image, int storeStart)
    {
        var lowest = Math.Max(storeStart + 4, image.Length - 511);
        var crc = Crc32C.Compute(image[storeStart..(lowest - 4)]);
        var candidates = new List<int>();
        for (var end = lowest; end <= image.Length; end++)
        {
            if (crc == BinaryPrimitives.ReadUInt32LittleEndian(image[(end - 4)..end]) && !image[end..].ContainsAnyExcept((byte)0))
            {
                candidates.Add(end);
            }
            if (end < image.Length)
            {
                crc = Crc32C.Append(crc, image.Slice(end - 4, 1));
            }
        }
        return candidates.Count > 0 ? candidates[^1] : null;
    }
}
