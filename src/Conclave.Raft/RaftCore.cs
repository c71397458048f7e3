namespace Conclave.Raft;

/// <summary>
/// The Raft state machine of one member. Everything happens in calls from <see cref="RawNode"/>:
/// no I/O, no clock, no threads; the only randomness is a Random seeded from the config.
/// Outgoing messages collect in two lists (see <see cref="Send"/>) until the next Ready.
/// </summary>
internal sealed class RaftCore
{
    internal const ulong None = 0;
    private static readonly byte[] CampaignTransferContext = "CampaignTransfer"u8.ToArray();

    private readonly int _electionTimeout;
    private readonly int _heartbeatTimeout;
    private readonly bool _checkQuorum;
    private readonly bool _preVote;
    private readonly ulong _maxMsgSize;
    private readonly ulong _maxUncommittedSize;
    private readonly int _maxInflight;
    private readonly RaftBugs _bugs;
    private readonly Random _random;
    private readonly List<Message> _pendingReadIndex = [];
    private ReadOnlyQueue _readOnly = new();
    private int _electionElapsed;
    private int _heartbeatElapsed;
    private int _randomizedElectionTimeout;
    private ulong _pendingConfIndex;
    private ulong _uncommittedSize;

    public RaftCore(RaftConfig config)
    {
        config.Validate();
        Id = config.Id;
        Log = new RaftLog(config.Storage);
        _electionTimeout = config.ElectionTick;
        _heartbeatTimeout = config.HeartbeatTick;
        _checkQuorum = config.CheckQuorum;
        _preVote = config.PreVote;
        _maxMsgSize = config.MaxSizePerMsg;
        MaxCommittedSizePerReady = config.MaxCommittedSizePerReady == 0 ? config.MaxSizePerMsg : config.MaxCommittedSizePerReady;
        _maxUncommittedSize = config.MaxUncommittedEntriesSize;
        _maxInflight = config.MaxInflightMsgs;
        _bugs = config.Bugs;
        _random = new Random(config.RandomSeed ^ (int)config.Id ^ (int)(config.Id >> 32));

        var (hs, cs) = config.Storage.InitialState();
        Tracker = new ProgressTracker(new TrackerConfig(), []);
        RestoreConfig(cs);
        if (!hs.IsEmpty)
        {
            if (hs.Commit < Log.Committed || hs.Commit > Log.LastIndex())
            {
                throw new InvalidOperationException($"raft: hard state commit {hs.Commit} is out of range [{Log.Committed}, {Log.LastIndex()}]");
            }

            Term = hs.Term;
            Vote = hs.Vote;
            Log.CommitTo(hs.Commit);
            PersistedTerm = hs.Term;
        }

        if (config.Applied > 0)
        {
            Log.AppliedTo(config.Applied);
        }

        BecomeFollower(Term, None);
    }

    public ulong Id { get; }

    public ulong MaxCommittedSizePerReady { get; }

    /// <summary>The term of the last HardState reported durable (set by RawNode.Advance).</summary>
    public ulong PersistedTerm { get; set; }

    public ulong Term { get; private set; }

    public ulong Vote { get; private set; }

    public ulong Lead { get; private set; }

    public RaftRole State { get; private set; }

    public ulong LeadTransferee { get; private set; }

    public bool IsLearner { get; private set; }

    public RaftLog Log { get; }

    public ProgressTracker Tracker { get; }

    /// <summary>Messages that may leave before this member's pending writes are durable (see <see cref="Send"/>).</summary>
    public List<Message> Msgs { get; } = [];

    /// <summary>Messages that must wait until the current Ready is durable.</summary>
    public List<Message> MsgsAfterPersist { get; } = [];

    public List<ReadState> ReadStates { get; } = [];

    public HardState HardState => new(Term, Vote, Log.Committed);

    public SoftState SoftState => new(Lead, State);

    private bool Promotable => Tracker.Progress.TryGetValue(Id, out var pr) && !pr.IsLearner && Log.Unstable.Snapshot is null;

    // ---------------------------------------------------------------- sending

    /// <summary>
    /// Queues m. What may leave before this member's pending writes are durable goes to
    /// <see cref="Msgs"/>: a leader's Append, Heartbeat, Snapshot and TimeoutNow (the leader counts
    /// itself only after its own fsync), and the messages that promise nothing about this member's
    /// log or vote — a forwarded Propose or ReadIndex, a ReadIndexResponse, a HeartbeatResponse.
    /// Votes and vote and append responses promise durable state and wait in
    /// <see cref="MsgsAfterPersist"/>, as does everything else.
    /// </summary>
    private void Send(Message m)
    {
        if (m.From == None)
        {
            m = m with { From = Id };
        }

        if (m.Type is MessageType.Vote or MessageType.VoteResponse or MessageType.PreVote or MessageType.PreVoteResponse)
        {
            if (m.Term == 0)
            {
                throw new InvalidOperationException($"raft: term must be set on {m.Type}");
            }
        }
        else if (m.Type is not (MessageType.Propose or MessageType.ReadIndex))
        {
            m = m with { Term = Term };
        }

        // A leader's term is durable before it wins, except for a single voter, which wins at
        // once: its messages wait until the term is persisted, or a restart could reuse the term.
        if ((State == RaftRole.Leader && Term == PersistedTerm
                && m.Type is MessageType.Append or MessageType.Heartbeat or MessageType.Snapshot or MessageType.TimeoutNow)
            || m.Type is MessageType.Propose or MessageType.ReadIndex or MessageType.ReadIndexResponse or MessageType.HeartbeatResponse)
        {
            Msgs.Add(m);
        }
        else
        {
            MsgsAfterPersist.Add(m);
        }
    }

