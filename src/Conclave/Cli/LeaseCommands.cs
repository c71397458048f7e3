using System.CommandLine;
using System.Text.Json.Nodes;
using Conclave.Client;
using Spectre.Console;

namespace Conclave.Cli;

/// <summary>`conclave lease grant/revoke/keep-alive/timetolive/list`. Lease ids are printed and read in hex, as etcdctl's.</summary>
public static class LeaseCommands
{
    public static Command Create(GlobalOptions global)
    {
        var lease = new Command("lease", "Grant, renew, inspect and revoke leases.");
        global.AddTo(lease);
        lease.Subcommands.Add(Grant(global));
        lease.Subcommands.Add(Revoke(global));
        lease.Subcommands.Add(KeepAlive(global));
        lease.Subcommands.Add(TimeToLive(global));
        lease.Subcommands.Add(List(global));
        return lease;
    }

    private static Command Grant(GlobalOptions global)
    {
        var ttl = new Argument<long>("TTL") { Description = "Seconds the lease lives without a keep-alive." };
        var command = new Command("grant", "Grant a lease; keys put with --lease ID disappear when it expires.") { ttl };
        CliAction.Set(command, global, async c =>
        {
            var t = c.Parse.GetValue(ttl);
            if (t <= 0)
            {
                throw new CliUsageException($"TTL must be a positive number of seconds, got {t}");
            }
            var grant = await c.Client.GrantLeaseAsync(t, cancellationToken: c.CancellationToken);
            Print(c, new JsonObject { ["ID"] = grant.Id, ["TTL"] = grant.TtlSeconds },
                $"lease {Render.Hex(grant.Id)} granted with TTL({grant.TtlSeconds}s)",
                $"lease [bold]{Render.Hex(grant.Id)}[/] granted with TTL {grant.TtlSeconds}s");
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Revoke(GlobalOptions global)
    {
        var id = new Argument<string>("ID") { Description = "The lease id in hex." };
        var command = new Command("revoke", "Revoke a lease and delete its keys.") { id };
        CliAction.Set(command, global, async c =>
        {
            var leaseId = Render.ParseLeaseId(c.Parse.GetValue(id)!);
            await WithLease(leaseId, () => c.Client.RevokeLeaseAsync(leaseId, c.CancellationToken));
            Print(c, new JsonObject { ["ID"] = leaseId, ["revoked"] = true },
                $"lease {Render.Hex(leaseId)} revoked", $"lease [bold]{Render.Hex(leaseId)}[/] revoked");
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command KeepAlive(GlobalOptions global)
    {
        var id = new Argument<string>("ID") { Description = "The lease id in hex." };
        var once = new Option<bool>("--once") { Description = "Renew once and exit." };
        var command = new Command("keep-alive", "Renew a lease (every third of its TTL until Ctrl-C, or --once).") { id, once };
        CliAction.Set(command, global, async c =>
        {
            var leaseId = Render.ParseLeaseId(c.Parse.GetValue(id)!);
            while (true)
            {
                var ttl = await WithLease(leaseId, () => c.Client.KeepAliveOnceAsync(leaseId, c.CancellationToken));
                Print(c, new JsonObject { ["ID"] = leaseId, ["TTL"] = ttl },
                    $"lease {Render.Hex(leaseId)} keepalived with TTL({ttl})",
                    $"lease [bold]{Render.Hex(leaseId)}[/] renewed, TTL {ttl}s");
                if (c.Parse.GetValue(once))
                {
                    return ExitCodes.Ok;
                }
                await Task.Delay(TimeSpan.FromSeconds(Math.Max(1, ttl / 3.0)), c.CancellationToken);
            }
        });
        return command;
    }

    private static Command TimeToLive(GlobalOptions global)
    {
        var id = new Argument<string>("ID") { Description = "The lease id in hex." };
        var keys = new Option<bool>("--keys") { Description = "Also list the keys attached to the lease." };
        var command = new Command("timetolive", "Show a lease's remaining TTL (exit 1 when it has expired).") { id, keys };
        CliAction.Set(command, global, async c =>
        {
            var leaseId = Render.ParseLeaseId(c.Parse.GetValue(id)!);
            var info = await c.Client.LeaseTimeToLiveAsync(leaseId, c.Parse.GetValue(keys), c.CancellationToken);
            if (info.TtlSeconds < 0)
            {
                throw new CliFailureException($"lease {Render.Hex(leaseId)} not found (expired, revoked or never granted)");
            }
            var json = new JsonObject { ["ID"] = leaseId, ["TTL"] = info.TtlSeconds, ["granted-ttl"] = info.GrantedTtlSeconds };
            if (c.Parse.GetValue(keys))
            {
                json["keys"] = new JsonArray(info.Keys.Select(k => (JsonNode)JsonValue.Create(k)).ToArray());
            }
            var attached = c.Parse.GetValue(keys) ? $", attached keys([{string.Join(' ', info.Keys)}])" : "";
            Print(c, json,
                $"lease {Render.Hex(leaseId)} granted with TTL({info.GrantedTtlSeconds}s), remaining({info.TtlSeconds}s){attached}",
                $"lease [bold]{Render.Hex(leaseId)}[/]: {info.TtlSeconds}s of {info.GrantedTtlSeconds}s remaining{Markup.Escape(attached)}");
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command List(GlobalOptions global)
    {
        var command = new Command("list", "List the live leases.");
        CliAction.Set(command, global, async c =>
        {
            var leases = await c.Client.ListLeasesAsync(c.CancellationToken);
            switch (c.Format)
            {
                case OutputFormat.Json:
                    c.WriteJson(new JsonObject { ["leases"] = new JsonArray(leases.Select(l => (JsonNode)new JsonObject { ["ID"] = l }).ToArray()) });
                    break;
                case OutputFormat.Plain:
                    c.Out.WriteLine($"found {leases.Count} leases");
                    foreach (var l in leases)
                    {
                        c.Out.WriteLine(Render.Hex(l));
                    }
                    break;
                default:
                    var table = new Table().Border(TableBorder.Rounded).AddColumn("LEASE");
                    foreach (var l in leases)
                    {
                        table.AddRow(Render.Hex(l));
                    }
                    c.Console.Write(table);
                    c.Console.MarkupLine($"[grey]{leases.Count} leases[/]");
                    break;
            }
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>Runs a call on a lease, turning "lease not found" into a message that names it.</summary>
    private static async Task<T> WithLease<T>(long id, Func<Task<T>> call)
    {
        try
        {
            return await call();
        }
        catch (LeaseNotFoundException)
        {
            throw new CliFailureException($"lease {Render.Hex(id)} not found (expired, revoked or never granted)");
        }
    }

    private static Task WithLease(long id, Func<Task> call) => WithLease(id, async () =>
    {
        await call();
        return true;
    });

    /// <summary>One result: the JSON document, the etcdctl-style plain line, or the human markup line.</summary>
    internal static void Print(CliContext c, JsonObject json, string plain, string human)
    {
        switch (c.Format)
        {
            case OutputFormat.Json:
                c.WriteJson(json);
                break;
            case OutputFormat.Plain:
                c.Out.WriteLine(plain);
                break;
            default:
                c.Console.MarkupLine(human);
                break;
        }
        c.Out.Flush();
    }
}
