using System.Runtime.CompilerServices;
using System.Text;

namespace Conclave.Raft.Tests;

/// <summary>
/// Data-driven interaction tests. Each testdata/*.txt file is a script: "$ command" lines, each
/// followed by the output it produced, then a blank line. Lines starting with '#' are comments.
/// The test re-runs the commands and compares the whole transcript. With CONCLAVE_REWRITE=1 the
/// files are rewritten with the current output instead (review the diff before committing).
/// Commands: see <see cref="InteractionScript.Run"/>.
/// </summary>
public class InteractionTests
{
    private static string TestDataDir([CallerFilePath] string path = "") => Path.Combine(Path.GetDirectoryName(path)!, "testdata");

    public static TheoryData<string> Scripts()
    {
        var data = new TheoryData<string>();
        foreach (var f in Directory.GetFiles(TestDataDir(), "*.txt").Order(StringComparer.Ordinal))
        {
            data.Add(Path.GetFileName(f));
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Scripts))]
    public void Script(string name)
    {
        var path = Path.Combine(TestDataDir(), name);
        var original = File.ReadAllText(path);
        var actual = InteractionScript.Run(original);
        if (Environment.GetEnvironmentVariable("CONCLAVE_REWRITE") == "1")
        {
            File.WriteAllText(path, actual);
            return;
        }

        Assert.Equal(original, actual);
    }
}

/// <summary>Parses and runs one interaction script, producing the transcript.</summary>
internal static class InteractionScript
{
    public static string Run(string script)
    {
        var cluster = new Cluster();
        var result = new StringBuilder();
        var lines = script.Replace("\r\n", "\n").Split('\n');
        var i = 0;
        while (i < lines.Length)
        {
            var line = lines[i];
            if (line.StartsWith("$ ", StringComparison.Ordinal))
            {
                var command = line[2..].Trim();
                result.Append("$ ").Append(command).Append('\n');
                i++;
                while (i < lines.Length && lines[i].Length > 0)
                {
                    i++; // recorded output: replaced by the fresh one
                }

                string output;
                try
                {
                    Execute(cluster, command);
                    output = cluster.TakeOutput();
                }
                catch (Exception e) when (e is InvalidOperationException or ArgumentException or FormatException or KeyNotFoundException)
                {
                    output = cluster.TakeOutput() + $"error: {e.Message}\n";
                }

                // A blank line ends a block, so an empty output line is written as "-".
                output = output.Length == 0 ? string.Empty : string.Join('\n', output.TrimEnd('\n').Split('\n').Select(l => l.Length == 0 ? "-" : l));
                result.Append(output.Length == 0 ? "ok" : output).Append('\n');
                result.Append('\n');
                if (i < lines.Length)
                {
                    i++; // the blank line that ends the block
                }

                continue;
            }

            // Comments are kept; stray blank lines between blocks are not.
            if (line.Length > 0)
            {
                result.Append(line).Append('\n');
            }

            i++;
        }

        return result.ToString().TrimEnd('\n') + "\n";
    }