    /// <summary>Sends an Append (or a Snapshot when the entries are compacted). Returns whether anything was sent.</summary>
    private bool MaybeSendAppend(ulong to, bool sendIfEmpty)
    {
        var pr = Tracker.Progress[to];
        if (pr.IsPaused)
        {
            return false;
        }

        var prevIndex = pr.Next - 1;
        if (!Log.TryTerm(prevIndex, out var prevTerm) || !Log.TryEntries(pr.Next, _maxMsgSize, out var ents))
        {
            return MaybeSendSnapshot(to, pr);
        }

        if (ents.Count == 0 && !sendIfEmpty)
        {
            return false;
        }

        ulong bytes = 0;
        foreach (var e in ents)
        {
            bytes += LogSlice.SizeOf(e);
        }

        Send(new Message { Type = MessageType.Append, To = to, Index = prevIndex, LogTerm = prevTerm, Entries = ents, Commit = Log.Committed });
        pr.SentEntries(ents.Count, bytes, ents.Count > 0 ? ents[^1].Index : prevIndex);
        return true;
    }

    private void SendAppend(ulong to) => MaybeSendAppend(to, sendIfEmpty: true);

    private bool MaybeSendSnapshot(ulong to, Progress pr)
    {
        if (!pr.RecentActive)
        {
            return false;
        }

        var snapshot = Log.Snapshot();
        if (snapshot.IsEmpty)
        {
            throw new InvalidOperationException($"raft: {to} needs compacted entries but there is no snapshot");
        }

        Send(new Message { Type = MessageType.Snapshot, To = to, Snapshot = snapshot });
        pr.BecomeSnapshot(snapshot.Metadata.Index);
        return true;
    }

    private void SendHeartbeat(ulong to, ReadOnlyMemory<byte> ctx)
    {
        // Never tell a follower to commit past what it is known to hold.
        var commit = Math.Min(Tracker.Progress[to].Match, Log.Committed);
        Send(new Message { Type = MessageType.Heartbeat, To = to, Commit = commit, Context = ctx });
    }

    private void BroadcastAppend()
    {
        foreach (var id in Tracker.Progress.Keys.ToList())
        {
            if (id != Id)
            {
                SendAppend(id);
            }
        }
    }

    private void BroadcastHeartbeat(ReadOnlyMemory<byte> ctx)
    {
        foreach (var id in Tracker.Progress.Keys)
        {
            if (id != Id)
            {
                SendHeartbeat(id, ctx);
            }
        }
    }

    // ---------------------------------------------------------------- role changes

    private void Reset(ulong term)
    {
        if (Term != term)
        {
            Term = term;
            Vote = None;
        }

        Lead = None;
        _electionElapsed = 0;
        _heartbeatElapsed = 0;
        _randomizedElectionTimeout = _electionTimeout + _random.Next(_electionTimeout);
        LeadTransferee = None;
        Tracker.ResetVotes();
        var persisted = Math.Min(Log.LastIndex(), Log.LastPersistedIndex());
        foreach (var (id, pr) in Tracker.Progress.ToList())
        {
            var fresh = new Progress(Log.LastIndex() + 1, _maxInflight, 0, pr.IsLearner);
            if (id == Id)
            {
                fresh.Match = persisted;
            }

            Tracker.Progress[id] = fresh;
        }

        _pendingConfIndex = 0;
        _uncommittedSize = 0;
        _readOnly = new ReadOnlyQueue();
        _pendingReadIndex.Clear();
    }

    public void BecomeFollower(ulong term, ulong lead)
    {
        Reset(term);
        Lead = lead;
        State = RaftRole.Follower;
    }

    private void BecomePreCandidate()
    {
        if (State == RaftRole.Leader)
        {
            throw new InvalidOperationException("raft: invalid transition leader -> pre-candidate");
        }

        // A pre-candidate changes neither term nor vote.
        Tracker.ResetVotes();
        Lead = None;
        State = RaftRole.PreCandidate;
    }

