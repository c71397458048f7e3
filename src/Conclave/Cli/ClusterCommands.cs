using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Conclave.Client;
using Spectre.Console;

namespace Conclave.Cli;

/// <summary>`conclave member list/add/remove/promote` and `conclave endpoint status/health`. Member ids are hex, as etcdctl's.</summary>
public static class ClusterCommands
{
    public static Command Member(GlobalOptions global)
    {
        var member = new Command("member", "List and change the cluster's membership.");
        global.AddTo(member);

        var list = new Command("list", "List the members.");
        CliAction.Set(list, global, async c =>
        {
            var result = await c.Client.MemberListAsync(c.CancellationToken);
            WriteMembers(c, result.ClusterId, result.Members);
            return ExitCodes.Ok;
        });
        member.Subcommands.Add(list);

        var name = new Argument<string>("NAME") { Description = "The new member's --name." };
        var peerUrls = new Option<string>("--peer-urls") { Description = "Comma-separated peer URLs of the new member.", Required = true };
        var learner = new Option<bool>("--learner") { Description = "Add it as a learner (receives the log, does not vote) to promote later." };
        var add = new Command("add", "Add a member; prints the settings to start it with.") { name, peerUrls, learner };
        CliAction.Set(add, global, async c =>
        {
            var urls = c.Parse.GetValue(peerUrls)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            var result = await c.Client.MemberAddAsync(urls, c.Parse.GetValue(learner), c.CancellationToken);
            var newName = c.Parse.GetValue(name)!;
            var initialCluster = string.Join(',', result.Members.SelectMany(m =>
                (m.Id == result.Added.Id ? newName : m.Name) is { Length: > 0 } n ? m.PeerUrls.Select(u => $"{n}={u}") : []));
            var settings = new[]
            {
                ("CONCLAVE_NAME", newName),
                ("CONCLAVE_INITIAL_CLUSTER", initialCluster),
                ("CONCLAVE_INITIAL_ADVERTISE_PEER_URLS", string.Join(',', urls)),
                ("CONCLAVE_INITIAL_CLUSTER_STATE", "existing"),
            };
            var kind = result.Added.IsLearner ? "learner" : "member";
            switch (c.Format)
            {
                case OutputFormat.Json:
                    c.WriteJson(new JsonObject
                    {
                        ["member"] = MemberJson(result.Added),
                        ["members"] = new JsonArray(result.Members.Select(m => (JsonNode)MemberJson(m)).ToArray()),
                    });
                    break;
                case OutputFormat.Plain:
                    c.Out.WriteLine($"Member {Hex(result.Added.Id)} added to cluster as {kind}");
                    c.Out.WriteLine();
                    foreach (var (k, v) in settings)
                    {
                        c.Out.WriteLine($"{k}=\"{v}\"");
                    }
                    break;
                default:
                    c.Console.MarkupLine($"[green]added[/] {kind} [bold]{Hex(result.Added.Id)}[/]; start it with:");
                    foreach (var (k, v) in settings)
                    {
                        c.Console.MarkupLine(Markup.Escape($"{k}=\"{v}\""));
                    }
                    break;
            }
            return ExitCodes.Ok;
        });
        member.Subcommands.Add(add);

        member.Subcommands.Add(ById(global, "remove", "Remove a member.", (client, id, ct) => client.MemberRemoveAsync(id, ct), "removed"));
        member.Subcommands.Add(ById(global, "promote", "Promote a learner to a voting member (once it has caught up).", (client, id, ct) => client.MemberPromoteAsync(id, ct), "promoted"));
        return member;
    }