    private static void Execute(Cluster c, string command)
    {
        var (verb, args, opts) = Parse(command);
        switch (verb)
        {
            case "add-nodes":
                AddNodes(c, int.Parse(args[0]), opts);
                break;
            case "campaign":
                c.Members[Id(args[0])].Node.Campaign();
                break;
            case "propose":
                c.Print(c.Members[Id(args[0])].Node.Propose(Encoding.UTF8.GetBytes(args[1])).ToString());
                break;
            case "propose-conf-change":
                {
                    var changes = args.Skip(1).Select(a => new ConfChangeSingle(
                        a[0] switch
                        {
                            'v' => ConfChangeType.AddNode,
                            'l' => ConfChangeType.AddLearnerNode,
                            'r' => ConfChangeType.RemoveNode,
                            _ => throw new ArgumentException($"bad change {a}"),
                        },
                        ulong.Parse(a[1..]))).ToList();
                    var transition = opts.GetValueOrDefault("transition", "auto") switch
                    {
                        "implicit" => ConfChangeTransition.JointImplicit,
                        "explicit" => ConfChangeTransition.JointExplicit,
                        _ => ConfChangeTransition.Auto,
                    };
                    c.Print(c.Members[Id(args[0])].Node.ProposeConfChange(new ConfChange { Transition = transition, Changes = changes }).ToString());
                    break;
                }

            case "tick":
                c.Tick(Id(args[0]), int.Parse(args[1]));
                break;
            case "tick-election":
                c.Tick(Id(args[0]), c.Members[Id(args[0])].Config.ElectionTick);
                break;
            case "tick-heartbeat":
                c.Tick(Id(args[0]), c.Members[Id(args[0])].Config.HeartbeatTick);
                break;
            case "process-ready":
                foreach (var a in args)
                {
                    c.ProcessReady(Id(a));
                }

                break;
            case "deliver-msgs":
                foreach (var a in args)
                {
                    c.Deliver(Id(a), opts.TryGetValue("from", out var f) ? Id(f) : null);
                }

                break;
            case "stabilize":
                c.Stabilize(args.Count == 0 ? null : args.Select(Id).ToList());
                break;
            case "drop":
                {
                    var (from, to) = Link(args[0]);
                    c.Drop(from, to);
                    break;
                }

            case "cut":
                {
                    var (from, to) = Link(args[0]);
                    c.Cut(from, to);
                    break;
                }

            case "partition":
                {
                    var groups = string.Join(' ', args).Split('|')
                        .Select(g => (IReadOnlyList<ulong>)g.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(Id).ToList())
                        .ToList();
                    c.Partition(groups);
                    break;
                }

            case "verbose":
                c.Verbose = args[0] == "on";
                break;
            case "heal":
                c.Heal();
                break;
            case "raft-log":
                RaftLog(c, Id(args[0]));
                break;
            case "status":
                Status(c, Id(args[0]));
                break;
            case "raft-state":
                foreach (var (id, m) in c.Members)
                {
                    var s = m.Node.Status();
                    c.Print($"{id}: {s.Role} Term:{s.Term} Lead:{s.Lead} Commit:{s.Commit}");
                }

                break;
            case "read-index":
                c.Members[Id(args[0])].Node.ReadIndex(Encoding.UTF8.GetBytes(args[1]));
                break;
            case "transfer-leader":
                c.Members[Id(args[0])].Node.TransferLeader(Id(args[1]));
                break;
            case "compact":
                {
                    var m = c.Members[Id(args[0])];
                    var index = ulong.Parse(args[1]);
                    m.Storage.CreateSnapshot(index, m.ConfState, Encoding.UTF8.GetBytes($"snap@{index}"));
                    m.Storage.Compact(index);
                    break;
                }

            case "report-snapshot":
                c.Members[Id(args[0])].Node.ReportSnapshot(Id(args[1]), failed: args[2] == "failed");
                break;
            case "report-unreachable":
                c.Members[Id(args[0])].Node.ReportUnreachable(Id(args[1]));
                break;
            case "restart":
                c.Restart(Id(args[0]));
                break;
            case "applied":
                {
                    var m = c.Members[Id(args[0])];
                    c.Print(string.Join(' ', m.Applied.Where(e => e.Type == EntryType.Normal && e.Data.Length > 0)
                        .Select(e => Encoding.UTF8.GetString(e.Data.Span))));
                    break;
                }

            default:
                throw new ArgumentException($"unknown command {verb}");
        }
    }

