using Conclave.Api.Etcd.Protocol;
using Conclave.Api.Etcd.Protocol.AuthPb;
using Conclave.Api.Etcd.Protocol.MvccPb;
using Conclave.Api.Etcd.Protocol.V3ElectionPb;
using Conclave.Api.Etcd.Protocol.V3LockPb;
using Google.Protobuf.Reflection;

namespace Conclave.Api.Etcd.Tests;

/// <summary>
/// The generated descriptors against a table looked up in etcd v3.6.14
/// (api/etcdserverpb/rpc.proto, api/mvccpb/kv.proto, api/authpb/auth.proto,
/// server/etcdserver/api/v3lock/v3lockpb/v3lock.proto,
/// server/etcdserver/api/v3election/v3electionpb/v3election.proto). Field lists are compared
/// whole, so a wrong, missing or extra field fails.
/// </summary>
public sealed class ProtocolDescriptorTests
{
    public static TheoryData<string, string> Messages => new()
    {
        { "etcdserverpb.ResponseHeader", "cluster_id=1:UInt64 member_id=2:UInt64 revision=3:Int64 raft_term=4:UInt64" },
        {
            "etcdserverpb.RangeRequest",
            "key=1:Bytes range_end=2:Bytes limit=3:Int64 revision=4:Int64 sort_order=5:Enum sort_target=6:Enum " +
            "serializable=7:Bool keys_only=8:Bool count_only=9:Bool min_mod_revision=10:Int64 max_mod_revision=11:Int64 " +
            "min_create_revision=12:Int64 max_create_revision=13:Int64"
        },
        { "etcdserverpb.RangeResponse", "header=1:Message kvs=2:Message[] more=3:Bool count=4:Int64" },
        {
            "etcdserverpb.PutRequest",
            "key=1:Bytes value=2:Bytes lease=3:Int64 prev_kv=4:Bool ignore_value=5:Bool ignore_lease=6:Bool"
        },
        { "etcdserverpb.PutResponse", "header=1:Message prev_kv=2:Message" },
        { "etcdserverpb.DeleteRangeRequest", "key=1:Bytes range_end=2:Bytes prev_kv=3:Bool" },
        { "etcdserverpb.DeleteRangeResponse", "header=1:Message deleted=2:Int64 prev_kvs=3:Message[]" },
        {
            "etcdserverpb.RequestOp",
            "request_range=1:Message request_put=2:Message request_delete_range=3:Message request_txn=4:Message"
        },
        {
            "etcdserverpb.ResponseOp",
            "response_range=1:Message response_put=2:Message response_delete_range=3:Message response_txn=4:Message"
        },
        {
            "etcdserverpb.Compare",
            "result=1:Enum target=2:Enum key=3:Bytes version=4:Int64 create_revision=5:Int64 mod_revision=6:Int64 " +
            "value=7:Bytes lease=8:Int64 range_end=64:Bytes"
        },
        { "etcdserverpb.TxnRequest", "compare=1:Message[] success=2:Message[] failure=3:Message[]" },
        { "etcdserverpb.TxnResponse", "header=1:Message succeeded=2:Bool responses=3:Message[]" },
        { "etcdserverpb.CompactionRequest", "revision=1:Int64 physical=2:Bool" },
        { "etcdserverpb.WatchRequest", "create_request=1:Message cancel_request=2:Message progress_request=3:Message" },
        {
            "etcdserverpb.WatchCreateRequest",
            "key=1:Bytes range_end=2:Bytes start_revision=3:Int64 progress_notify=4:Bool filters=5:Enum[] " +
            "prev_kv=6:Bool watch_id=7:Int64 fragment=8:Bool"
        },
        {
            "etcdserverpb.WatchResponse",
            "header=1:Message watch_id=2:Int64 created=3:Bool canceled=4:Bool compact_revision=5:Int64 " +
            "cancel_reason=6:String fragment=7:Bool events=11:Message[]"
        },
        { "etcdserverpb.LeaseGrantRequest", "TTL=1:Int64 ID=2:Int64" },
        { "etcdserverpb.LeaseGrantResponse", "header=1:Message ID=2:Int64 TTL=3:Int64 error=4:String" },
        { "etcdserverpb.LeaseKeepAliveResponse", "header=1:Message ID=2:Int64 TTL=3:Int64" },
        {
            "etcdserverpb.LeaseTimeToLiveResponse",
            "header=1:Message ID=2:Int64 TTL=3:Int64 grantedTTL=4:Int64 keys=5:Bytes[]"
        },
        { "etcdserverpb.LeaseCheckpoint", "ID=1:Int64 remaining_TTL=2:Int64" },
        {
            "etcdserverpb.Member",
            "ID=1:UInt64 name=2:String peerURLs=3:String[] clientURLs=4:String[] isLearner=5:Bool"
        },
        { "etcdserverpb.MemberListRequest", "linearizable=1:Bool" },
        { "etcdserverpb.MemberAddResponse", "header=1:Message member=2:Message members=3:Message[]" },
        {
            "etcdserverpb.StatusResponse",
            "header=1:Message version=2:String dbSize=3:Int64 leader=4:UInt64 raftIndex=5:UInt64 raftTerm=6:UInt64 " +
            "raftAppliedIndex=7:UInt64 errors=8:String[] dbSizeInUse=9:Int64 isLearner=10:Bool " +
            "storageVersion=11:String dbSizeQuota=12:Int64 downgradeInfo=13:Message"
        },
        { "etcdserverpb.AlarmRequest", "action=1:Enum memberID=2:UInt64 alarm=3:Enum" },
        { "etcdserverpb.HashKVResponse", "header=1:Message hash=2:UInt32 compact_revision=3:Int64 hash_revision=4:Int64" },
        { "etcdserverpb.SnapshotResponse", "header=1:Message remaining_bytes=2:UInt64 blob=3:Bytes version=4:String" },
        {
            "etcdserverpb.AuthUserAddRequest",
            "name=1:String password=2:String options=3:Message hashedPassword=4:String"
        },
        { "etcdserverpb.AuthRoleRevokePermissionRequest", "role=1:String key=2:Bytes range_end=3:Bytes" },
        { "etcdserverpb.AuthStatusResponse", "header=1:Message enabled=2:Bool authRevision=3:UInt64" },
        {
            "mvccpb.KeyValue",
            "key=1:Bytes create_revision=2:Int64 mod_revision=3:Int64 version=4:Int64 value=5:Bytes lease=6:Int64"
        },
        { "mvccpb.Event", "type=1:Enum kv=2:Message prev_kv=3:Message" },
        { "authpb.User", "name=1:Bytes password=2:Bytes roles=3:String[] options=4:Message" },
        { "authpb.Permission", "permType=1:Enum key=2:Bytes range_end=3:Bytes" },
        { "authpb.Role", "name=1:Bytes keyPermission=2:Message[]" },
        { "v3lockpb.LockRequest", "name=1:Bytes lease=2:Int64" },
        { "v3lockpb.LockResponse", "header=1:Message key=2:Bytes" },
        { "v3electionpb.LeaderKey", "name=1:Bytes key=2:Bytes rev=3:Int64 lease=4:Int64" },
        { "v3electionpb.CampaignRequest", "name=1:Bytes lease=2:Int64 value=3:Bytes" },
        { "v3electionpb.LeaderResponse", "header=1:Message kv=2:Message" },
    };