    private static Command ById(GlobalOptions global, string name, string description,
        Func<ConclaveClient, ulong, CancellationToken, Task<IReadOnlyList<ClusterMember>>> call, string done)
    {
        var id = new Argument<string>("ID") { Description = "The member id in hex, as `member list` prints it." };
        var command = new Command(name, description) { id };
        CliAction.Set(command, global, async c =>
        {
            var text = c.Parse.GetValue(id)!;
            if (!ulong.TryParse(text.StartsWith("0x", StringComparison.OrdinalIgnoreCase) ? text[2..] : text, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var memberId) || memberId == 0)
            {
                throw new CliUsageException($"'{text}' is not a member id (hex, as `member list` prints it)");
            }
            var members = await call(c.Client, memberId, c.CancellationToken);
            LeaseCommands.Print(c, new JsonObject { ["ID"] = Hex(memberId), [done] = true, ["members"] = new JsonArray(members.Select(m => (JsonNode)MemberJson(m)).ToArray()) },
                $"Member {Hex(memberId)} {done}", $"member [bold]{Hex(memberId)}[/] {done}");
            return ExitCodes.Ok;
        });
        return command;
    }

    private static void WriteMembers(CliContext c, ulong clusterId, IReadOnlyList<ClusterMember> members)
    {
        switch (c.Format)
        {
            case OutputFormat.Json:
                c.WriteJson(new JsonObject
                {
                    ["header"] = new JsonObject { ["cluster_id"] = Hex(clusterId) },
                    ["members"] = new JsonArray(members.Select(m => (JsonNode)MemberJson(m)).ToArray()),
                });
                break;
            case OutputFormat.Plain:
                foreach (var m in members)
                {
                    c.Out.WriteLine($"{Hex(m.Id)}, {(m.Name.Length > 0 ? "started" : "unstarted")}, {m.Name}, {string.Join(',', m.PeerUrls)}, {string.Join(',', m.ClientUrls)}, {(m.IsLearner ? "true" : "false")}");
                }
                break;
            default:
                var table = new Table().Border(TableBorder.Rounded);
                foreach (var column in new[] { "ID", "STATUS", "NAME", "PEER ADDRS", "CLIENT ADDRS", "IS LEARNER" })
                {
                    table.AddColumn(column);
                }
                foreach (var m in members)
                {
                    table.AddRow(Hex(m.Id), m.Name.Length > 0 ? "started" : "[yellow]unstarted[/]", Markup.Escape(m.Name),
                        Markup.Escape(string.Join(',', m.PeerUrls)), Markup.Escape(string.Join(',', m.ClientUrls)), m.IsLearner ? "true" : "false");
                }
                c.Console.Write(table);
                break;
        }
    }

    private static JsonObject MemberJson(ClusterMember m) => new()
    {
        ["ID"] = Hex(m.Id),
        ["name"] = m.Name,
        ["peerURLs"] = new JsonArray(m.PeerUrls.Select(u => (JsonNode)JsonValue.Create(u)).ToArray()),
        ["clientURLs"] = new JsonArray(m.ClientUrls.Select(u => (JsonNode)JsonValue.Create(u)).ToArray()),
        ["isLearner"] = m.IsLearner,
    };

    public static string Hex(ulong id) => id.ToString("x", CultureInfo.InvariantCulture);

