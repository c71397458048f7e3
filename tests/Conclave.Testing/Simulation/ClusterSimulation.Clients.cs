using System.Buffers.Binary;
using Conclave.Raft;
using Conclave.Verification.Linearizability;

namespace Conclave.Testing.Simulation;

/// <summary>
/// The client workload on the key-value register. A client has at most one operation open.
/// Writes are proposed with a unique command id; a member that is not leader forwards or refuses,
/// and the client retries on another member (the one named as leader if known) with the same id,
/// so a write committed twice applies once. The answer comes from the state machine of the member
/// the client last asked, once it applied the command. Reads use ReadIndex and are served by the
/// member that answered, once its applied index reaches the read index. An operation open for
/// <see cref="GiveUpTicks"/> is recorded with unknown outcome. Call and return times are a
/// counter of client events, so the history orders them exactly as they happened.
/// </summary>
public sealed partial class ClusterSimulation
{
    private sealed class SimClient(int id)
    {
        public int Id { get; } = id;

        public ClientOp? Op { get; set; }

        public ulong Target { get; set; }
    }

    private sealed class ClientOp(KvInput input, long commandId, long callTime, long giveUpAt)
    {
        public KvInput Input { get; } = input;

        public long CommandId { get; } = commandId;

        public long CallTime { get; } = callTime;

        public long GiveUpAt { get; } = giveUpAt;

        public ulong Target { get; set; }

        public long RetryAt { get; set; }

        /// <summary>Write: accepted by Target and waiting to be applied there. Read: ReadIndex asked of Target.</summary>
        public bool Waiting { get; set; }

        public long ReadContext { get; set; }

        public bool IsRead => Input.Op == KvOp.Get;
    }

    private void ClientsAct(bool newOperations)
    {
        foreach (var c in _clients)
        {
            if (c.Op is null)
            {
                if (newOperations && _random.NextDouble() < 0.3)
                {
                    Begin(c);
                }

                continue;
            }

            if (_step >= c.Op.GiveUpAt)
            {
                _history.Add(Operation<KvInput, KvOutput>.Unknown(c.Id, c.Op.Input, c.Op.CallTime));
                Trace($"client {c.Id} gives up on {KeyValueModel.Instance.Describe(c.Op.Input, null)}");
                c.Op = null;
                continue;
            }

            if (_step >= c.Op.RetryAt)
            {
                Attempt(c, c.Op, leaderHint: true);
            }
        }
    }

    private void Begin(SimClient c)
    {
        var key = "k" + _random.Next(_options.Keys);
        var value = $"c{c.Id}-{_nextCommandId + 1}";
        var roll = _random.Next(10);
        KvInput input = roll switch
        {
            < 4 => KvInput.Get(key),
            < 7 => KvInput.Put(key, value),
            < 9 => KvInput.Cas(key, ExpectedFor(key), value),
            _ => KvInput.Delete(key),
        };
        var op = new ClientOp(input, ++_nextCommandId, ++_clock, _step + GiveUpTicks);
        c.Op = op;
        Attempt(c, op, leaderHint: false);
    }

    /// <summary>A CAS expectation that is right often enough to succeed: the value some member currently holds.</summary>
    private string? ExpectedFor(string key)
    {
        var alive = _members.Values.Where(m => m.Alive).ToList();
        return alive.Count == 0 ? null : alive[_random.Next(alive.Count)].Sm.Get(key);
    }

    private void Attempt(SimClient c, ClientOp op, bool leaderHint)
    {
        var target = ChooseTarget(c, leaderHint);
        if (target?.Node is not { } node)
        {
            op.RetryAt = _step + 5;
            op.Waiting = false;
            return;
        }

        c.Target = target.Id;
        op.Target = target.Id;
        if (op.IsRead)
        {
            op.ReadContext = ++_nextReadContext;
            var ctx = new byte[8];
            BinaryPrimitives.WriteInt64LittleEndian(ctx, op.ReadContext);
            node.ReadIndex(ctx);
            op.Waiting = true;
            op.RetryAt = _step + ReadRetryTicks;
            return;
        }

        var cmd = new Command(op.CommandId, op.Input.Op, op.Input.Key, op.Input.Value, op.Input.Expected);
        var result = node.Propose(cmd.Encode());
        op.Waiting = result.IsAccepted;
        op.RetryAt = _step + (result.IsAccepted ? WriteRetryTicks : 3);
    }

    /// <summary>The client's current member, or after a failure the member it believes leads, or any live member.</summary>
    private SimMember? ChooseTarget(SimClient c, bool leaderHint)
    {
        if (leaderHint && _members.TryGetValue(c.Target, out var current) && current.Node is { } n)
        {
            var lead = n.Status().Lead;
            if (lead != 0 && lead != c.Target && _members.TryGetValue(lead, out var l) && l.Alive)
            {
                return l;
            }
        }

        var alive = _members.Values.Where(m => m.Alive && (!leaderHint || m.Id != c.Target)).ToList();
        if (alive.Count == 0)
        {
            alive = _members.Values.Where(m => m.Alive).ToList();
        }

        return alive.Count == 0 ? null : alive[_random.Next(alive.Count)];
    }

    private void ClientsComplete()
    {
        foreach (var c in _clients)
        {
            if (c.Op is not { Waiting: true } op || !_members.TryGetValue(op.Target, out var m) || !m.Alive)
            {
                continue;
            }

            KvOutput? output = null;
            if (op.IsRead)
            {
                if (m.ReadStates.TryGetValue(op.ReadContext, out var index) && m.Applied >= index)
                {
                    m.ReadStates.Remove(op.ReadContext);
                    output = KvOutput.Read(m.Sm.Get(op.Input.Key));
                }
            }
            else
            {
                output = m.Sm.ResultOf(op.CommandId);
            }

            if (output is not null)
            {
                _history.Add(new Operation<KvInput, KvOutput>(c.Id, op.Input, output, op.CallTime, ++_clock));
                Trace($"client {c.Id} via member {m.Id}: {KeyValueModel.Instance.Describe(op.Input, output)}");
                c.Op = null;
            }
        }
    }
}