    [Theory]
    [MemberData(nameof(Messages))]
    public void Message_has_etcds_fields(string fullName, string expected)
    {
        var message = FindMessage(fullName);

        var actual = string.Join(' ', message.Fields.InFieldNumberOrder().Select(f =>
            $"{f.Name}={f.FieldNumber}:{f.FieldType}{(f.IsRepeated ? "[]" : "")}"));

        Assert.Equal(expected, actual);
    }

    public static TheoryData<string, string> Enums => new()
    {
        { "etcdserverpb.RangeRequest.SortOrder", "NONE=0 ASCEND=1 DESCEND=2" },
        { "etcdserverpb.RangeRequest.SortTarget", "KEY=0 VERSION=1 CREATE=2 MOD=3 VALUE=4" },
        { "etcdserverpb.Compare.CompareResult", "EQUAL=0 GREATER=1 LESS=2 NOT_EQUAL=3" },
        { "etcdserverpb.Compare.CompareTarget", "VERSION=0 CREATE=1 MOD=2 VALUE=3 LEASE=4" },
        { "etcdserverpb.WatchCreateRequest.FilterType", "NOPUT=0 NODELETE=1" },
        { "etcdserverpb.AlarmType", "NONE=0 NOSPACE=1 CORRUPT=2" },
        { "etcdserverpb.AlarmRequest.AlarmAction", "GET=0 ACTIVATE=1 DEACTIVATE=2" },
        { "etcdserverpb.DowngradeRequest.DowngradeAction", "VALIDATE=0 ENABLE=1 CANCEL=2" },
        { "mvccpb.Event.EventType", "PUT=0 DELETE=1" },
        { "authpb.Permission.Type", "READ=0 WRITE=1 READWRITE=2" },
    };

    [Theory]
    [MemberData(nameof(Enums))]
    public void Enum_has_etcds_values(string fullName, string expected)
    {
        var descriptor = AllFiles()
            .SelectMany(f => f.EnumTypes.Concat(AllMessages().SelectMany(m => m.EnumTypes)))
            .Distinct()
            .Single(e => e.FullName == fullName);

        Assert.Equal(expected, string.Join(' ', descriptor.Values.Select(v => $"{v.Name}={v.Number}")));
    }

