using Conclave.Server;
using Conclave.Server.Api;
using Conclave.Server.Metrics;
using Conclave.Server.Watch;

namespace Conclave.Api.Etcd;

/// <summary>A running <see cref="ConclaveMember"/> as the etcd front end sees it.</summary>
public sealed class ConclaveMemberFrontEnd(ConclaveMember member) : IEtcdMember
{
    public ulong ClusterId => member.ClusterId;

    public ulong MemberId => member.MemberId;

    public ulong RaftTerm => member.Term;

    public IKeyValueApi KeyValue => member.KeyValue;

    public ILeaseApi Leases => member.Leases;

    public IClusterApi Cluster => member.Cluster;

    public IMaintenanceApi Maintenance => member.Maintenance;

    public WatchStream OpenWatchStream() => member.Watches.OpenStream();

    public MemberMetrics? Metrics => member.Metrics;
}
