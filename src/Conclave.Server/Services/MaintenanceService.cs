using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using Conclave.Server.Api;
using Conclave.Server.StateMachine;
using Conclave.Storage.Mvcc;

namespace Conclave.Server.Services;

/// <summary><see cref="IMaintenanceApi"/> on one member.</summary>
internal sealed class MaintenanceService(ConclaveMember member) : IMaintenanceApi
{
    private const int SnapshotChunkBytes = 64 * 1024;

    // How far the image writer may run ahead of a slow client before it waits (and resumes).
    private const int SnapshotPipePauseBytes = 4 * 1024 * 1024;
    private const int SnapshotPipeResumeBytes = 2 * 1024 * 1024;

    public async Task<ServerResult<MemberStatus>> StatusAsync(CancellationToken ct)
    {
        var raft = await member.RaftStatusAsync().WaitAsync(ct);
        var store = member.StateMachine.Store;
        var errors = member.StateMachine.Alarms
            .Select(a => $"memberID:{a.Member} alarm:{(a.Alarm == AlarmType.NoSpace ? "NOSPACE" : a.Alarm == AlarmType.Corrupt ? "CORRUPT" : "NONE")} ")
            .ToList();
        var status = new MemberStatus(
            ConclaveMember.EtcdVersion,
            store.UsedBytes,
            store.UsedBytes,
            raft.Lead,
            raft.Commit,
            raft.Term,
            raft.Applied,
            raft.ConfState.Learners.Contains(member.MemberId),
            errors);
        return new(ServerStatus.Ok, member.Header(), status);
    }

    public async Task<ServerResult<IReadOnlyList<(ulong MemberId, AlarmType Alarm)>>> AlarmAsync(AlarmAction? action, ulong memberId, AlarmType alarm, CancellationToken ct)
    {
        if (action is { } a)
        {
            var (status, _) = await member.ProposeAsync(new AlarmCommand(a, memberId, alarm), ct);
            if (status != ServerStatus.Ok)
            {
                return new(status, member.Header(), null);
            }
        }
        IReadOnlyList<(ulong, AlarmType)> alarms = member.StateMachine.Alarms
            .Where(x => action is not null || alarm == AlarmType.None || x.Alarm == alarm)
            .OrderBy(x => x.Member).ThenBy(x => x.Alarm)
            .ToList();
        return new(ServerStatus.Ok, member.Header(), alarms);
    }

    public Task<ServerResult<HashKVResult>> HashKVAsync(long revision, CancellationToken ct)
    {
        var r = member.StateMachine.Store.HashKV(revision);
        return Task.FromResult(new ServerResult<HashKVResult>(KeyValueService.FromMvcc(r.Status), member.Header(r.Revision), r));
    }

    /// <summary>
    /// The state machine image (the same bytes a raft snapshot holds). It is fixed on the loop, so
    /// it is consistent with what was applied, then written by a background thread into a pipe and
    /// streamed while it is written: the loop is not held up, and the image is never whole in memory.
    /// </summary>
    public async IAsyncEnumerable<ReadOnlyMemory<byte>> SnapshotAsync([EnumeratorCancellation] CancellationToken ct)
    {
        var begin = member.InvokeAsync(member.StateMachine.BeginSnapshot);
        StateSnapshotImage image;
        try
        {
            image = await begin.WaitAsync(ct);
        }
        catch (OperationCanceledException)
        {
            // The image may still be taken: release its pin then.
            _ = begin.ContinueWith(t => t.Result.Dispose(), CancellationToken.None, TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default);
            throw;
        }
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: SnapshotPipePauseBytes, resumeWriterThreshold: SnapshotPipeResumeBytes, useSynchronizationContext: false));
        var writing = Task.Factory.StartNew(() =>
        {
            try
            {
                using (var stream = pipe.Writer.AsStream(leaveOpen: true))
                {
                    image.WriteTo(stream);
                }
                pipe.Writer.Complete();
            }
            catch (Exception ex)
            {
                pipe.Writer.Complete(ex);
            }
            finally
            {
                image.Dispose();
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        try
        {
            while (true)
            {
                var read = await pipe.Reader.ReadAsync(ct);
                var buffer = read.Buffer;
                var chunks = new List<byte[]>();
                while (buffer.Length >= SnapshotChunkBytes || (read.IsCompleted && buffer.Length > 0))
                {
                    var n = (int)Math.Min(SnapshotChunkBytes, buffer.Length);
                    chunks.Add(buffer.Slice(0, n).ToArray());
                    buffer = buffer.Slice(n);
                }
                pipe.Reader.AdvanceTo(buffer.Start, buffer.End);
                foreach (var chunk in chunks)
                {
                    yield return chunk;
                }
                if (read.IsCompleted)
                {
                    break;
                }
            }
        }
        finally
        {
            // A consumer that stops early ends the writer: its next write finds the reader gone.
            await pipe.Reader.CompleteAsync();
            await writing;
        }
    }

    public Task<ServerResult<bool>> DefragmentAsync(CancellationToken ct) =>
        Task.FromResult(new ServerResult<bool>(ServerStatus.Ok, member.Header(), true));

    public async Task<ServerResult<bool>> MoveLeaderAsync(ulong targetMemberId, CancellationToken ct)
    {
        var raft = await member.RaftStatusAsync().WaitAsync(ct);
        if (raft.Role != Raft.RaftRole.Leader)
        {
            return new(ServerStatus.NotLeader, member.Header(), false);
        }
        if (!raft.ConfState.Voters.Contains(targetMemberId))
        {
            return new(ServerStatus.BadLeaderTransferee, member.Header(), false);
        }
        if (targetMemberId == member.MemberId)
        {
            return new(ServerStatus.Ok, member.Header(), true);
        }
        member.RequestLeaderTransfer(targetMemberId);
        var moved = await member.WaitForLeaderAsync(targetMemberId, ct);
        return new(moved ? ServerStatus.Ok : ServerStatus.Timeout, member.Header(), moved);
    }
}