    private void BecomeCandidate()
    {
        if (State == RaftRole.Leader)
        {
            throw new InvalidOperationException("raft: invalid transition leader -> candidate");
        }

        Reset(Term + 1);
        Vote = Id;
        State = RaftRole.Candidate;
    }

    private void BecomeLeader()
    {
        if (State == RaftRole.Follower)
        {
            throw new InvalidOperationException("raft: invalid transition follower -> leader");
        }

        Reset(Term);
        Lead = Id;
        State = RaftRole.Leader;
        var self = Tracker.Progress[Id];
        self.BecomeReplicate();
        self.RecentActive = true;

        // Entries of earlier terms may be conf changes not yet applied: allow no new one until
        // everything up to here is applied.
        _pendingConfIndex = Log.LastIndex();

        // An empty entry of the new term: committing it commits everything before it (Figure 8)
        // and lets ReadIndex be served.
        AppendEntries([new Entry(0, 0)]);
    }

    // ---------------------------------------------------------------- ticks

    public void Tick()
    {
        if (State == RaftRole.Leader)
        {
            TickHeartbeat();
        }
        else
        {
            TickElection();
        }
    }

    private void TickElection()
    {
        _electionElapsed++;
        if (Promotable && _electionElapsed >= _randomizedElectionTimeout)
        {
            _electionElapsed = 0;
            Hup(transfer: false);
        }
    }

    private void TickHeartbeat()
    {
        _heartbeatElapsed++;
        _electionElapsed++;
        if (_electionElapsed >= _electionTimeout)
        {
            _electionElapsed = 0;
            if (_checkQuorum)
            {
                CheckQuorum();
            }

            if (State == RaftRole.Leader && LeadTransferee != None)
            {
                // The transfer did not finish within an election timeout.
                LeadTransferee = None;
            }
        }

        if (State != RaftRole.Leader)
        {
            return;
        }

        if (_heartbeatElapsed >= _heartbeatTimeout)
        {
            _heartbeatElapsed = 0;
            BroadcastHeartbeat(_readOnly.LastPendingContext());
        }
    }

    private void CheckQuorum()
    {
        if (!Tracker.QuorumActive())
        {
            BecomeFollower(Term, None);
            return;
        }

        foreach (var (id, pr) in Tracker.Progress)
        {
            if (id != Id)
            {
                pr.RecentActive = false;
            }
        }
    }

    // ---------------------------------------------------------------- elections

    /// <summary>Starts an election if this member may (the local Hup message).</summary>
    public void Hup(bool transfer)
    {
        if (State == RaftRole.Leader || !Promotable || HasUnappliedConfChanges())
        {
            return;
        }

        if (transfer)
        {
            Campaign(preVote: false, transfer: true);
        }
        else
        {
            Campaign(preVote: _preVote, transfer: false);
        }
    }

    private bool HasUnappliedConfChanges()
    {
        if (Log.Committed <= Log.Applied)
        {
            return false;
        }

        try
        {
            return Log.Slice(Log.Applied + 1, Log.Committed + 1, ulong.MaxValue).Any(e => e.Type == EntryType.ConfChange);
        }
        catch (RaftStorageException)
        {
            return true;
        }
    }

    private void Campaign(bool preVote, bool transfer)
    {
        ulong term;
        MessageType voteType;
        if (preVote)
        {
            BecomePreCandidate();
            voteType = MessageType.PreVote;
            term = Term + 1; // the term this member would campaign for; not adopted yet
        }
        else
        {
            BecomeCandidate();
            voteType = MessageType.Vote;
            term = Term;
        }

        if (Poll(Id, voteType == MessageType.PreVote ? MessageType.PreVoteResponse : MessageType.VoteResponse, true) == VoteResult.Won)
        {
            // A single voter wins at once.
            if (preVote)
            {
                Campaign(preVote: false, transfer);
            }
            else
            {
                BecomeLeader();
                BroadcastAppend(); // learners
            }

            return;
        }

        foreach (var id in Tracker.Config.Voters)
        {
            if (id == Id)
            {
                continue;
            }

            Send(new Message
            {
                Type = voteType,
                To = id,
                Term = term,
                Index = Log.LastIndex(),
                LogTerm = Log.LastTerm(),
                Context = transfer ? CampaignTransferContext : ReadOnlyMemory<byte>.Empty,
            });
        }
    }

    private VoteResult Poll(ulong id, MessageType type, bool granted)
    {
        _ = type;
        Tracker.RecordVote(id, granted);
        return Tracker.TallyVotes().Result;
    }

    // ---------------------------------------------------------------- step