    public static TheoryData<string, string> Services => new()
    {
        { "etcdserverpb.KV", "Range Put DeleteRange Txn Compact" },
        { "etcdserverpb.Watch", "Watch(bidi)" },
        { "etcdserverpb.Lease", "LeaseGrant LeaseRevoke LeaseKeepAlive(bidi) LeaseTimeToLive LeaseLeases" },
        { "etcdserverpb.Cluster", "MemberAdd MemberRemove MemberUpdate MemberList MemberPromote" },
        {
            "etcdserverpb.Maintenance",
            "Alarm Status Defragment Hash HashKV Snapshot(server-stream) MoveLeader Downgrade"
        },
        {
            "etcdserverpb.Auth",
            "AuthEnable AuthDisable AuthStatus Authenticate UserAdd UserGet UserList UserDelete UserChangePassword " +
            "UserGrantRole UserRevokeRole RoleAdd RoleGet RoleList RoleDelete RoleGrantPermission RoleRevokePermission"
        },
        { "v3lockpb.Lock", "Lock Unlock" },
        { "v3electionpb.Election", "Campaign Proclaim Leader Observe(server-stream) Resign" },
    };

    [Theory]
    [MemberData(nameof(Services))]
    public void Service_has_etcds_methods(string fullName, string expected)
    {
        var service = AllFiles().SelectMany(f => f.Services).Single(s => s.FullName == fullName);

        var actual = string.Join(' ', service.Methods.Select(m => m.Name + (m.IsClientStreaming, m.IsServerStreaming) switch
        {
            (true, true) => "(bidi)",
            (false, true) => "(server-stream)",
            (true, false) => "(client-stream)",
            _ => "",
        }));

        Assert.Equal(expected, actual);
    }

    [Fact]
    public void Request_and_response_types_match_etcd_for_every_method()
    {
        // Every rpc X takes XRequest and returns XResponse except these (etcd's names).
        var exceptions = new Dictionary<string, (string Input, string Output)>
        {
            ["etcdserverpb.KV.Compact"] = ("etcdserverpb.CompactionRequest", "etcdserverpb.CompactionResponse"),
            ["v3electionpb.Election.Observe"] = ("v3electionpb.LeaderRequest", "v3electionpb.LeaderResponse"),
        };
        foreach (var method in AllFiles().SelectMany(f => f.Services).SelectMany(s => s.Methods))
        {
            var key = $"{method.Service.FullName}.{method.Name}";
            var (input, output) = exceptions.TryGetValue(key, out var pair)
                ? pair
                : Defaults(method);
            Assert.Equal((key, input, output), (key, method.InputType.FullName, method.OutputType.FullName));
        }

        static (string, string) Defaults(MethodDescriptor method)
        {
            var package = method.File.Package;
            var stem = method.Service.FullName == "etcdserverpb.Auth" && method.Name.StartsWith("User", StringComparison.Ordinal)
                || method.Service.FullName == "etcdserverpb.Auth" && method.Name.StartsWith("Role", StringComparison.Ordinal)
                ? "Auth" + method.Name
                : method.Name;
            return ($"{package}.{stem}Request", $"{package}.{stem}Response");
        }
    }

    [Fact]
    public void Files_have_etcds_packages_and_no_extra_services()
    {
        Assert.Equal(
            ["etcdserverpb", "mvccpb", "authpb", "v3lockpb", "v3electionpb"],
            AllFiles().Select(f => f.Package));
        Assert.Equal(97, RpcReflection.Descriptor.MessageTypes.Count);
        Assert.Equal(
            ["etcdserverpb.KV", "etcdserverpb.Watch", "etcdserverpb.Lease", "etcdserverpb.Cluster",
             "etcdserverpb.Maintenance", "etcdserverpb.Auth", "v3lockpb.Lock", "v3electionpb.Election"],
            AllFiles().SelectMany(f => f.Services).Select(s => s.FullName));
    }

    [Fact]
    public void Generated_types_serialize_to_etcd_wire_bytes()
    {
        // RangeRequest{key="a", range_end="b", limit=1}: tags 0x0a, 0x12, 0x18 (fields 1, 2, 3).
        var range = new RangeRequest
        {
            Key = Google.Protobuf.ByteString.CopyFromUtf8("a"),
            RangeEnd = Google.Protobuf.ByteString.CopyFromUtf8("b"),
            Limit = 1,
        };
        Assert.Equal(Convert.FromHexString("0a01611201621801"), Google.Protobuf.MessageExtensions.ToByteArray(range));

        // Compare.range_end is field 64: tag (64 << 3 | 2) = 514 = varint 0x82 0x04.
        var compare = new Compare { RangeEnd = Google.Protobuf.ByteString.CopyFromUtf8("z") };
        Assert.Equal(Convert.FromHexString("8204017a"), Google.Protobuf.MessageExtensions.ToByteArray(compare));
    }

    private static FileDescriptor[] AllFiles() =>
    [
        RpcReflection.Descriptor,
        KvReflection.Descriptor,
        AuthReflection.Descriptor,
        V3LockReflection.Descriptor,
        V3ElectionReflection.Descriptor,
    ];

    private static MessageDescriptor FindMessage(string fullName) =>
        AllMessages().Single(m => m.FullName == fullName);

    private static IEnumerable<MessageDescriptor> AllMessages()
    {
        var pending = new Stack<MessageDescriptor>(AllFiles().SelectMany(f => f.MessageTypes));
        while (pending.TryPop(out var message))
        {
            yield return message;
            foreach (var nested in message.NestedTypes)
            {
                pending.Push(nested);
            }
        }
    }
}
