using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Conclave.Client;
using Spectre.Console;

namespace Conclave.Cli;

/// <summary>
/// `conclave txn`: reads a transaction from stdin in etcdctl's interactive format — compares,
/// an empty line, success operations, an empty line, failure operations:
/// <code>
/// version("k") = 0          compare: value|version|create|mod|lease ("key") =|!=|&lt;|&gt; operand
/// (empty line)
/// put k "v"                 ops: put KEY VALUE, get KEY [--prefix], del KEY [--prefix]
/// (empty line)
/// get k
/// </code>
/// Tokens are separated by blanks; double quotes group (with \" and \\ escapes).
/// </summary>
public static class TxnCommand
{
    public static Command Create(GlobalOptions global)
    {
        var command = new Command("txn", "Run a transaction read from stdin (compares, empty line, success ops, empty line, failure ops).");
        global.AddTo(command);
        CliAction.Set(command, global, async c =>
        {
            var input = await Console.In.ReadToEndAsync(c.CancellationToken);
            var (compares, success, failure) = Parse(input);
            var result = await c.Client.Txn().If([.. compares]).Then([.. success.Select(o => o.Op)]).Else([.. failure.Select(o => o.Op)]).CommitAsync(c.CancellationToken);
            var ran = result.Succeeded ? success : failure;
            switch (c.Format)
            {
                case OutputFormat.Json:
                    c.WriteJson(new JsonObject
                    {
                        ["header"] = Render.Header(result.Revision),
                        ["succeeded"] = result.Succeeded,
                        ["responses"] = new JsonArray(result.Results.Select(ToJson).ToArray()),
                    });
                    break;
                case OutputFormat.Plain:
                    c.Out.WriteLine(result.Succeeded ? "SUCCESS" : "FAILURE");
                    foreach (var r in result.Results)
                    {
                        c.Out.WriteLine();
                        WritePlain(c.Out, r);
                    }
                    break;
                default:
                    c.Console.MarkupLine(result.Succeeded ? $"[green]SUCCESS[/] (revision {result.Revision})" : $"[yellow]FAILURE[/] (revision {result.Revision})");
                    for (var i = 0; i < result.Results.Count; i++)
                    {
                        c.Console.MarkupLine(Markup.Escape(ran[i].Text));
                        if (result.Results[i] is GetResult { Kvs.Count: > 0 } g)
                        {
                            c.Console.Write(Render.KvTable(g.Kvs));
                        }
                    }
                    break;
            }
            return ExitCodes.Ok;
        });
        return command;
    }

    private static JsonNode ToJson(OpResult r) => r switch
    {
        GetResult g => new JsonObject { ["response_range"] = new JsonObject { ["header"] = Render.Header(g.Revision), ["kvs"] = Render.Kvs(g.Kvs), ["count"] = g.Count } },
        PutResult p => new JsonObject { ["response_put"] = new JsonObject { ["header"] = Render.Header(p.Revision) } },
        DeleteResult d => new JsonObject { ["response_delete_range"] = new JsonObject { ["header"] = Render.Header(d.Revision), ["deleted"] = d.Deleted } },
        _ => new JsonObject(),
    };

    private static void WritePlain(TextWriter output, OpResult r)
    {
        switch (r)
        {
            case GetResult g:
                Render.PlainKvs(output, g.Kvs);
                break;
            case PutResult:
                output.WriteLine("OK");
                break;
            case DeleteResult d:
                output.WriteLine(d.Deleted);
                break;
        }
    }

    /// <summary>An operation and the line it was read from.</summary>
    public sealed record ParsedOp(Op Op, string Text);