    /// <summary>Processes any message: from a peer, or a local one (term 0).</summary>
    public StepResult Step(Message m)
    {
        if (m.Term == 0)
        {
            // Local message or a forwarded request (Propose, ReadIndex).
        }
        else if (m.Term > Term)
        {
            if (m.Type is MessageType.Vote or MessageType.PreVote)
            {
                var force = m.Context.Span.SequenceEqual(CampaignTransferContext);
                var inLease = _checkQuorum && Lead != None && _electionElapsed < _electionTimeout;
                if (!force && inLease)
                {
                    // Leader lease: a leader was heard from within the minimum election timeout,
                    // so this campaign is disruptive (e.g. a member rejoining after a partition).
                    return new StepResult(StepStatus.Ignored, "vote request within the leader lease");
                }
            }

            if (m.Type == MessageType.PreVote)
            {
                // Never change term in response to a pre-vote.
            }
            else if (m.Type == MessageType.PreVoteResponse && !m.Reject)
            {
                // A granted pre-vote for our future term; the term changes when we campaign for real.
            }
            else if (m.Type is MessageType.Append or MessageType.Heartbeat or MessageType.Snapshot)
            {
                BecomeFollower(m.Term, m.From);
            }
            else
            {
                BecomeFollower(m.Term, None);
            }
        }
        else if (m.Term < Term)
        {
            if ((_checkQuorum || _preVote) && m.Type is MessageType.Heartbeat or MessageType.Append)
            {
                // A stale leader (e.g. after a partition): tell it about the newer term so it steps
                // down; with check-quorum or pre-vote nothing else would make it notice.
                Send(new Message { Type = MessageType.AppendResponse, To = m.From });
            }
            else if (m.Type == MessageType.PreVote)
            {
                Send(new Message { Type = MessageType.PreVoteResponse, To = m.From, Term = Term, Reject = true });
            }

            return new StepResult(StepStatus.Ignored, $"stale term {m.Term} < {Term}");
        }

        switch (m.Type)
        {
            case MessageType.Hup:
                Hup(transfer: false);
                return StepResult.Ok;
            case MessageType.Vote:
            case MessageType.PreVote:
                HandleVoteRequest(m);
                return StepResult.Ok;
            default:
                return State switch
                {
                    RaftRole.Leader => StepLeader(m),
                    RaftRole.Follower => StepFollower(m),
                    _ => StepCandidate(m),
                };
        }
    }

    private void HandleVoteRequest(Message m)
    {
        var canVote = Vote == m.From
            || (Vote == None && Lead == None)
            || (m.Type == MessageType.PreVote && m.Term > Term)
            || ((_bugs & RaftBugs.VoteTwiceInTerm) != 0 && m.Type == MessageType.Vote);
        var responseType = m.Type == MessageType.Vote ? MessageType.VoteResponse : MessageType.PreVoteResponse;
        if (canVote && Log.IsUpToDate(m.Index, m.LogTerm))
        {
            // The response carries the request's term (for a pre-vote: the future term), so the
            // candidate does not drop it as stale.
            Send(new Message { Type = responseType, To = m.From, Term = m.Term });
            if (m.Type == MessageType.Vote)
            {
                _electionElapsed = 0;
                Vote = m.From;
            }
        }
        else
        {
            // The rejection tells the candidate our commit index and its term: a candidate holding
            // that entry may commit it (log matching), which matters when the only member that
            // knew a configuration change was committed is the one it removed.
            Send(new Message
            {
                Type = responseType,
                To = m.From,
                Term = Term,
                Reject = true,
                Commit = Log.Committed,
                LogTerm = Log.ZeroTermOnError(Log.Committed),
            });
        }
    }

    private StepResult StepLeader(Message m)
    {
        switch (m.Type)
        {
            case MessageType.Beat:
                BroadcastHeartbeat(_readOnly.LastPendingContext());
                return StepResult.Ok;
            case MessageType.CheckQuorum:
                CheckQuorum();
                return StepResult.Ok;
            case MessageType.Propose:
                return ToStep(ProposeAsLeader(m.Entries));
            case MessageType.ReadIndex:
                ReadIndexAsLeader(m);
                return StepResult.Ok;
        }

        if (!Tracker.Progress.TryGetValue(m.From, out var pr))
        {
            return new StepResult(StepStatus.Ignored, $"no progress for {m.From}");
        }

        switch (m.Type)
        {
            case MessageType.AppendResponse:
                HandleAppendResponse(m, pr);
                break;
            case MessageType.HeartbeatResponse:
                HandleHeartbeatResponse(m, pr);
                break;
            case MessageType.SnapshotStatus:
                if (pr.State == ProgressState.Snapshot)
                {
                    // Either way, probe from where the follower now is; after a failure the pending
                    // snapshot is forgotten so the next probe may send another one.
                    if (m.Reject)
                    {
                        pr.BecomeSnapshot(0);
                    }

                    pr.BecomeProbe();
                    pr.FlowPaused = true;
                }

                break;
            case MessageType.Unreachable:
                if (pr.State == ProgressState.Replicate)
                {
                    pr.BecomeProbe();
                }

                break;
            case MessageType.TransferLeader:
                HandleTransferLeader(m.From, pr);
                break;
            default:
                return new StepResult(StepStatus.Ignored, $"leader ignores {m.Type}");
        }

        return StepResult.Ok;
    }

