using System.CommandLine;
using System.Text.Json.Nodes;
using Conclave.Client.Recipes;
using Spectre.Console;

namespace Conclave.Cli;

/// <summary>
/// `conclave service register/list/watch` over the client's ServiceRegistry recipe (instances as
/// JSON at services/NAME/ID, each under a lease kept alive by its registrant).
/// </summary>
public static class ServiceCommands
{
    public static Command Create(GlobalOptions global)
    {
        var service = new Command("service", "Register, discover and watch service instances.");
        global.AddTo(service);
        service.Subcommands.Add(Register(global));
        service.Subcommands.Add(List(global));
        service.Subcommands.Add(Watch(global));
        return service;
    }

    private static Command Register(GlobalOptions global)
    {
        var name = new Argument<string>("NAME") { Description = "The service name." };
        var address = new Option<string>("--address") { Description = "The instance's host or IP.", Required = true };
        var port = new Option<int>("--port") { Description = "The instance's port.", Required = true };
        var id = new Option<string?>("--id") { Description = "Instance id (default ADDRESS:PORT); registering the same id again replaces it." };
        var tags = new Option<string[]>("--tag") { Description = "A tag (repeatable).", AllowMultipleArgumentsPerToken = false };
        var meta = new Option<string[]>("--meta") { Description = "Metadata as key=value (repeatable)." };
        var ttl = new Option<long>("--ttl") { Description = "Seconds the registration outlives this process if it dies.", DefaultValueFactory = _ => 10 };
        var command = new Command("register", "Register an instance and keep it registered until Ctrl-C.") { name, address, port, id, tags, meta, ttl };
        CliAction.Set(command, global, async c =>
        {
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var pair in c.Parse.GetValue(meta) ?? [])
            {
                var eq = pair.IndexOf('=', StringComparison.Ordinal);
                if (eq <= 0)
                {
                    throw new CliUsageException($"--meta '{pair}' is not key=value");
                }
                metadata[pair[..eq]] = pair[(eq + 1)..];
            }
            var p = c.Parse.GetValue(port);
            if (p is < 1 or > 65535)
            {
                throw new CliUsageException($"--port {p} is not a port number");
            }
            var addr = c.Parse.GetValue(address)!;
            var instance = new ServiceInstance(c.Parse.GetValue(name)!, c.Parse.GetValue(id) ?? $"{addr}:{p}", addr, p,
                c.Parse.GetValue(tags) ?? [], metadata);
            var registry = new ServiceRegistry(c.Client);
            await using var registration = await registry.RegisterAsync(instance, c.Parse.GetValue(ttl), c.CancellationToken);
            LeaseCommands.Print(c, new JsonObject { ["key"] = registration.Key, ["lease"] = registration.LeaseId, ["instance"] = Json(instance) },
                registration.Key,
                $"registered [bold]{Markup.Escape(instance.Service)}[/] instance {Markup.Escape(instance.Id)} at {Markup.Escape(addr)}:{p} (lease {Render.Hex(registration.LeaseId)}); Ctrl-C deregisters");
            using var any = CancellationTokenSource.CreateLinkedTokenSource(c.CancellationToken, registration.Lost);
            try
            {
                await Task.Delay(Timeout.Infinite, any.Token);
            }
            catch (OperationCanceledException) when (!c.CancellationToken.IsCancellationRequested)
            {
                // Not re-registered: the lease was revoked by someone (an operator's `lease revoke`
                // means "deregister") or expired while the cluster was unreachable. A supervisor
                // that restarts on failure registers again (docs/cli.md).
                throw new CliFailureException(
                    $"registration {registration.Key} lost: its lease {Render.Hex(registration.LeaseId)} was revoked or expired; the instance is no longer registered");
            }
            catch (OperationCanceledException)
            {
            }
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command List(GlobalOptions global)
    {
        var name = new Argument<string?>("NAME") { Description = "The service; without it, list the service names.", Arity = ArgumentArity.ZeroOrOne };
        var wait = new Option<string?>("--wait") { Description = "When NAME has no instance, wait this long for one (e.g. 10s); exit 1 if none comes." };
        var command = new Command("list", "List the instances of a service, or the services.") { name, wait };
        CliAction.Set(command, global, async c =>
        {
            var service = c.Parse.GetValue(name);
            var registry = new ServiceRegistry(c.Client);
            if (service is null)
            {
                var keys = await c.Client.GetPrefixAsync("services/", new Client.GetOptions { KeysOnly = true }, c.CancellationToken);
                var names = keys.Kvs.Select(kv => kv.Key["services/".Length..]).Where(k => k.Contains('/', StringComparison.Ordinal))
                    .Select(k => k[..k.IndexOf('/', StringComparison.Ordinal)]).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
                switch (c.Format)
                {
                    case OutputFormat.Json:
                        c.WriteJson(new JsonObject { ["services"] = new JsonArray(names.Select(n => (JsonNode)JsonValue.Create(n)).ToArray()) });
                        break;
                    case OutputFormat.Plain:
                        names.ForEach(c.Out.WriteLine);
                        break;
                    default:
                        var table = new Table().Border(TableBorder.Rounded).AddColumn("SERVICE");
                        names.ForEach(n => table.AddRow(Markup.Escape(n)));
                        c.Console.Write(table);
                        break;
                }
                return ExitCodes.Ok;
            }
            var instances = await registry.DiscoverAsync(service, c.CancellationToken);
            if (instances.Count == 0 && c.Parse.GetValue(wait) is { } w)
            {
                using var limit = CancellationTokenSource.CreateLinkedTokenSource(c.CancellationToken);
                limit.CancelAfter(GlobalOptions.ParseDuration(w, "--wait"));
                try
                {
                    await foreach (var set in registry.WatchAsync(service, limit.Token))
                    {
                        if (set.Count > 0)
                        {
                            instances = set;
                            break;
                        }
                    }
                }
                catch (OperationCanceledException) when (!c.CancellationToken.IsCancellationRequested)
                {
                    throw new CliFailureException($"no instance of {service} registered within {w}");
                }
            }
            WriteInstances(c, service, instances);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Watch(GlobalOptions global)
    {
        var name = new Argument<string>("NAME") { Description = "The service." };
        var maxEvents = new Option<long>("--max-events") { Description = "Exit after printing this many sets (0: until Ctrl-C)." };
        var command = new Command("watch", "Print the instances of a service now and after every change.") { name, maxEvents };
        CliAction.Set(command, global, async c =>
        {
            var service = c.Parse.GetValue(name)!;
            var max = c.Parse.GetValue(maxEvents);
            long seen = 0;
            await foreach (var set in new ServiceRegistry(c.Client).WatchAsync(service, c.CancellationToken))
            {
                WriteInstances(c, service, set);
                c.Out.Flush();
                if (max > 0 && ++seen >= max)
                {
                    break;
                }
            }
            return ExitCodes.Ok;
        });
        return command;
    }

    private static void WriteInstances(CliContext c, string service, IReadOnlyList<ServiceInstance> instances)
    {
        switch (c.Format)
        {
            case OutputFormat.Json:
                c.WriteJson(new JsonObject { ["service"] = service, ["instances"] = new JsonArray(instances.Select(i => (JsonNode)Json(i)).ToArray()) });
                break;
            case OutputFormat.Plain:
                foreach (var i in instances)
                {
                    c.Out.WriteLine($"{i.Id} {i.Address}:{i.Port} {string.Join(',', i.Tags ?? [])}".TrimEnd());
                }
                break;
            default:
                var table = new Table().Border(TableBorder.Rounded).Title(Markup.Escape(service)).AddColumn("ID").AddColumn("ADDRESS").AddColumn("PORT").AddColumn("TAGS").AddColumn("META");
                foreach (var i in instances)
                {
                    table.AddRow(Markup.Escape(i.Id), Markup.Escape(i.Address), Render.Num(i.Port), Markup.Escape(string.Join(',', i.Tags ?? [])),
                        Markup.Escape(string.Join(',', (i.Metadata ?? new Dictionary<string, string>()).Select(kv => $"{kv.Key}={kv.Value}"))));
                }
                c.Console.Write(table);
                c.Console.MarkupLine($"[grey]{instances.Count} instance{(instances.Count == 1 ? "" : "s")}[/]");
                break;
        }
    }

    private static JsonObject Json(ServiceInstance i)
    {
        var meta = new JsonObject();
        foreach (var (k, v) in i.Metadata ?? new Dictionary<string, string>())
        {
            meta[k] = v;
        }
        return new JsonObject
        {
            ["service"] = i.Service,
            ["id"] = i.Id,
            ["address"] = i.Address,
            ["port"] = i.Port,
            ["tags"] = new JsonArray((i.Tags ?? []).Select(t => (JsonNode)JsonValue.Create(t)).ToArray()),
            ["meta"] = meta,
        };
    }
}
