using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using Conclave.Storage.Wal;

namespace Conclave.Server;

/// <summary>
/// Named places in a member where a test can make the process crash, stall or report, as etcd's
/// gofail markers do. The WAL's own points (<see cref="WalFailpoint"/>) are reached through
/// <see cref="Failpoints.Wal"/>; the others are hit by one line each in the member.
/// </summary>
public enum Failpoint
{
    /// <summary>WAL: a batch is encoded and nothing of it is written.</summary>
    WalBeforeWrite,

    /// <summary>WAL: half of a record is written (a crash here leaves a torn tail).</summary>
    WalMidRecord,

    /// <summary>WAL: the batch is written and not yet fsynced.</summary>
    WalBeforeFsync,

    /// <summary>WAL: the batch is durable; nothing after it (send of the follower's ack, apply) has happened.</summary>
    WalAfterFsync,

    /// <summary>WAL: a new segment is synced under its temporary name, not yet renamed.</summary>
    WalMidSegmentRollover,

    /// <summary>WAL: a new segment is renamed into place, the directory not yet synced.</summary>
    WalAfterSegmentRename,

    /// <summary>WAL: segments covered by a snapshot are about to be deleted.</summary>
    WalBeforeRelease,

    /// <summary>A committed normal entry is about to be applied to the state machine (hit once per entry, also while replaying the log at start).</summary>
    BeforeApply,

    /// <summary>An entry is applied and the client waiting for it is not yet answered.</summary>
    AfterApply,

    /// <summary>The leader has handed the first chunk of a snapshot to the transport; the rest is not read yet (hit on every later read of the transfer).</summary>
    SnapshotSend,

    /// <summary>A follower received a chunk of a snapshot and has not written it yet (hit per chunk).</summary>
    SnapshotReceive,

    /// <summary>A received snapshot is durable in the snapshot store; the consensus core and the state machine do not have it yet.</summary>
    SnapshotInstall,
}

/// <summary>What an armed failpoint does when it fires.</summary>
public enum FailpointAction
{
    /// <summary>Writes one line to stderr, then kills the process with SIGKILL: nothing is flushed, like kill -9 at that point.</summary>
    Crash,

    /// <summary>Writes one line to stderr, then blocks the calling thread for <see cref="FailpointRule.SleepMs"/> milliseconds.</summary>
    Sleep,

    /// <summary>Only writes the line to stderr (tests use it to see that a point is reached).</summary>
    Log,
}

/// <summary>
/// One armed point. Fires on every hit (<see cref="Nth"/> 0 and <see cref="Percent"/> 100), on the
/// <see cref="Nth"/> hit only (1-based), or on each hit with probability <see cref="Percent"/>/100.
/// </summary>
public sealed record FailpointRule(Failpoint Point, FailpointAction Action, int SleepMs, long Nth, int Percent);

/// <summary>
/// A parsed <c>CONCLAVE_FAILPOINTS</c> value: rules plus the seed of the percentage draws. Counts
/// hits per point (thread-safe); <see cref="ShouldFire"/> decides, it has no side effect beyond the
/// count and the seeded draw, so the same seed and the same sequence of hits fire the same way.
/// </summary>
public sealed class FailpointPlan
{
    private readonly FailpointRule?[] _rules = new FailpointRule?[Enum.GetValues<Failpoint>().Length];
    private readonly long[] _hits = new long[Enum.GetValues<Failpoint>().Length];
    private readonly Random _random;
    private readonly Lock _randomLock = new();

    public FailpointPlan(IEnumerable<FailpointRule> rules, int seed)
    {
        ArgumentNullException.ThrowIfNull(rules);
        foreach (var rule in rules)
        {
            _rules[(int)rule.Point] = rule;
        }

        Seed = seed;
        _random = new Random(seed);
    }

    public int Seed { get; }

    public IEnumerable<FailpointRule> Rules => _rules.OfType<FailpointRule>();

    public FailpointRule? Rule(Failpoint point) => _rules[(int)point];

    /// <summary>How often <paramref name="point"/> was reached so far (armed points only).</summary>
    public long Hits(Failpoint point) => Interlocked.Read(ref _hits[(int)point]);

    /// <summary>Counts one hit of <paramref name="point"/>; returns its rule when it fires now, with the hit number.</summary>
    public (FailpointRule Rule, long Hit)? ShouldFire(Failpoint point)
    {
        if (_rules[(int)point] is not { } rule)
        {
            return null;
        }

        var hit = Interlocked.Increment(ref _hits[(int)point]);
        if (rule.Nth > 0)
        {
            return hit == rule.Nth ? (rule, hit) : null;
        }

        if (rule.Percent >= 100)
        {
            return (rule, hit);
        }

        lock (_randomLock)
        {
            return _random.Next(100) < rule.Percent ? (rule, hit) : null;
        }
    }

