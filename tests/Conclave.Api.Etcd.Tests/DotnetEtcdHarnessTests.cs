using Conclave.Testing.Etcd;
using dotnet_etcd;

namespace Conclave.Api.Etcd.Tests;

/// <summary>The dotnet-etcd NuGet client against a real etcd.</summary>
public sealed class DotnetEtcdHarnessTests(RealEtcdFixture fixture) : IClassFixture<RealEtcdFixture>
{
    private readonly RealEtcd _etcd = fixture.Etcd;

    [EtcdFact]
    public async Task Put_get_and_lease()
    {
        using var client = new EtcdClient(_etcd.ClientUrl.ToString().TrimEnd('/'));

        await client.PutAsync("/dn/a", "value-a");
        var value = await client.GetValAsync("/dn/a");
        var lease = await client.LeaseGrantAsync(new Etcdserverpb.LeaseGrantRequest { TTL = 60 });
        await client.PutAsync(new Etcdserverpb.PutRequest
        {
            Key = Google.Protobuf.ByteString.CopyFromUtf8("/dn/leased"),
            Value = Google.Protobuf.ByteString.CopyFromUtf8("v"),
            Lease = lease.ID,
        });
        var ttl = await client.LeaseTimeToLiveAsync(new Etcdserverpb.LeaseTimeToLiveRequest { ID = lease.ID, Keys = true });

        Assert.Equal("value-a", value);
        Assert.Equal(60, lease.TTL);
        Assert.Equal(60, ttl.GrantedTTL);
        Assert.Equal(["/dn/leased"], ttl.Keys.Select(k => k.ToStringUtf8()));
    }
}
