using Conclave.Testing.Etcd;

namespace Conclave.Api.Etcd.Tests;

/// <summary>The mask on etcdctl 3.4.23 output captured from a real etcd (ids from that run).</summary>
public sealed class EtcdOutputMaskTests
{
    // member id 0x0628170c800dbcee: etcdctl prints it unpadded (15 hex digits).
    private readonly EtcdOutputMask _mask = new(13455796455940752355, 443629905751424238);

    [Fact]
    public void Member_list_simple_and_json()
    {
        Assert.Equal(
            "<member-id>, started, default, http://127.0.0.1:<port>, http://127.0.0.1:<port>, false\n",
            _mask.Mask("628170c800dbcee, started, default, http://127.0.0.1:32380, http://127.0.0.1:32379, false\n"));
        Assert.Equal(
            """{"header":{"cluster_id":<cluster-id>,"member_id":<member-id>,"raft_term":"<raft-term>"},"members":[{"ID":<member-id>}]}""",
            _mask.Mask("""{"header":{"cluster_id":13455796455940752355,"member_id":443629905751424238,"raft_term":2},"members":[{"ID":443629905751424238}]}"""));
    }

    [Fact]
    public void Endpoint_status_simple_table_and_json()
    {
        Assert.Equal(
            "127.0.0.1:<port>, <member-id>, <version>, <db-size>, true, false, <raft-term>, <raft-index>, <raft-index>, \n",
            _mask.Mask("127.0.0.1:32379, 628170c800dbcee, 3.4.23, 20 kB, true, false, 2, 12, 12, \n"));
        Assert.Equal(
            "| 127.0.0.1:<port> | <member-id> | <version> | <db-size> |      true |      false | <raft-term> | <raft-index> | <raft-index> |        |",
            _mask.Mask("| 127.0.0.1:32379 | 628170c800dbcee |  3.4.23 |   20 kB |      true |      false |         2 |         12 |                 12 |        |"));
        Assert.Equal(
            """[{"Endpoint":"127.0.0.1:<port>","Status":{"header":{"cluster_id":<cluster-id>,"member_id":<member-id>,"revision":7,"raft_term":"<raft-term>"},"version":"<version>","dbSize":"<db-size>","leader":<member-id>,"raftIndex":"<raft-index>","raftTerm":"<raft-term>","raftAppliedIndex":"<raft-index>","dbSizeInUse":"<db-size>"}}]""",
            _mask.Mask("""[{"Endpoint":"127.0.0.1:32379","Status":{"header":{"cluster_id":13455796455940752355,"member_id":443629905751424238,"revision":7,"raft_term":2},"version":"3.4.23","dbSize":20480,"leader":443629905751424238,"raftIndex":12,"raftTerm":2,"raftAppliedIndex":12,"dbSizeInUse":16384}}]"""));
    }

    [Fact]
    public void Lease_ids_in_sentences_lists_and_key_values()
    {
        Assert.Equal("lease <lease-id> granted with TTL(60s)\n", _mask.Mask("lease 3ceea216185d1610 granted with TTL(60s)\n"));
        Assert.Equal("lease <lease-id> revoked\n", _mask.Mask("lease 3ceea216185d1617 revoked\n"));
        Assert.Equal("lease <lease-id> already expired\n", _mask.Mask("lease 3ceea216185d1617 already expired\n"));
        Assert.Equal("found 2 leases\n<lease-id>\n<lease-id>\n", _mask.Mask("found 2 leases\n3ceea216185d1610\n694d7a3e8b1c2a\n"));
        Assert.Equal(
            """{"kvs":[{"key":"eA==","version":1,"lease":"<lease-id>"}]}""",
            _mask.Mask("""{"kvs":[{"key":"eA==","version":1,"lease":4390624902514546210}]}"""));
    }

    [Fact]
    public void Keeps_revisions_keys_values_and_key_versions()
    {
        const string get = """{"header":{"cluster_id":13455796455940752355,"member_id":443629905751424238,"revision":3,"raft_term":2},"kvs":[{"key":"Zm9v","create_revision":2,"mod_revision":3,"version":2,"value":"YmFyMg=="}],"count":1}""";

        Assert.Equal(
            """{"header":{"cluster_id":<cluster-id>,"member_id":<member-id>,"revision":3,"raft_term":"<raft-term>"},"kvs":[{"key":"Zm9v","create_revision":2,"mod_revision":3,"version":2,"value":"YmFyMg=="}],"count":1}""",
            _mask.Mask(get));
        // Plain values that happen to look like hex or like numbers stay.
        Assert.Equal("foo\n1\nabc\n443629905751424239\n", _mask.Mask("foo\n1\nabc\n443629905751424239\n"));
    }

    [Fact]
    public void Drops_client_log_lines_and_health_latency()
    {
        const string stderr = """
            {"level":"warn","ts":"2026-11-26T04:23:58.715Z","caller":"clientv3/retry_interceptor.go:62","msg":"retrying of unary invoker failed","target":"endpoint://client-a6bc087d/127.0.0.1:32379","attempt":0,"error":"rpc error: code = OutOfRange desc = etcdserver: mvcc: required revision has been compacted"}
            Error: etcdserver: mvcc: required revision has been compacted

            """;

        Assert.Equal("Error: etcdserver: mvcc: required revision has been compacted\n", _mask.Mask(stderr));
        Assert.Equal(
            "127.0.0.1:<port> is healthy: successfully committed proposal: took = <duration>\n",
            _mask.Mask("127.0.0.1:32379 is healthy: successfully committed proposal: took = 899.224µs\n"));
    }

    [Fact]
    public void Two_servers_outputs_compare_equal_after_masking()
    {
        var other = new EtcdOutputMask(1, 0x00ab_cdef_0000_0001);

        Assert.Equal(
            _mask.Mask("628170c800dbcee, started, default, http://127.0.0.1:32380, http://127.0.0.1:32379, false\n"),
            other.Mask("abcdef00000001, started, default, http://127.0.0.1:41000, http://127.0.0.1:41001, false\n"));
    }

    [Fact]
    public void Header_ids_decode_from_a_range_response()
    {
        // RangeResponse{header{cluster_id=300, member_id=1, revision=5, raft_term=2}}
        byte[] response = [0x0a, 0x09, 0x08, 0xac, 0x02, 0x10, 0x01, 0x18, 0x05, 0x20, 0x02];

        Assert.Equal((300UL, 1UL), RealEtcd.ReadHeaderIds(response));
    }
}