    /// <summary>
    /// Parses the grammar of docs/robustness.md ("Server failpoints"):
    /// <c>term (';' term)*</c>, a term being <c>seed=N</c> or <c>point=action[@trigger]</c>;
    /// point: a <see cref="Failpoint"/> name with a lower-case first letter (case-insensitive), e.g.
    /// <c>walAfterFsync</c>; action: <c>crash</c>, <c>sleep(MS)</c> or <c>log</c>; trigger: <c>N</c>
    /// (the Nth hit only, N ≥ 1) or <c>P%</c> (each hit with probability P/100, 1 ≤ P ≤ 100, drawn
    /// from Random(seed), seed 0 unless given); no trigger = every hit. Blank terms are ignored.
    /// Returns null with <paramref name="error"/> set when the text is not valid.
    /// </summary>
    public static FailpointPlan? Parse(string text, out string? error)
    {
        ArgumentNullException.ThrowIfNull(text);
        error = null;
        var seed = 0;
        var rules = new Dictionary<Failpoint, FailpointRule>();
        foreach (var raw in text.Split(';'))
        {
            var term = raw.Trim();
            if (term.Length == 0)
            {
                continue;
            }

            var eq = term.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                error = $"'{term}' is not point=action[@trigger] or seed=N";
                return null;
            }

            var name = term[..eq].Trim();
            var rest = term[(eq + 1)..].Trim();
            if (name.Equals("seed", StringComparison.OrdinalIgnoreCase))
            {
                if (!int.TryParse(rest, NumberStyles.Integer, CultureInfo.InvariantCulture, out seed))
                {
                    error = $"seed '{rest}' is not a 32-bit integer";
                    return null;
                }

                continue;
            }

            if (!Enum.TryParse<Failpoint>(name, ignoreCase: true, out var point) || !Enum.IsDefined(point) || int.TryParse(name, out _))
            {
                error = $"unknown failpoint '{name}' (known: {string.Join(", ", Enum.GetValues<Failpoint>().Select(NameOf))})";
                return null;
            }

            if (rules.ContainsKey(point))
            {
                error = $"failpoint '{name}' is given twice";
                return null;
            }

            var at = rest.IndexOf('@', StringComparison.Ordinal);
            var actionText = (at < 0 ? rest : rest[..at]).Trim();
            var triggerText = at < 0 ? null : rest[(at + 1)..].Trim();
            FailpointAction action;
            var sleepMs = 0;
            if (actionText.Equals("crash", StringComparison.OrdinalIgnoreCase))
            {
                action = FailpointAction.Crash;
            }
            else if (actionText.Equals("log", StringComparison.OrdinalIgnoreCase))
            {
                action = FailpointAction.Log;
            }
            else if (actionText.StartsWith("sleep(", StringComparison.OrdinalIgnoreCase) && actionText.EndsWith(')')
                && int.TryParse(actionText[6..^1], NumberStyles.None, CultureInfo.InvariantCulture, out sleepMs) && sleepMs is > 0 and <= 600_000)
            {
                action = FailpointAction.Sleep;
            }
            else
            {
                error = $"failpoint '{name}': action '{actionText}' is not crash, log or sleep(MS) with 1 <= MS <= 600000";
                return null;
            }

            long nth = 0;
            var percent = 100;
            if (triggerText is not null)
            {
                if (triggerText.EndsWith('%'))
                {
                    if (!int.TryParse(triggerText[..^1], NumberStyles.None, CultureInfo.InvariantCulture, out percent) || percent is < 1 or > 100)
                    {
                        error = $"failpoint '{name}': trigger '{triggerText}' is not a percentage from 1% to 100%";
                        return null;
                    }
                }
                else if (!long.TryParse(triggerText, NumberStyles.None, CultureInfo.InvariantCulture, out nth) || nth < 1)
                {
                    error = $"failpoint '{name}': trigger '{triggerText}' is neither a hit number >= 1 nor a percentage";
                    return null;
                }
            }

            rules[point] = new FailpointRule(point, action, sleepMs, nth, percent);
        }

        return new FailpointPlan(rules.Values, seed);
    }

    /// <summary>The name used in the grammar: the enum name with a lower-case first letter.</summary>
    public static string NameOf(Failpoint point)
    {
        var name = point.ToString();
        return char.ToLowerInvariant(name[0]) + name[1..];
    }
}

