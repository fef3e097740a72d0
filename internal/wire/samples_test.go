package wire

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
)

// The samples: at least one message of every kind, with every field of the
// schema set somewhere. They are the round-trip cases and the fuzz seeds.

func stat(n int64) *Stat {
	return &Stat{
		Czxid: n, Mzxid: n + 1, Ctime: 1_700_000_000_000 + n, Mtime: 1_700_000_000_001 + n,
		Version: 3, Cversion: 4, Aversion: 5, EphemeralOwner: 0x1234_5678_9abc,
		DataLength: 100, NumChildren: 2, Pzxid: n + 2,
	}
}

func openACL() []*ACL { return []*ACL{{Perms: 31, Scheme: "world", Id: "anyone"}} }

func write(id, seq uint64, op isRequest_Op) *Request {
	return &Request{Id: id, Seq: seq, LowestUnackedSeq: seq, Op: op}
}

func sampleCreate() *Create {
	return &Create{
		Path: "/app/config", Data: bytes.Repeat([]byte{'x'}, 100), Acl: openACL(),
		Mode: CreateMode_CREATE_MODE_PERSISTENT,
	}
}

func sampleRequests() map[string]*Request {
	return map[string]*Request{
		"connect-new": {Id: 1, Op: &Request_Connect{Connect: &Connect{ProtocolVersion: 1, TimeoutMs: 10_000}}},
		"connect-resume": {Id: 1, Op: &Request_Connect{Connect: &Connect{
			ProtocolVersion: 1, SessionId: -0x7000_0000_0000_0001, Password: []byte("sixteen-byte-pwd"),
			TimeoutMs: 30_000, LastZxid: 1 << 40,
			Auth: []*AuthInfo{{Scheme: "digest", Auth: []byte("alice:secret")}},
			Watches: []*WatchRegistration{
				{Path: "/a", Kind: WatchKind_WATCH_KIND_DATA},
				{Path: "/b", Kind: WatchKind_WATCH_KIND_EXISTS},
				{Path: "/a", Kind: WatchKind_WATCH_KIND_CHILDREN},
				{Path: "/c", Kind: WatchKind_WATCH_KIND_PERSISTENT},
				{Path: "/", Kind: WatchKind_WATCH_KIND_PERSISTENT_RECURSIVE},
			},
		}}},
		"create":     write(2, 1, &Request_Create{Create: sampleCreate()}),
		"create-ttl": {Id: 3, Seq: 9, LowestUnackedSeq: 4, Op: &Request_Create{Create: &Create{Path: "/t/n-", Acl: []*ACL{{Perms: 1, Scheme: "digest", Id: "alice:X/8="}, {Perms: 31, Scheme: "auth"}}, Mode: CreateMode_CREATE_MODE_PERSISTENT_SEQUENTIAL_TTL, TtlMs: 1<<40 - 1, Parents: true}}},
		"create-eph": write(4, 2, &Request_Create{Create: &Create{Path: "/lock/n-", Acl: openACL(), Mode: CreateMode_CREATE_MODE_EPHEMERAL_SEQUENTIAL}}),
		"delete":     write(5, 3, &Request_Delete{Delete: &Delete{Path: "/a", Version: -1}}),
		"set-data":   write(6, 4, &Request_SetData{SetData: &SetData{Path: "/a", Data: []byte("v2"), Version: 7}}),
		"get-data":   {Id: 7, Op: &Request_GetData{GetData: &GetData{Path: "/a", Watch: true}}},
		"exists":     {Id: 8, Op: &Request_Exists{Exists: &Exists{Path: "/missing", Watch: true}}},
		"children":   {Id: 9, Op: &Request_GetChildren{GetChildren: &GetChildren{Path: "/", Watch: true}}},
		"ping":       {Id: 10, Op: &Request_Ping{Ping: &Ping{}}},
		"multi": write(11, 5, &Request_Multi{Multi: &Multi{Ops: []*MultiOp{
			{Op: &MultiOp_Check{Check: &Check{Path: "/a", Version: 7}}},
			{Op: &MultiOp_Create{Create: sampleCreate()}},
			{Op: &MultiOp_SetData{SetData: &SetData{Path: "/a", Data: []byte{0, 1, 2}, Version: -1}}},
			{Op: &MultiOp_Delete{Delete: &Delete{Path: "/b", Version: 0}}},
		}}}),
		"multi-empty": write(12, 6, &Request_Multi{Multi: &Multi{}}),
		"check":       write(13, 7, &Request_Check{Check: &Check{Path: "/a", Version: -1}}),
		"sync":        {Id: 14, Op: &Request_Sync{Sync: &Sync{Path: "/"}}},
		"read-multi": {Id: 15, Op: &Request_ReadMulti{ReadMulti: &ReadMulti{Ops: []*ReadOp{
			{Kind: ReadKind_READ_KIND_GET_DATA, Path: "/a"},
			{Kind: ReadKind_READ_KIND_GET_CHILDREN, Path: "/"},
			{Kind: ReadKind_READ_KIND_EXISTS, Path: "/b"},
		}}}},
		"set-acl":           write(16, 8, &Request_SetAcl{SetAcl: &SetACL{Path: "/a", Acl: openACL(), Version: 2}}),
		"get-acl":           {Id: 17, Op: &Request_GetAcl{GetAcl: &GetACL{Path: "/a"}}},
		"count-descendants": {Id: 18, Op: &Request_CountDescendants{CountDescendants: &CountDescendants{Path: "/"}}},
		"get-ephemerals":    {Id: 19, Op: &Request_GetEphemerals{GetEphemerals: &GetEphemerals{PathPrefix: "/lock"}}},
		"add-auth":          {Id: 20, Op: &Request_AddAuth{AddAuth: &AddAuth{Scheme: "digest", Auth: []byte("bob:pw")}}},
		"add-watch":         {Id: 21, Op: &Request_AddWatch{AddWatch: &AddWatch{Path: "/svc", Kind: WatchKind_WATCH_KIND_PERSISTENT_RECURSIVE}}},
		"remove-watches":    {Id: 22, Op: &Request_RemoveWatches{RemoveWatches: &RemoveWatches{Path: "/svc", Kinds: []WatchKind{WatchKind_WATCH_KIND_PERSISTENT_RECURSIVE, WatchKind_WATCH_KIND_DATA}}}},
		"remove-all":        {Id: 23, Op: &Request_RemoveWatches{RemoveWatches: &RemoveWatches{Path: "/svc"}}},
		"close-session":     {Id: ^uint64(0), Op: &Request_CloseSession{CloseSession: &CloseSession{}}},
	}
}

