using System.CommandLine;
using System.Text.Json.Nodes;
using Conclave.Server;
using Conclave.Storage.Mvcc;
using Spectre.Console;
using Command = System.CommandLine.Command;

namespace Conclave.Cli;

/// <summary>
/// `conclave snapshot save/status/restore`. A snapshot file is what Maintenance.Snapshot streams:
/// the member's state image, zero-padded to a multiple of 512 bytes, then the SHA-256 of the
/// padded image (etcd's layout). `restore` writes a new member's data dir from such a file
/// (<see cref="RestoreDataDir"/>).
/// </summary>
public static class SnapshotCommands
{
    public static Command Create(GlobalOptions global)
    {
        var snapshot = new Command("snapshot", "Save a member's snapshot to a file and inspect it.");
        global.AddTo(snapshot);
        snapshot.Subcommands.Add(Save(global));
        snapshot.Subcommands.Add(Status(global));
        snapshot.Subcommands.Add(Restore(global));
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

    private static Command Restore(GlobalOptions global)
    {
        var file = new Argument<string>("FILE");
        var dataDir = new Option<string>("--data-dir") { Description = "Data directory to create (must not exist or be empty; default '<name>.conclave', as `serve`)." };
        var name = new Option<string>("--name") { Description = "This member's name in the new cluster (default 'default')." };
        var initialCluster = new Option<string>("--initial-cluster") { Description = "name=peerURL,... of every member of the new cluster (default <name>=<advertise peer URL>)." };
        var token = new Option<string>("--initial-cluster-token") { Description = "The new cluster's token (default etcd-cluster); give each cluster its own." };
        var advertisePeer = new Option<string>("--initial-advertise-peer-urls") { Description = "This member's peer URLs (default http://127.0.0.1:2380); must match its --initial-cluster entry." };
        var skipHash = new Option<bool>("--skip-hash-check") { Description = "Accept a file whose trailing SHA-256 is missing or wrong (the image's own checksums still apply)." };
        var command = new Command("restore", "Write the data dir of one member of a NEW cluster from a snapshot file; start it with `conclave serve` and the same flags.")
        {
            file, dataDir, name, initialCluster, token, advertisePeer, skipHash,
        };
        CliAction.Set(command, global, async c =>
        {
            // The flags mean exactly what they mean to `serve` (same parser, same defaults, same URL
            // normalisation), so the member ids written here are the ones `serve` computes.
            var given = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var (flag, option) in new[] { ("data-dir", dataDir), ("name", name), ("initial-cluster", initialCluster), ("initial-cluster-token", token), ("initial-advertise-peer-urls", advertisePeer) })
            {
                if (c.Parse.GetValue(option) is { } value)
                {
                    given[flag] = value;
                }
            }
            var errors = new List<string>();
            var settings = Serve.ServeSettingsParser.Parse(given, null, _ => null, errors);
            if (settings is null || errors.Count > 0)
            {
                throw new CliUsageException(string.Join("; ", errors));
            }
            var path = Path.GetFullPath(c.Parse.GetValue(file)!);
            var bytes = await File.ReadAllBytesAsync(path, c.CancellationToken);
            var result = await RestoreDataDir.RestoreAsync(bytes, new RestoreOptions
            {
                DataDir = settings.DataDir,
                Name = settings.Name,
                InitialCluster = settings.InitialCluster,
                InitialClusterToken = settings.InitialClusterToken,
                SkipHashCheck = c.Parse.GetValue(skipHash),
            }, c.CancellationToken);
            if (!result.IsOk)
            {
                throw result.Status == RestoreStatus.BadCluster
                    ? new CliUsageException(result.Error!)
                    : new CliFailureException($"snapshot not restored: {result.Error}");
            }
            var target = Path.GetFullPath(settings.DataDir);
            var json = new JsonObject
            {
                ["data_dir"] = target,
                ["name"] = settings.Name,
                ["member_id"] = Hex(result.MemberId),
                ["cluster_id"] = Hex(result.ClusterId),
                ["hash"] = result.Sha256,
                ["revision"] = result.Revision,
                ["compact_revision"] = result.CompactRevision,
                ["total_key"] = result.Keys,
                ["leases"] = result.Leases,
                ["raft_index"] = result.SnapshotIndex,
                ["raft_term"] = result.SnapshotTerm,
                ["members"] = new JsonArray(result.Members.Select(m => (JsonNode)new JsonObject
                {
                    ["ID"] = Hex(m.Id),
                    ["name"] = m.Name,
                    ["peerURLs"] = new JsonArray(m.PeerUrls.Select(u => (JsonNode)JsonValue.Create(u)).ToArray()),
                }).ToArray()),
            };
            switch (c.Format)
            {
                case OutputFormat.Json:
                    c.WriteJson(json);
                    break;
                case OutputFormat.Plain:
                    c.Out.WriteLine($"restored {path} into {target} as member {Hex(result.MemberId)} of cluster {Hex(result.ClusterId)}");
                    break;
                default:
                    c.Console.MarkupLine($"[green]restored[/] {Markup.Escape(path)} into {Markup.Escape(target)}: revision {Render.Num(result.Revision)}, {Render.Num(result.Keys)} keys, {Render.Num(result.Leases)} leases");
                    var table = new Table().Border(TableBorder.Rounded);
                    foreach (var column in new[] { "ID", "NAME", "PEER ADDRS" })
                    {
                        table.AddColumn(column);
                    }
                    foreach (var m in result.Members)
                    {
                        var me = m.Id == result.MemberId ? " [bold](this member)[/]" : "";
                        table.AddRow(Hex(m.Id), Markup.Escape(m.Name) + me, Markup.Escape(string.Join(",", m.PeerUrls)));
                    }
                    c.Console.Write(table);
                    c.Console.MarkupLine($"cluster [bold]{Hex(result.ClusterId)}[/]; start each member with `conclave serve` and the same --name, --data-dir, --initial-cluster, --initial-cluster-token and --initial-advertise-peer-urls");
                    break;
            }
            return ExitCodes.Ok;
        });
        return command;
    }

    private static string Hex(ulong id) => id.ToString("x", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>What a snapshot file holds.</summary>
    public sealed record SnapshotInfo(string Sha256, long Revision, long CompactRevision, long Keys, ulong AppliedIndex, ulong AppliedTerm, int Members, int Leases);

    /// <summary>
    /// Verifies the file (<see cref="SnapshotFile.Load"/>) and reads the figures. Throws
    /// <see cref="CliFailureException"/> when the file is damaged or not a snapshot.
    /// </summary>
    public static SnapshotInfo Inspect(byte[] bytes)
    {
        var loaded = SnapshotFile.Load(bytes);
        if (!loaded.IsOk)
        {
            throw new CliFailureException(loaded.Error!);
        }
        var state = loaded.State!;
        var store = state.Store;
        var all = store.Range(new RangeRequest { Key = new byte[] { 0 }, RangeEnd = new byte[] { 0 }, CountOnly = true });
        return new SnapshotInfo(loaded.Sha256, store.CurrentRevision, store.CompactRevision, all.Count,
            state.AppliedIndex, state.AppliedTerm, state.Members.Count, state.Leases.Count);
    }
}
