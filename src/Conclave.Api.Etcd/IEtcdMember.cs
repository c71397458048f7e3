using Conclave.Server.Api;
using Conclave.Server.Metrics;
using Conclave.Server.Watch;

namespace Conclave.Api.Etcd;

/// <summary>
/// What the etcd front end needs from a member: the server API plus the member's identity and watch
/// streams. The executable adapts a running member to it; tests use fakes.
/// </summary>
public interface IEtcdMember
{
    ulong ClusterId { get; }

    ulong MemberId { get; }

    /// <summary>The raft term this member is in now (put in headers the server API does not fill, e.g. watch responses).</summary>
    ulong RaftTerm { get; }

    IKeyValueApi KeyValue { get; }

    ILeaseApi Leases { get; }

    IClusterApi Cluster { get; }

    IMaintenanceApi Maintenance { get; }

    /// <summary>A new watch stream; the caller disposes it when the client's Watch call ends.</summary>
    WatchStream OpenWatchStream();

    /// <summary>The member's latency histograms for /metrics; null (the default) when it keeps none, e.g. a test fake.</summary>
    MemberMetrics? Metrics => null;
}