    private static void AddNodes(Cluster c, int n, Dictionary<string, string> opts)
    {
        var cs = new ConfState
        {
            Voters = Ids(opts.GetValueOrDefault("voters")),
            Learners = Ids(opts.GetValueOrDefault("learners")),
        };
        var logTerms = Ids(opts.GetValueOrDefault("log"));
        var term = ulong.Parse(opts.GetValueOrDefault("term", "0"));
        var index = ulong.Parse(opts.GetValueOrDefault("index", "0"));
        var first = c.Members.Count == 0 ? 1UL : c.Members.Keys.Max() + 1;
        for (var i = 0; i < n; i++)
        {
            var id = first + (ulong)i;
            c.Add(id, cs, logTerms, term, index, cfg => new RaftConfig
            {
                Id = cfg.Id,
                Storage = cfg.Storage,
                ElectionTick = cfg.ElectionTick,
                HeartbeatTick = cfg.HeartbeatTick,
                RandomSeed = cfg.RandomSeed,
                PreVote = opts.GetValueOrDefault("prevote", "true") == "true",
                CheckQuorum = opts.GetValueOrDefault("checkquorum", "true") == "true",
                MaxSizePerMsg = ulong.Parse(opts.GetValueOrDefault("max-size", (1UL << 20).ToString())),
                MaxInflightMsgs = int.Parse(opts.GetValueOrDefault("max-inflight", "256")),
                MaxUncommittedEntriesSize = ulong.Parse(opts.GetValueOrDefault("max-uncommitted", "0")),
                Bugs = opts.GetValueOrDefault("bugs") switch
                {
                    "commit-on-minority" => RaftBugs.CommitOnMinority,
                    "vote-twice" => RaftBugs.VoteTwiceInTerm,
                    _ => RaftBugs.None,
                },
            });
            c.Print($"INFO {id} created: {cs}" + (logTerms.Count > 0 ? $" log=({string.Join(',', logTerms)})" : string.Empty)
                + (term > 0 ? $" term={term}" : string.Empty) + (index > 0 ? $" snapshot={index}" : string.Empty));
        }
    }

    private static void RaftLog(Cluster c, ulong id)
    {
        var m = c.Members[id];
        var st = m.Storage;
        var snap = st.Snapshot();
        if (!snap.IsEmpty)
        {
            c.Print($"snapshot Index:{snap.Metadata.Index} Term:{snap.Metadata.Term}");
        }

        if (st.LastIndex() < st.FirstIndex())
        {
            c.Print("log is empty");
        }
        else
        {
            foreach (var e in st.Entries(st.FirstIndex(), st.LastIndex() + 1, ulong.MaxValue))
            {
                c.Print(Cluster.FormatEntry(e));
            }
        }
    }

    private static void Status(Cluster c, ulong id)
    {
        var s = c.Members[id].Node.Status();
        c.Print($"{s.Id}: {s.Role} Term:{s.Term} Vote:{s.Vote} Lead:{s.Lead} Commit:{s.Commit} Applied:{s.Applied}"
            + (s.LeadTransferee != 0 ? $" Transferee:{s.LeadTransferee}" : string.Empty));
        c.Print($"  conf: {s.ConfState}");
        foreach (var (pid, pr) in s.Progress)
        {
            c.Print($"  {pid}: {pr.State} match={pr.Match} next={pr.Next}" + (pr.IsLearner ? " learner" : string.Empty)
                + (pr.Inflight > 0 ? $" inflight={pr.Inflight}" : string.Empty)
                + (pr.PendingSnapshot > 0 ? $" pendingSnap={pr.PendingSnapshot}" : string.Empty));
        }
    }

    private static ulong Id(string s) => ulong.Parse(s);

    private static (ulong, ulong) Link(string s)
    {
        var parts = s.Split("->");
        return (Id(parts[0]), Id(parts[1]));
    }

    private static List<ulong> Ids(string? s) =>
        string.IsNullOrEmpty(s) ? [] : s.Trim('(', ')').Split(',', StringSplitOptions.RemoveEmptyEntries).Select(x => ulong.Parse(x.Trim())).ToList();

    private static (string Verb, List<string> Args, Dictionary<string, string> Opts) Parse(string command)
    {
        var parts = command.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var args = new List<string>();
        var opts = new Dictionary<string, string>();
        foreach (var p in parts.Skip(1))
        {
            var eq = p.IndexOf('=');
            if (eq > 0 && !p.Contains("->"))
            {
                opts[p[..eq]] = p[(eq + 1)..];
            }
            else
            {
                args.Add(p);
            }
        }

        return (parts[0], args, opts);
    }
}