/// <summary>
/// The process-wide failpoints, armed only when the process starts with the environment variable
/// <c>CONCLAVE_FAILPOINTS</c> (grammar: <see cref="FailpointPlan.Parse"/>, docs/robustness.md).
/// Unset or empty: nothing is armed and a hit costs one static readonly field read and a null check.
/// An invalid value makes <see cref="Wal"/> (read when a member starts) throw, so the member
/// refuses to start instead of running with fewer failpoints than asked for.
/// </summary>
public static class Failpoints
{
    public const string EnvironmentVariable = "CONCLAVE_FAILPOINTS";

    private static readonly string? LoadError;
    private static readonly FailpointPlan? ArmedPlan;

#pragma warning disable CA1810 // the environment is read once, with the error kept for the member's start
    static Failpoints()
#pragma warning restore CA1810
    {
        var text = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (string.IsNullOrWhiteSpace(text))
        {
            return;
        }

        ArmedPlan = FailpointPlan.Parse(text, out LoadError);
    }

    /// <summary>The armed plan, or null.</summary>
    public static FailpointPlan? Plan => ArmedPlan;

    /// <summary>The hook the member passes to its WAL: null when no WAL point is armed. Throws when CONCLAVE_FAILPOINTS is invalid.</summary>
    internal static IWalFailpoints? Wal
    {
        get
        {
            if (LoadError is not null)
            {
                throw new InvalidOperationException($"server: {EnvironmentVariable}: {LoadError}");
            }

            return ArmedPlan is { } plan && plan.Rules.Any(r => r.Point <= Failpoint.WalBeforeRelease) ? WalHook.Instance : null;
        }
    }

    /// <summary>Reaches <paramref name="point"/>: fires its rule when one is armed and its trigger says so.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Hit(Failpoint point)
    {
        if (ArmedPlan is { } plan)
        {
            HitArmed(plan, point);
        }
    }

    /// <summary>
    /// <paramref name="content"/> itself when <see cref="Failpoint.SnapshotSend"/> is not armed;
    /// otherwise a read-only wrapper that hits it on every read after the first non-empty one.
    /// </summary>
    public static Stream OnSnapshotSend(Stream content) =>
        ArmedPlan?.Rule(Failpoint.SnapshotSend) is null ? content : new SendStream(content);

    private static void HitArmed(FailpointPlan plan, Failpoint point)
    {
        if (plan.ShouldFire(point) is not var (rule, hit))
        {
            return;
        }

        var what = rule.Action == FailpointAction.Sleep ? $"sleep({rule.SleepMs})" : rule.Action.ToString().ToLowerInvariant();
        Console.Error.WriteLine($"conclave: failpoint {FailpointPlan.NameOf(point)} fired (hit {hit}): {what}");
        Console.Error.Flush();
        switch (rule.Action)
        {
            case FailpointAction.Crash:
                using (var self = Process.GetCurrentProcess())
                {
                    self.Kill();
                }

                // SIGKILL is delivered asynchronously: never go on past a crash point.
                Thread.Sleep(Timeout.Infinite);
                break;
            case FailpointAction.Sleep:
                Thread.Sleep(rule.SleepMs);
                break;
            case FailpointAction.Log:
                break;
        }
    }

    private sealed class WalHook : IWalFailpoints
    {
        public static readonly WalHook Instance = new();

        public void Hit(WalFailpoint point) => Failpoints.Hit(point switch
        {
            WalFailpoint.BeforeWrite => Failpoint.WalBeforeWrite,
            WalFailpoint.MidRecord => Failpoint.WalMidRecord,
            WalFailpoint.BeforeFsync => Failpoint.WalBeforeFsync,
            WalFailpoint.AfterFsync => Failpoint.WalAfterFsync,
            WalFailpoint.MidSegmentRollover => Failpoint.WalMidSegmentRollover,
            WalFailpoint.AfterSegmentRename => Failpoint.WalAfterSegmentRename,
            WalFailpoint.BeforeRelease => Failpoint.WalBeforeRelease,
            _ => throw new ArgumentOutOfRangeException(nameof(point), point, "server: unknown WAL failpoint"),
        });
    }

    /// <summary>Forwards reads; from the second non-empty read on, hits <see cref="Failpoint.SnapshotSend"/> first.</summary>
    private sealed class SendStream(Stream inner) : Stream
    {
        private bool _started;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => inner.Length;

        public override long Position
        {
            get => inner.Position;
            set => throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            Before();
            var n = inner.Read(buffer);
            _started |= n > 0;
            return n;
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Before();
            var n = await inner.ReadAsync(buffer, cancellationToken);
            _started |= n > 0;
            return n;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }

            base.Dispose(disposing);
        }

        private void Before()
        {
            if (_started)
            {
                Failpoints.Hit(Failpoint.SnapshotSend);
            }
        }
    }
}