    private static StepResult ToStep(ProposeResult r) =>
        r.IsAccepted ? StepResult.Ok : new StepResult(StepStatus.Ignored, r.ToString());

    private void HandleAppendResponse(Message m, Progress pr)
    {
        pr.RecentActive = true;
        if (m.Reject)
        {
            var nextProbe = m.RejectHint;
            if (m.LogTerm > 0)
            {
                // Skip every entry of ours whose term is above the follower's term at the hint.
                nextProbe = Log.FindConflictByTerm(m.RejectHint, m.LogTerm).Index;
            }

            if (pr.MaybeDecrTo(m.Index, nextProbe))
            {
                if (pr.State == ProgressState.Replicate)
                {
                    pr.BecomeProbe();
                }

                SendAppend(m.From);
            }

            return;
        }

        var wasPaused = pr.IsPaused;
        if (!pr.MaybeUpdate(m.Index) && !(pr.Match == m.Index && pr.State == ProgressState.Probe))
        {
            return;
        }

        switch (pr.State)
        {
            case ProgressState.Probe:
                pr.BecomeReplicate();
                break;
            case ProgressState.Snapshot when pr.Match + 1 >= Log.FirstIndex():
                pr.BecomeProbe();
                pr.BecomeReplicate();
                break;
            case ProgressState.Snapshot when pr.Match >= pr.PendingSnapshot:
                // Installed, but the log was compacted further meanwhile: probe, which sends a newer snapshot.
                pr.BecomeProbe();
                break;
            case ProgressState.Replicate:
                pr.Inflights.FreeLE(m.Index);
                break;
        }

        if (MaybeCommit())
        {
            BroadcastAppend();
        }
        else if (wasPaused)
        {
            SendAppend(m.From);
        }

        // Fill the window: the response may have freed several slots.
        while (Tracker.Progress.ContainsKey(m.From) && MaybeSendAppend(m.From, sendIfEmpty: false))
        {
        }

        if (m.From == LeadTransferee && pr.Match == Log.LastIndex())
        {
            SendTimeoutNow(m.From);
        }
    }

    private void HandleHeartbeatResponse(Message m, Progress pr)
    {
        pr.RecentActive = true;
        pr.FlowPaused = false;
        if (pr.State == ProgressState.Replicate && pr.Inflights.Full && pr.Match < Log.LastIndex())
        {
            // The window stays full when Appends were lost: an entry-less Append outside the
            // window is either acknowledged (freeing the window) or rejected (back to Probe).
            if (Log.TryTerm(pr.Next - 1, out var prevTerm))
            {
                Send(new Message { Type = MessageType.Append, To = m.From, Index = pr.Next - 1, LogTerm = prevTerm, Commit = Log.Committed });
            }
            else
            {
                MaybeSendSnapshot(m.From, pr);
            }
        }
        else if (pr.Match < Log.LastIndex() || pr.State == ProgressState.Probe)
        {
            SendAppend(m.From);
        }

        if (m.Context.IsEmpty || _readOnly.RecvAck(m.From, m.Context) is not { } acks)
        {
            return;
        }

        if (Joint.Vote(Tracker.Config.Incoming, Tracker.Config.Outgoing, acks) != VoteResult.Won)
        {
            return;
        }

        foreach (var rs in _readOnly.Advance(m.Context))
        {
            RespondToReadIndex(rs.Request, rs.Index);
        }
    }

    private void HandleTransferLeader(ulong transferee, Progress pr)
    {
        if (pr.IsLearner)
        {
            return;
        }

        if (LeadTransferee != None)
        {
            if (LeadTransferee == transferee)
            {
                return;
            }

            LeadTransferee = None;
        }

        if (transferee == Id)
        {
            return;
        }

        // The transfer must finish within an election timeout (see TickHeartbeat).
        _electionElapsed = 0;
        LeadTransferee = transferee;
        if (pr.Match == Log.LastIndex())
        {
            SendTimeoutNow(transferee);
        }
        else
        {
            SendAppend(transferee);
        }
    }

    private void SendTimeoutNow(ulong to) => Send(new Message { Type = MessageType.TimeoutNow, To = to });