func resp(id uint64, code int32, res isResponse_Result) *ServerMessage {
	return &ServerMessage{Kind: &ServerMessage_Response{Response: &Response{Id: id, Code: code, Zxid: 1000 + id, Result: res}}}
}

func sampleServerMessages() map[string]*ServerMessage {
	return map[string]*ServerMessage{
		"connect": resp(1, 0, &Response_Connect{Connect: &ConnectResult{
			ProtocolVersion: 1, SessionId: 0x0102_0304_0506_0708, Password: []byte("sixteen-byte-pwd"),
			TimeoutMs: 10_000, MemberId: 3, ServerVersion: "arbor v0.1.0",
		}}),
		"create":         resp(2, 0, &Response_Create{Create: &CreateResult{Path: "/app/config", Stat: stat(1002)}}),
		"create-nonode":  resp(3, -101, nil),
		"delete":         resp(5, 0, nil),
		"set-data":       resp(6, 0, &Response_Stat{Stat: &StatResult{Stat: stat(1006)}}),
		"get-data":       resp(7, 0, &Response_GetData{GetData: &GetDataResult{Data: []byte("v2"), Stat: stat(7)}}),
		"get-data-empty": resp(7, 0, &Response_GetData{GetData: &GetDataResult{Stat: &Stat{}}}),
		"children":       resp(9, 0, &Response_GetChildren{GetChildren: &GetChildrenResult{Children: []string{"a", "b", "zookeeper"}, Stat: stat(9)}}),
		"children-none":  resp(9, 0, &Response_GetChildren{GetChildren: &GetChildrenResult{}}),
		"multi-ok": resp(11, 0, &Response_Multi{Multi: &MultiResult{Results: []*OpResult{
			{}, {Path: "/app/config", Stat: stat(1011)}, {Stat: stat(1011)}, {},
		}}}),
		"multi-failed": resp(11, -103, &Response_Multi{Multi: &MultiResult{Results: []*OpResult{
			{Code: 0}, {Code: -103}, {Code: -2}, {Code: -2},
		}}}),
		"read-multi": resp(15, 0, &Response_ReadMulti{ReadMulti: &ReadMultiResult{Results: []*ReadResult{
			{Data: []byte("x"), Stat: stat(1)}, {Children: []string{"a"}, Stat: stat(2)}, {Code: -101},
		}}}),
		"get-acl":           resp(17, 0, &Response_GetAcl{GetAcl: &GetACLResult{Acl: openACL(), Stat: stat(17)}}),
		"count-descendants": resp(18, 0, &Response_CountDescendants{CountDescendants: &CountDescendantsResult{Count: 1 << 33}}),
		"get-ephemerals":    resp(19, 0, &Response_GetEphemerals{GetEphemerals: &GetEphemeralsResult{Paths: []string{"/lock/n-0000000001"}}}),
		"auth-failed":       resp(20, -115, nil),
		"unattributable":    resp(0, -5, nil),
		"event": {Kind: &ServerMessage_Event{Event: &Event{
			Type: EventType_EVENT_TYPE_NODE_DATA_CHANGED, Path: "/a", Zxid: 1006,
			Kinds: []WatchKind{WatchKind_WATCH_KIND_DATA, WatchKind_WATCH_KIND_PERSISTENT_RECURSIVE},
		}}},
		"event-catch-up": {Kind: &ServerMessage_Event{Event: &Event{
			Type: EventType_EVENT_TYPE_NODE_DELETED, Path: "/b", Zxid: 1 << 40,
			Kinds: []WatchKind{WatchKind_WATCH_KIND_CHILDREN}, CatchUp: true,
		}}},
		"expired": {Kind: &ServerMessage_Notice{Notice: &Notice{Kind: NoticeKind_NOTICE_KIND_SESSION_EXPIRED, Code: -112, Reason: "session expired"}}},
		"goodbye": {Kind: &ServerMessage_Notice{Notice: &Notice{Kind: NoticeKind_NOTICE_KIND_GOODBYE, Code: -127, Reason: "send queue full"}}},
	}
}

// sampleNames returns the names of a sample map, sorted, for stable order.
func sampleNames[T any](m map[string]T) []string { return slices.Sorted(maps.Keys(m)) }

func mustEncode(b []byte, err error) []byte {
	if err != nil {
		panic(fmt.Sprintf("encode a sample: %v", err))
	}
	return b
}
