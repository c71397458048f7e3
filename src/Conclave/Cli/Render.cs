using System.Globalization;
using System.Text.Json.Nodes;
using Conclave.Client;
using Spectre.Console;

namespace Conclave.Cli;

/// <summary>Shared rendering of keys, values and ids in the three output formats.</summary>
public static class Render
{
    /// <summary>etcdctl's field names; key and value as UTF-8 text (not base64 as etcdctl's json).</summary>
    public static JsonObject Kv(KeyValue kv) => new()
    {
        ["key"] = kv.Key,
        ["create_revision"] = kv.CreateRevision,
        ["mod_revision"] = kv.ModRevision,
        ["version"] = kv.Version,
        ["value"] = kv.ValueText,
        ["lease"] = kv.Lease,
    };

    public static JsonArray Kvs(IEnumerable<KeyValue> kvs) => new(kvs.Select(kv => (JsonNode)Kv(kv)).ToArray());

    public static JsonObject Header(long revision) => new() { ["revision"] = revision };

    /// <summary>Lease ids are shown in hex, as etcdctl shows them.</summary>
    public static string Hex(long id) => id.ToString("x", CultureInfo.InvariantCulture);

    /// <summary>Parses a lease id as printed by `lease grant` (hex, optional 0x).</summary>
    public static long ParseLeaseId(string text)
    {
        var t = text.StartsWith("0x", StringComparison.OrdinalIgnoreCase) ? text[2..] : text;
        if (!long.TryParse(t, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var id) || id <= 0)
        {
            throw new CliUsageException($"'{text}' is not a lease id (hex, as printed by `conclave lease grant`)");
        }
        return id;
    }

    /// <summary>A table of key-values for human output (keys only when <paramref name="keysOnly"/>).</summary>
    public static Table KvTable(IEnumerable<KeyValue> kvs, bool keysOnly = false)
    {
        var table = new Table().Border(TableBorder.Rounded);
        table.AddColumn("KEY");
        if (!keysOnly)
        {
            table.AddColumn("VALUE");
            table.AddColumn(new TableColumn("CREATE").RightAligned());
            table.AddColumn(new TableColumn("MOD").RightAligned());
            table.AddColumn(new TableColumn("VERSION").RightAligned());
            table.AddColumn("LEASE");
        }
        foreach (var kv in kvs)
        {
            if (keysOnly)
            {
                table.AddRow(Markup.Escape(kv.Key));
            }
            else
            {
                table.AddRow(
                    Markup.Escape(kv.Key), Markup.Escape(kv.ValueText), Num(kv.CreateRevision), Num(kv.ModRevision),
                    Num(kv.Version), kv.Lease == 0 ? "" : Hex(kv.Lease));
            }
        }
        return table;
    }

    public static string Num(long n) => n.ToString(CultureInfo.InvariantCulture);

    /// <summary>etcdctl's simple format: key line then value line.</summary>
    public static void PlainKvs(TextWriter output, IEnumerable<KeyValue> kvs, bool keysOnly = false)
    {
        foreach (var kv in kvs)
        {
            output.WriteLine(kv.Key);
            if (!keysOnly)
            {
                output.WriteLine(kv.ValueText);
            }
        }
    }
}