    public static Command Endpoint(GlobalOptions global)
    {
        var endpoint = new Command("endpoint", "Status and health of each member.");
        global.AddTo(endpoint);
        var cluster = new Option<bool>("--cluster") { Description = "Every member's client URLs (from member list) instead of --endpoints.", Recursive = true };
        endpoint.Options.Add(cluster);

        var status = new Command("status", "One row per member: leader, raft term and index, revision, db size, errors. Exit 3 if any member did not answer.");
        CliAction.Set(status, global, async c =>
        {
            var endpoints = await EndpointsAsync(c, c.Parse.GetValue(cluster));
            var rows = await Task.WhenAll(endpoints.Select(async e =>
            {
                try
                {
                    return (Endpoint: e, Status: await c.Client.StatusAsync(e, c.CancellationToken), Error: (string?)null);
                }
                catch (Exception ex) when (ex is ConclaveException or Grpc.Core.RpcException)
                {
                    var (message, _) = await CliErrors.DescribeAsync(ex, c.Settings with { Endpoints = [e] }, c.CancellationToken);
                    return (Endpoint: e, Status: (MemberStatus?)null, Error: (string?)message);
                }
            }));
            WriteStatus(c, rows);
            return rows.Any(r => r.Error is not null) ? ExitCodes.Unavailable : ExitCodes.Ok;
        });
        endpoint.Subcommands.Add(status);

        var wait = new Option<string?>("--wait") { Description = "Retry until every endpoint is healthy or this long has passed (e.g. 30s)." };
        var health = new Command("health", "Whether each member can serve a linearizable read (has a leader and a quorum). Exit 3 if any cannot.") { wait };
        CliAction.Set(health, global, async c =>
        {
            var waitFor = c.Parse.GetValue(wait) is { } w ? GlobalOptions.ParseDuration(w, "--wait") : TimeSpan.Zero;
            var giveUp = Stopwatch.StartNew();
            while (true)
            {
                IReadOnlyList<string> endpoints;
                try
                {
                    endpoints = await EndpointsAsync(c, c.Parse.GetValue(cluster));
                }
                catch (ConclaveException) when (giveUp.Elapsed < waitFor)
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(250), c.CancellationToken);
                    continue;
                }
                var results = await Task.WhenAll(endpoints.Select(e => HealthAsync(c, e)));
                if (results.All(r => r.Error is null) || giveUp.Elapsed >= waitFor)
                {
                    WriteHealth(c, results);
                    return results.All(r => r.Error is null) ? ExitCodes.Ok : ExitCodes.Unavailable;
                }
                await Task.Delay(TimeSpan.FromMilliseconds(250), c.CancellationToken);
            }
        });
        endpoint.Subcommands.Add(health);
        return endpoint;
    }

    private static async Task<IReadOnlyList<string>> EndpointsAsync(CliContext c, bool cluster)
    {
        if (!cluster)
        {
            return c.Settings.Endpoints;
        }
        var members = await c.Client.MemberListAsync(c.CancellationToken);
        return members.Members.SelectMany(m => m.ClientUrls).Distinct().ToList();
    }

    private static async Task<(string Endpoint, TimeSpan Took, string? Error)> HealthAsync(CliContext c, string endpoint)
    {
        await using var client = new ConclaveClient([endpoint], c.Client.Options);
        var watch = Stopwatch.StartNew();
        try
        {
            await client.GetAsync("health", cancellationToken: c.CancellationToken);
            return (endpoint, watch.Elapsed, null);
        }
        catch (Exception e) when (e is ConclaveException or Grpc.Core.RpcException)
        {
            var (message, _) = await CliErrors.DescribeAsync(e, c.Settings with { Endpoints = [endpoint] }, c.CancellationToken);
            return (endpoint, watch.Elapsed, message);
        }
    }

    private static void WriteHealth(CliContext c, IReadOnlyList<(string Endpoint, TimeSpan Took, string? Error)> results)
    {
        switch (c.Format)
        {
            case OutputFormat.Json:
                c.WriteJson(new JsonArray(results.Select(r => (JsonNode)new JsonObject
                {
                    ["endpoint"] = r.Endpoint,
                    ["health"] = r.Error is null,
                    ["took"] = $"{r.Took.TotalMilliseconds:0.###}ms",
                    ["error"] = r.Error,
                }).ToArray()));
                break;
            case OutputFormat.Plain:
                foreach (var r in results)
                {
                    c.Out.WriteLine(r.Error is null
                        ? $"{r.Endpoint} is healthy: took = {r.Took.TotalMilliseconds:0.###}ms"
                        : $"{r.Endpoint} is unhealthy: {r.Error}");
                }
                break;
            default:
                var table = new Table().Border(TableBorder.Rounded).AddColumn("ENDPOINT").AddColumn("HEALTH").AddColumn(new TableColumn("TOOK").RightAligned()).AddColumn("ERROR");
                foreach (var r in results)
                {
                    table.AddRow(Markup.Escape(r.Endpoint), r.Error is null ? "[green]healthy[/]" : "[red]unhealthy[/]", $"{r.Took.TotalMilliseconds:0.#}ms", Markup.Escape(r.Error ?? ""));
                }
                c.Console.Write(table);
                break;
        }
    }

    private static void WriteStatus(CliContext c, IReadOnlyList<(string Endpoint, MemberStatus? Status, string? Error)> rows)
    {
        switch (c.Format)
        {
            case OutputFormat.Json:
                c.WriteJson(new JsonArray(rows.Select(r => (JsonNode)(r.Status is { } s
                    ? new JsonObject
                    {
                        ["endpoint"] = r.Endpoint,
                        ["cluster_id"] = Hex(s.ClusterId),
                        ["member_id"] = Hex(s.MemberId),
                        ["leader"] = Hex(s.LeaderId),
                        ["is_leader"] = s.IsLeader,
                        ["is_learner"] = s.IsLearner,
                        ["version"] = s.Version,
                        ["raft_term"] = s.RaftTerm,
                        ["raft_index"] = s.RaftIndex,
                        ["raft_applied_index"] = s.RaftAppliedIndex,
                        ["revision"] = s.Revision,
                        ["db_size"] = s.DbSize,
                        ["db_size_in_use"] = s.DbSizeInUse,
                        ["errors"] = new JsonArray(s.Errors.Select(e => (JsonNode)JsonValue.Create(e)).ToArray()),
                    }
                    : new JsonObject { ["endpoint"] = r.Endpoint, ["errors"] = new JsonArray(JsonValue.Create(r.Error)) })).ToArray()));
                break;
            case OutputFormat.Plain:
                foreach (var r in rows)
                {
                    c.Out.WriteLine(r.Status is { } s
                        ? $"{r.Endpoint}, {Hex(s.MemberId)}, {s.Version}, {Size(s.DbSize)}, {(s.IsLeader ? "true" : "false")}, {(s.IsLearner ? "true" : "false")}, {s.RaftTerm}, {s.RaftIndex}, {s.RaftAppliedIndex}, {s.Revision}, {string.Join("; ", s.Errors)}"
                        : $"{r.Endpoint}, error: {r.Error}");
                }
                break;
            default:
                var table = new Table().Border(TableBorder.Rounded);
                foreach (var column in new[] { "ENDPOINT", "ID", "LEADER", "LEARNER", "TERM", "RAFT INDEX", "APPLIED", "REVISION", "DB SIZE", "VERSION", "ERRORS" })
                {
                    table.AddColumn(column);
                }
                foreach (var r in rows)
                {
                    if (r.Status is { } s)
                    {
                        table.AddRow(Markup.Escape(r.Endpoint), Hex(s.MemberId), s.IsLeader ? "[green]yes[/]" : "no", s.IsLearner ? "yes" : "no",
                            Num(s.RaftTerm), Num(s.RaftIndex), Num(s.RaftAppliedIndex), Render.Num(s.Revision), Size(s.DbSize),
                            Markup.Escape(s.Version), Markup.Escape(string.Join("; ", s.Errors)));
                    }
                    else
                    {
                        table.AddRow(Markup.Escape(r.Endpoint), "", "", "", "", "", "", "", "", "", $"[red]{Markup.Escape(r.Error ?? "")}[/]");
                    }
                }
                c.Console.Write(table);
                break;
        }
    }

    private static string Num(ulong n) => n.ToString(CultureInfo.InvariantCulture);

    /// <summary>Bytes as etcdctl shows them: 20 kB, 1.2 MB.</summary>
    public static string Size(long bytes) => bytes switch
    {
        < 1000 => $"{bytes} B",
        < 1000 * 1000 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1000.0:0.#} kB"),
        < 1000L * 1000 * 1000 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1e6:0.#} MB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1e9:0.#} GB"),
    };
}