    private StepResult StepCandidate(Message m)
    {
        var myResponse = State == RaftRole.PreCandidate ? MessageType.PreVoteResponse : MessageType.VoteResponse;
        switch (m.Type)
        {
            case MessageType.Propose:
                return new StepResult(StepStatus.Ignored, "no leader");
            case MessageType.Append:
                BecomeFollower(m.Term, m.From);
                HandleAppend(m);
                return StepResult.Ok;
            case MessageType.Heartbeat:
                BecomeFollower(m.Term, m.From);
                HandleHeartbeat(m);
                return StepResult.Ok;
            case MessageType.Snapshot:
                BecomeFollower(m.Term, m.From);
                HandleSnapshot(m);
                return StepResult.Ok;
            case MessageType.TimeoutNow:
                return new StepResult(StepStatus.Ignored, "candidate ignores TimeoutNow");
        }

        if (m.Type != myResponse)
        {
            return new StepResult(StepStatus.Ignored, $"{State} ignores {m.Type}");
        }

        if (m.Reject && m.Commit > Log.Committed && Log.MatchTerm(m.Commit, m.LogTerm))
        {
            Log.CommitTo(m.Commit);
        }

        switch (Poll(m.From, m.Type, !m.Reject))
        {
            case VoteResult.Won:
                if (State == RaftRole.PreCandidate)
                {
                    Campaign(preVote: false, transfer: false);
                }
                else
                {
                    BecomeLeader();
                    BroadcastAppend();
                }

                break;
            case VoteResult.Lost:
                // A rejection carries the rejecter's term, which may be ahead (pre-vote).
                BecomeFollower(Term, None);
                break;
        }

        return StepResult.Ok;
    }

    private StepResult StepFollower(Message m)
    {
        switch (m.Type)
        {
            case MessageType.Propose:
                if (Lead == None)
                {
                    return new StepResult(StepStatus.Ignored, "no leader");
                }

                Send(m with { To = Lead, From = Id });
                return StepResult.Ok;
            case MessageType.Append:
                _electionElapsed = 0;
                Lead = m.From;
                HandleAppend(m);
                return StepResult.Ok;
            case MessageType.Heartbeat:
                _electionElapsed = 0;
                Lead = m.From;
                HandleHeartbeat(m);
                return StepResult.Ok;
            case MessageType.Snapshot:
                _electionElapsed = 0;
                Lead = m.From;
                HandleSnapshot(m);
                return StepResult.Ok;
            case MessageType.TransferLeader:
                if (Lead == None)
                {
                    return new StepResult(StepStatus.Ignored, "no leader to transfer from");
                }

                // From names the transferee; it is kept when forwarding.
                Send(m with { To = Lead });
                return StepResult.Ok;
            case MessageType.TimeoutNow:
                // The leader asks us to campaign now, skipping pre-vote and the leader lease.
                Hup(transfer: true);
                return StepResult.Ok;
            case MessageType.ReadIndex:
                if (Lead == None)
                {
                    return new StepResult(StepStatus.Ignored, "no leader");
                }

                Send(m with { To = Lead, From = Id });
                return StepResult.Ok;
            case MessageType.ReadIndexResponse:
                ReadStates.Add(new ReadState(m.Index, m.Context));
                return StepResult.Ok;
            default:
                return new StepResult(StepStatus.Ignored, $"follower ignores {m.Type}");
        }
    }

    // ---------------------------------------------------------------- follower handlers

    private void HandleAppend(Message m)
    {
        if (m.Index < Log.Committed)
        {
            Send(new Message { Type = MessageType.AppendResponse, To = m.From, Index = Log.Committed });
            return;
        }

        if (Log.TryAppend(m.Index, m.LogTerm, m.Commit, m.Entries, out var lastNew))
        {
            Send(new Message { Type = MessageType.AppendResponse, To = m.From, Index = lastNew });
            return;
        }

        // Reject, with a hint: the largest index at or below the leader's probe whose term is
        // at most the leader's term there. The leader can skip everything in between.
        var hintIndex = Math.Min(m.Index, Log.LastIndex());
        var (index, term) = Log.FindConflictByTerm(hintIndex, m.LogTerm);
        Send(new Message
        {
            Type = MessageType.AppendResponse,
            To = m.From,
            Index = m.Index,
            Reject = true,
            RejectHint = index,
            LogTerm = term,
        });
    }

    private void HandleHeartbeat(Message m)
    {
        Log.CommitTo(Math.Min(m.Commit, Log.LastIndex()));
        Send(new Message { Type = MessageType.HeartbeatResponse, To = m.From, Context = m.Context });
    }

    private void HandleSnapshot(Message m)
    {
        var snap = m.Snapshot ?? Snapshot.Empty;
        if (Restore(snap))
        {
            Send(new Message { Type = MessageType.AppendResponse, To = m.From, Index = Log.LastIndex() });
        }
        else
        {
            Send(new Message { Type = MessageType.AppendResponse, To = m.From, Index = Log.Committed });
        }
    }

    /// <summary>Installs a leader's snapshot unless it is stale or already covered by our log.</summary>
    private bool Restore(Snapshot s)
    {
        var meta = s.Metadata;
        if (s.IsEmpty || meta.Index <= Log.Committed)
        {
            return false;
        }

        if (State != RaftRole.Follower)
        {
            // Cannot happen (a snapshot comes from the leader of our term), but never install one otherwise.
            BecomeFollower(Term + 1, None);
            return false;
        }

        // This member need not be in the snapshot's configuration: one added after the snapshot
        // index installs it and then receives the entries that add it.
        var cs = meta.ConfState;
        if (Log.MatchTerm(meta.Index, meta.Term))
        {
            // We already hold the entries: just fast-forward the commit.
            Log.CommitTo(meta.Index);
            return false;
        }

        Log.Restore(s);
        Tracker.Config = new TrackerConfig();
        Tracker.Progress = [];
        RestoreConfig(cs);
        return true;
    }

