using System.CommandLine;
using System.Text.Json.Nodes;
using Conclave.Client;
using Spectre.Console;

namespace Conclave.Cli;

/// <summary>`conclave put/get/del/watch/compact`: the key-value commands (etcdctl's, same flags where they mean the same).</summary>
public static class KvCommands
{
    public static Command Put(GlobalOptions global)
    {
        var key = new Argument<string>("KEY");
        var value = new Argument<string?>("VALUE") { Description = "The value (as UTF-8); without it and --file, the bytes read from stdin.", Arity = ArgumentArity.ZeroOrOne };
        var file = new Option<string?>("--file") { Description = "Put the bytes of this file (any binary data) instead of VALUE." };
        var lease = new Option<string?>("--lease") { Description = "Attach the key to this lease (hex id, as `lease grant` prints)." };
        var prevKv = new Option<bool>("--prev-kv") { Description = "Print the key-value the put replaced." };
        var command = new Command("put", "Put a value to a key.") { key, value, file, lease, prevKv };
        global.AddTo(command);
        CliAction.Set(command, global, async c =>
        {
            var leaseId = c.Parse.GetValue(lease) is { } l ? Render.ParseLeaseId(l) : 0;
            var bytes = await ReadValueAsync(c.Parse.GetValue(value), c.Parse.GetValue(file), c.CancellationToken);
            var result = await c.Client.PutAsync(c.Parse.GetValue(key)!, bytes, leaseId, c.Parse.GetValue(prevKv), c.CancellationToken);
            switch (c.Format)
            {
                case OutputFormat.Json:
                    var json = new JsonObject { ["header"] = Render.Header(result.Revision) };
                    if (result.PrevKv is not null)
                    {
                        json["prev_kv"] = Render.Kv(result.PrevKv);
                    }
                    c.WriteJson(json);
                    break;
                case OutputFormat.Plain:
                    c.Out.WriteLine("OK");
                    if (result.PrevKv is not null)
                    {
                        Render.PlainKvs(c.Out, [result.PrevKv]);
                    }
                    break;
                default:
                    c.Console.MarkupLine($"[green]OK[/] (revision {result.Revision})");
                    if (result.PrevKv is not null)
                    {
                        c.Console.MarkupLine("previous:");
                        c.Console.Write(Render.KvTable([result.PrevKv]));
                    }
                    break;
            }
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>
    /// The value of a put: VALUE's UTF-8 bytes, the bytes of --file, or else every byte of stdin
    /// as it is (no decoding, no newline trimmed), so binary values round-trip.
    /// </summary>
    internal static async Task<byte[]> ReadValueAsync(string? value, string? file, CancellationToken cancellationToken)
    {
        if (value is not null && file is not null)
        {
            throw new CliUsageException("give either VALUE or --file, not both");
        }
        if (value is not null)
        {
            return System.Text.Encoding.UTF8.GetBytes(value);
        }
        if (file is not null)
        {
            try
            {
                return await File.ReadAllBytesAsync(file, cancellationToken);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new CliFailureException($"cannot read --file {file}: {e.Message}");
            }
        }
        await using var stdin = Console.OpenStandardInput();
        using var buffer = new MemoryStream();
        await stdin.CopyToAsync(buffer, cancellationToken);
        return buffer.ToArray();
    }

    public static Command Get(GlobalOptions global)
    {
        var key = new Argument<string>("KEY");
        var rangeEnd = new Argument<string?>("RANGE_END") { Description = "Read keys in [KEY, RANGE_END).", Arity = ArgumentArity.ZeroOrOne };
        var prefix = new Option<bool>("--prefix") { Description = "Every key that starts with KEY." };
        var fromKey = new Option<bool>("--from-key") { Description = "Every key greater than or equal to KEY." };
        var limit = new Option<long>("--limit") { Description = "At most this many keys (0: no limit)." };
        var rev = new Option<long>("--rev") { Description = "Read at this revision (0: current)." };
        var keysOnly = new Option<bool>("--keys-only") { Description = "Keys without values." };
        var countOnly = new Option<bool>("--count-only") { Description = "Only the number of keys." };
        var serializable = new Option<bool>("--serializable") { Description = "Answer from the member's local state (may be stale; no quorum round)." };
        var sortBy = new Option<string?>("--sort-by") { Description = "KEY, VERSION, CREATE, MODIFY or VALUE.", DefaultValueFactory = _ => "KEY" };
        Choices(sortBy, "KEY", "VERSION", "CREATE", "MODIFY", "VALUE");
        var order = new Option<string?>("--order") { Description = "ASCEND or DESCEND (default: none, i.e. key order)." };
        Choices(order, "ASCEND", "DESCEND");
        var command = new Command("get", "Read a key, a range or a prefix.") { key, rangeEnd, prefix, fromKey, limit, rev, keysOnly, countOnly, serializable, sortBy, order };
        global.AddTo(command);
        CliAction.Set(command, global, async c =>
        {
            var p = c.Parse;
            var k = p.GetValue(key)!;
            if (p.GetValue(prefix) && p.GetValue(fromKey))
            {
                throw new CliUsageException("--prefix and --from-key cannot be used together");
            }
            if (p.GetValue(rangeEnd) is not null && (p.GetValue(prefix) || p.GetValue(fromKey)))
            {
                throw new CliUsageException("RANGE_END cannot be combined with --prefix or --from-key");
            }
            var options = new GetOptions
            {
                Limit = p.GetValue(limit),
                Revision = p.GetValue(rev),
                KeysOnly = p.GetValue(keysOnly),
                CountOnly = p.GetValue(countOnly),
                Serializable = p.GetValue(serializable),
                SortTarget = p.GetValue(sortBy)!.ToUpperInvariant() switch
                {
                    "VERSION" => SortTarget.Version,
                    "CREATE" => SortTarget.Create,
                    "MODIFY" => SortTarget.Mod,
                    "VALUE" => SortTarget.Value,
                    _ => SortTarget.Key,
                },
                SortOrder = p.GetValue(order)?.ToUpperInvariant() switch
                {
                    "ASCEND" => SortOrder.Ascend,
                    "DESCEND" => SortOrder.Descend,
                    _ => SortOrder.None,
                },
            };
            var single = !p.GetValue(prefix) && !p.GetValue(fromKey) && p.GetValue(rangeEnd) is null;
            var result = p.GetValue(prefix) && k.Length == 0 ? await c.Client.GetRangeAsync("\0", "\0", options, c.CancellationToken)
                : p.GetValue(prefix) ? await c.Client.GetPrefixAsync(k, options, c.CancellationToken)
                : p.GetValue(fromKey) ? await c.Client.GetRangeAsync(k, "\0", options, c.CancellationToken)
                : p.GetValue(rangeEnd) is { } end ? await c.Client.GetRangeAsync(k, end, options, c.CancellationToken)
                : await c.Client.GetAsync(k, options, c.CancellationToken);
            switch (c.Format)
            {
                case OutputFormat.Json:
                    var json = new JsonObject { ["header"] = Render.Header(result.Revision) };
                    if (!options.CountOnly)
                    {
                        json["kvs"] = Render.Kvs(result.Kvs);
                    }
                    json["count"] = result.Count;
                    json["more"] = result.More;
                    c.WriteJson(json);
                    break;
                case OutputFormat.Plain when options.CountOnly:
                    c.Out.WriteLine(result.Count);
                    break;
                case OutputFormat.Plain:
                    Render.PlainKvs(c.Out, result.Kvs, options.KeysOnly);
                    break;
                default:
                    if (options.CountOnly)
                    {
                        c.Console.MarkupLine($"{result.Count} keys (revision {result.Revision})");
                    }
                    else if (result.Kvs.Count > 0)
                    {
                        c.Console.Write(Render.KvTable(result.Kvs, options.KeysOnly));
                        c.Console.MarkupLine($"[grey]{result.Kvs.Count} of {result.Count} keys{(result.More ? " (more)" : "")}, revision {result.Revision}[/]");
                    }
                    else if (!single)
                    {
                        c.Console.MarkupLine($"[grey]no keys (revision {result.Revision})[/]");
                    }
                    break;
            }
            // A single key that does not exist is an error scripts can test for (`if conclave get k`).
            if (single && !options.CountOnly && result.Count == 0)
            {
                throw new CliFailureException($"key not found: {k}");
            }
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>Accepts the given words in any case (etcdctl's are upper case); completion offers them.</summary>
    internal static void Choices(Option<string?> option, params string[] choices)
    {
        option.Validators.Add(r =>
        {
            var value = r.Tokens.Count > 0 ? r.Tokens[^1].Value : null;
            if (value is not null && !choices.Contains(value, StringComparer.OrdinalIgnoreCase))
            {
                r.AddError($"'{value}' is not one of {string.Join(", ", choices)} for {option.Name}");
            }
        });
        option.CompletionSources.Add(choices);
    }

    public static Command Del(GlobalOptions global)
    {
        var key = new Argument<string>("KEY");
        var prefix = new Option<bool>("--prefix") { Description = "Delete every key that starts with KEY." };
        var prevKv = new Option<bool>("--prev-kv") { Description = "Print the deleted key-values." };
        var command = new Command("del", "Delete a key or every key with a prefix.") { key, prefix, prevKv };
        global.AddTo(command);
        CliAction.Set(command, global, async c =>
        {
            var k = c.Parse.GetValue(key)!;
            if (c.Parse.GetValue(prefix) && k.Length == 0)
            {
                throw new CliUsageException("del --prefix needs a non-empty prefix (this would delete every key)");
            }
            var result = c.Parse.GetValue(prefix)
                ? await c.Client.DeletePrefixAsync(k, c.Parse.GetValue(prevKv), c.CancellationToken)
                : await c.Client.DeleteAsync(k, c.Parse.GetValue(prevKv), c.CancellationToken);
            switch (c.Format)
            {
                case OutputFormat.Json:
                    c.WriteJson(new JsonObject
                    {
                        ["header"] = Render.Header(result.Revision),
                        ["deleted"] = result.Deleted,
                        ["prev_kvs"] = Render.Kvs(result.PrevKvs),
                    });
                    break;
                case OutputFormat.Plain:
                    c.Out.WriteLine(result.Deleted);
                    Render.PlainKvs(c.Out, result.PrevKvs);
                    break;
                default:
                    c.Console.MarkupLine($"deleted {result.Deleted} key{(result.Deleted == 1 ? "" : "s")} (revision {result.Revision})");
                    if (result.PrevKvs.Count > 0)
                    {
                        c.Console.Write(Render.KvTable(result.PrevKvs));
                    }
                    break;
            }
            return ExitCodes.Ok;
        });
        return command;
    }

    public static Command Watch(GlobalOptions global)
    {
        var key = new Argument<string>("KEY");
        var prefix = new Option<bool>("--prefix") { Description = "Watch every key that starts with KEY." };
        var rev = new Option<long>("--rev") { Description = "Start at this revision (replays history from it; 0: from now)." };
        var prevKv = new Option<bool>("--prev-kv") { Description = "Also print each key's previous value." };
        var maxEvents = new Option<long>("--max-events") { Description = "Exit after this many events (0: until Ctrl-C)." };
        var command = new Command("watch", "Print changes to a key or prefix until Ctrl-C (or --max-events).") { key, prefix, rev, prevKv, maxEvents };
        global.AddTo(command);
        CliAction.Set(command, global, async c =>
        {
            var k = c.Parse.GetValue(key)!;
            var options = new WatchOptions { StartRevision = c.Parse.GetValue(rev), PrevKv = c.Parse.GetValue(prevKv) };
            var max = c.Parse.GetValue(maxEvents);
            var events = c.Parse.GetValue(prefix)
                ? c.Client.WatchPrefixAsync(k, options, c.CancellationToken)
                : c.Client.WatchAsync(k, options, c.CancellationToken);
            long seen = 0;
            try
            {
                await foreach (var e in events)
                {
                    WriteEvent(c, e);
                    if (max > 0 && ++seen >= max)
                    {
                        break;
                    }
                }
            }
            catch (OperationCanceledException) when (c.CancellationToken.IsCancellationRequested)
            {
                // Ctrl-C is how a watch normally ends.
                return ExitCodes.Interrupted;
            }
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>One event: etcdctl's "PUT\nkey\nvalue" lines in plain, one JSON document per event in json.</summary>
    internal static void WriteEvent(CliContext c, WatchEvent e)
    {
        var type = e.Type switch
        {
            WatchEventType.Put => "PUT",
            WatchEventType.Delete => "DELETE",
            _ => "RESYNC",
        };
        switch (c.Format)
        {
            case OutputFormat.Json:
                var json = new JsonObject { ["type"] = type, ["revision"] = e.Revision };
                if (e.Kv is not null)
                {
                    json["kv"] = Render.Kv(e.Kv);
                }
                if (e.PrevKv is not null)
                {
                    json["prev_kv"] = Render.Kv(e.PrevKv);
                }
                if (e.Type == WatchEventType.Resync)
                {
                    json["kvs"] = Render.Kvs(e.Snapshot);
                }
                c.WriteJson(json);
                break;
            case OutputFormat.Plain:
                c.Out.WriteLine(type);
                if (e.Type == WatchEventType.Resync)
                {
                    Render.PlainKvs(c.Out, e.Snapshot);
                    break;
                }
                if (e.PrevKv is not null)
                {
                    Render.PlainKvs(c.Out, [e.PrevKv]);
                }
                c.Out.WriteLine(e.Kv!.Key);
                if (e.Type == WatchEventType.Put)
                {
                    Render.PlainValue(c.Out, e.Kv.Value);
                }
                break;
            default:
                if (e.Type == WatchEventType.Resync)
                {
                    c.Console.MarkupLine($"[yellow]RESYNC[/] history was compacted; {e.Snapshot.Count} keys at revision {e.Revision}:");
                    c.Console.Write(Render.KvTable(e.Snapshot));
                    break;
                }
                var previous = e.PrevKv is null ? "" : $" [grey](was {Markup.Escape(Render.DisplayValue(e.PrevKv.Value))})[/]";
                c.Console.MarkupLine(e.Type == WatchEventType.Put
                    ? $"[grey]{e.Revision,6}[/] [green]PUT[/]    {Markup.Escape(e.Kv!.Key)} = {Markup.Escape(Render.DisplayValue(e.Kv.Value))}{previous}"
                    : $"[grey]{e.Revision,6}[/] [red]DELETE[/] {Markup.Escape(e.Kv!.Key)}{previous}");
                break;
        }
        c.Out.Flush();
    }

    public static Command Compact(GlobalOptions global)
    {
        var revision = new Argument<long>("REVISION");
        var physical = new Option<bool>("--physical") { Description = "Wait until the compacted history is removed from the backend." };
        var command = new Command("compact", "Discard the history before REVISION.") { revision, physical };
        global.AddTo(command);
        CliAction.Set(command, global, async c =>
        {
            var r = c.Parse.GetValue(revision);
            await c.Client.CompactAsync(r, c.Parse.GetValue(physical), c.CancellationToken);
            switch (c.Format)
            {
                case OutputFormat.Json:
                    c.WriteJson(new JsonObject { ["compacted"] = r });
                    break;
                case OutputFormat.Plain:
                    c.Out.WriteLine($"compacted revision {r}");
                    break;
                default:
                    c.Console.MarkupLine($"[green]compacted[/] revision {r}");
                    break;
            }
            return ExitCodes.Ok;
        });
        return command;
    }
}