    /// <summary>Parses the three sections; a malformed line throws <see cref="CliUsageException"/> naming it.</summary>
    public static (List<Compare> Compares, List<ParsedOp> Success, List<ParsedOp> Failure) Parse(string input)
    {
        var sections = new List<List<string>> { new() };
        foreach (var raw in input.Replace("\r", "", StringComparison.Ordinal).Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0)
            {
                if (sections.Count < 3)
                {
                    sections.Add([]);
                }
                continue;
            }
            sections[^1].Add(line);
        }
        while (sections.Count < 3)
        {
            sections.Add([]);
        }
        return (sections[0].Select(ParseCompare).ToList(), sections[1].Select(ParseOp).ToList(), sections[2].Select(ParseOp).ToList());
    }

    public static Compare ParseCompare(string line)
    {
        var open = line.IndexOf('(', StringComparison.Ordinal);
        var close = line.LastIndexOf(')');
        if (open <= 0 || close < open)
        {
            throw new CliUsageException($"txn: '{line}' is not a compare such as version(\"k\") = 0");
        }
        var target = line[..open].Trim().ToLowerInvariant();
        var keyTokens = Tokenize(line[(open + 1)..close]);
        var rest = Tokenize(line[(close + 1)..]);
        if (keyTokens.Count != 1 || rest.Count != 2)
        {
            throw new CliUsageException($"txn: '{line}' is not a compare such as version(\"k\") = 0");
        }
        var key = keyTokens[0];
        var (op, operand) = (rest[0], rest[1]);
        if (target == "value")
        {
            var v = Compare.Value(key);
            return op switch
            {
                "=" or "==" => v == operand,
                "!=" => v != operand,
                "<" => v < operand,
                ">" => v > operand,
                _ => throw new CliUsageException($"txn: '{op}' in '{line}' is not one of = != < >"),
            };
        }
        var t = target switch
        {
            "version" or "ver" => Compare.Version(key),
            "create" or "c" => Compare.CreateRevision(key),
            "mod" or "m" => Compare.ModRevision(key),
            "lease" => Compare.Lease(key),
            _ => throw new CliUsageException($"txn: '{target}' in '{line}' is not one of value, version, create, mod, lease"),
        };
        long n;
        if (target == "lease")
        {
            n = operand == "0" ? 0 : Render.ParseLeaseId(operand);
        }
        else if (!long.TryParse(operand, NumberStyles.Integer, CultureInfo.InvariantCulture, out n))
        {
            throw new CliUsageException($"txn: '{operand}' in '{line}' is not a number");
        }
        return op switch
        {
            "=" or "==" => t == n,
            "!=" => t != n,
            "<" => t < n,
            ">" => t > n,
            _ => throw new CliUsageException($"txn: '{op}' in '{line}' is not one of = != < >"),
        };
    }

    public static ParsedOp ParseOp(string line)
    {
        var tokens = Tokenize(line);
        var prefix = tokens.Remove("--prefix");
        Op op = tokens switch
        {
            ["put", var k, var v] when !prefix => Op.Put(k, v),
            ["get", var k] => prefix ? Op.GetPrefix(k) : Op.Get(k),
            ["del" or "delete", var k] => prefix ? Op.DeletePrefix(k) : Op.Delete(k),
            _ => throw new CliUsageException($"txn: '{line}' is not an operation (put KEY VALUE, get KEY [--prefix], del KEY [--prefix])"),
        };
        return new ParsedOp(op, line);
    }

    /// <summary>Splits on blanks; "double quotes" group, with \" and \\ escapes inside them.</summary>
    public static List<string> Tokenize(string text)
    {
        var tokens = new List<string>();
        var current = new StringBuilder();
        var inToken = false;
        for (var i = 0; i < text.Length; i++)
        {
            var ch = text[i];
            if (ch == '"')
            {
                inToken = true;
                for (i++; i < text.Length && text[i] != '"'; i++)
                {
                    if (text[i] == '\\' && i + 1 < text.Length)
                    {
                        i++;
                    }
                    current.Append(text[i]);
                }
                if (i >= text.Length)
                {
                    throw new CliUsageException($"txn: unterminated quote in '{text.Trim()}'");
                }
            }
            else if (char.IsWhiteSpace(ch))
            {
                if (inToken)
                {
                    tokens.Add(current.ToString());
                    current.Clear();
                    inToken = false;
                }
            }
            else
            {
                inToken = true;
                current.Append(ch);
            }
        }
        if (inToken)
        {
            tokens.Add(current.ToString());
        }
        return tokens;
    }
}