    private void RestoreConfig(ConfState cs)
    {
        var cfg = TrackerConfig.From(cs);
        var prs = new SortedDictionary<ulong, Progress>();
        foreach (var id in cfg.Voters)
        {
            prs[id] = new Progress(Log.LastIndex() + 1, _maxInflight, 0, isLearner: false);
        }

        foreach (var id in cfg.Learners)
        {
            prs[id] = new Progress(Log.LastIndex() + 1, _maxInflight, 0, isLearner: true);
        }

        Tracker.Config = cfg;
        Tracker.Progress = prs;
        IsLearner = prs.TryGetValue(Id, out var self) && self.IsLearner;
    }

    // ---------------------------------------------------------------- proposals

    /// <summary>A local proposal: appended on a leader, forwarded by a follower that knows one.</summary>
    public ProposeResult Propose(IReadOnlyList<Entry> entries)
    {
        switch (State)
        {
            case RaftRole.Leader:
                return ProposeAsLeader(entries);
            case RaftRole.Follower when Lead != None:
                Send(new Message { Type = MessageType.Propose, To = Lead, Entries = entries });
                return ProposeResult.Accepted;
            default:
                return ProposeResult.NotLeader("raft: no leader");
        }
    }

    private ProposeResult ProposeAsLeader(IReadOnlyList<Entry> entries)
    {
        if (entries.Count == 0)
        {
            return ProposeResult.Dropped("raft: empty proposal");
        }

        if (!Tracker.Progress.ContainsKey(Id))
        {
            return ProposeResult.Dropped("raft: this member was removed from the configuration");
        }

        if (LeadTransferee != None)
        {
            return ProposeResult.Dropped($"raft: leadership transfer to {LeadTransferee} in progress");
        }

        var ents = entries.ToArray();
        for (var i = 0; i < ents.Length; i++)
        {
            if (ents[i].Type != EntryType.ConfChange)
            {
                continue;
            }

            if (!ConfChange.TryDecode(ents[i].Data.Span, out var cc, out var error))
            {
                return ProposeResult.Dropped(error!);
            }

            var reason = RefuseConfChange(cc!);
            if (reason is not null)
            {
                return ProposeResult.Dropped("raft: " + reason);
            }

            _pendingConfIndex = Log.LastIndex() + (ulong)i + 1;
        }

        if (!AppendEntries(ents))
        {
            return ProposeResult.Dropped("raft: too many uncommitted entries");
        }

        BroadcastAppend();
        return ProposeResult.Accepted;
    }

    /// <summary>Why a conf change may not be proposed now, or null.</summary>
    private string? RefuseConfChange(ConfChange cc)
    {
        if (_pendingConfIndex > Log.Applied)
        {
            return $"a configuration change is still pending (index {_pendingConfIndex}, applied {Log.Applied})";
        }

        var joint = Tracker.Config.IsJoint;
        if (joint && !cc.IsLeaveJoint)
        {
            return "must leave the joint configuration first";
        }

        if (!joint && cc.IsLeaveJoint)
        {
            return "not in a joint configuration";
        }

        var (_, _, error) = new ConfChanger(Tracker, Log.LastIndex(), _maxInflight, 0).Apply(cc);
        return error;
    }

    private bool AppendEntries(Entry[] ents)
    {
        var li = Log.LastIndex();
        ulong size = 0;
        for (var i = 0; i < ents.Length; i++)
        {
            ents[i] = ents[i] with { Term = Term, Index = li + 1 + (ulong)i };
            size += (ulong)ents[i].Data.Length;
        }

        if (_maxUncommittedSize > 0 && _uncommittedSize > 0 && size > 0 && _uncommittedSize + size > _maxUncommittedSize)
        {
            return false;
        }

        _uncommittedSize += size;
        Log.Append(ents);
        // The leader counts itself only when the driver reports these entries durable (Advance).
        return true;
    }

    /// <summary>Commits what a quorum (both halves in a joint configuration) holds, if it is of this term.</summary>
    private bool MaybeCommit()
    {
        ulong index;
        if ((_bugs & RaftBugs.CommitOnMinority) != 0)
        {
            index = Tracker.Config.Voters.Select(id => Tracker.Progress.TryGetValue(id, out var p) ? p.Match : 0).DefaultIfEmpty().Max();
        }
        else
        {
            index = Tracker.Committed();
        }

        if (!Log.MaybeCommit(index, Term))
        {
            return false;
        }

        ReleasePendingReadIndex();
        return true;
    }

    // ---------------------------------------------------------------- ReadIndex

    private bool CommittedEntryInCurrentTerm => Log.ZeroTermOnError(Log.Committed) == Term;

    public void ReadIndex(Message m)
    {
        if (State == RaftRole.Leader)
        {
            ReadIndexAsLeader(m);
        }
        else
        {
            Step(m);
        }
    }

    private void ReadIndexAsLeader(Message m)
    {
        if (!CommittedEntryInCurrentTerm)
        {
            // A new leader does not know the commit index of the previous term until it commits
            // an entry of its own: hold the request until then.
            _pendingReadIndex.Add(m);
            return;
        }

        if (Tracker.IsSingleton)
        {
            RespondToReadIndex(m, Log.Committed);
            return;
        }

        // Confirm leadership with a heartbeat round carrying the request's context.
        _readOnly.Add(Log.Committed, m);
        _readOnly.RecvAck(Id, m.Context);
        BroadcastHeartbeat(m.Context);
    }

    private void ReleasePendingReadIndex()
    {
        if (_pendingReadIndex.Count == 0 || !CommittedEntryInCurrentTerm)
        {
            return;
        }

        var pending = _pendingReadIndex.ToList();
        _pendingReadIndex.Clear();
        foreach (var m in pending)
        {
            ReadIndexAsLeader(m);
        }
    }

    private void RespondToReadIndex(Message request, ulong index)
    {
        if (request.From == None || request.From == Id)
        {
            ReadStates.Add(new ReadState(index, request.Context));
        }
        else
        {
            Send(new Message { Type = MessageType.ReadIndexResponse, To = request.From, Index = index, Context = request.Context });
        }
    }

    // ---------------------------------------------------------------- driver feedback

    /// <summary>The driver made entries up to (index, term) durable.</summary>
    public void OnPersisted(ulong index, ulong term)
    {
        if (!Log.StableTo(index, term))
        {
            return;
        }

        if (State == RaftRole.Leader && Tracker.Progress.TryGetValue(Id, out var self) && self.MaybeUpdate(index) && MaybeCommit())
        {
            BroadcastAppend();
        }
    }

    public void OnSnapshotPersisted(ulong index)
    {
        Log.StableSnapTo(index);
        Log.AppliedSnapshot(index);
    }

    /// <summary>The driver applied committed entries up to index.</summary>
    public void OnApplied(ulong index, ulong appliedBytes)
    {
        Log.AppliedTo(index);
        _uncommittedSize = appliedBytes >= _uncommittedSize ? 0 : _uncommittedSize - appliedBytes;

        if (State == RaftRole.Leader && Tracker.Config.AutoLeave && Tracker.Config.IsJoint && index >= _pendingConfIndex)
        {
            // The joint configuration is applied: leave it by ourselves.
            var leave = new Entry(0, 0, EntryType.ConfChange, ConfChange.LeaveJoint().Encode());
            if (AppendEntries([leave]))
            {
                _pendingConfIndex = Log.LastIndex();
                BroadcastAppend();
            }
        }
    }

    // ---------------------------------------------------------------- membership

    public ConfState ApplyConfChange(ConfChange cc)
    {
        var (cfg, prs, error) = new ConfChanger(Tracker, Log.LastIndex(), _maxInflight, 0).Apply(cc);
        if (error is not null)
        {
            // Every member refuses the same committed change the same way: configuration unchanged.
            return Tracker.Config.ToConfState();
        }

        Tracker.Config = cfg!;
        Tracker.Progress = prs!;
        var cs = cfg!.ToConfState();
        var inConfig = prs!.TryGetValue(Id, out var self);
        IsLearner = inConfig && self!.IsLearner;

        if (State is RaftRole.Candidate or RaftRole.PreCandidate && (!inConfig || IsLearner))
        {
            // A campaign started while this member could vote; removed (or demoted) now, it must
            // not win on the votes of the new configuration, where it has no progress to lead with.
            BecomeFollower(Term, None);
            return cs;
        }

        if (State != RaftRole.Leader)
        {
            return cs;
        }

        if (!inConfig || IsLearner)
        {
            // A removed (or demoted) leader steps down once the change is applied, after telling
            // the remaining members that the change is committed (they need it to elect a leader
            // of the new configuration).
            BroadcastAppend();
            BroadcastHeartbeat(ReadOnlyMemory<byte>.Empty);
            BecomeFollower(Term, None);
            return cs;
        }

        if (LeadTransferee != None && !cfg.Voters.Contains(LeadTransferee))
        {
            LeadTransferee = None;
        }

        // The quorum changed: something may be committed now; new members need probing.
        if (MaybeCommit())
        {
            BroadcastAppend();
        }
        else
        {
            foreach (var id in prs.Keys.ToList())
            {
                if (id != Id)
                {
                    MaybeSendAppend(id, sendIfEmpty: false);
                }
            }
        }

        return cs;
    }
}
