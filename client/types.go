package client

import (
	"strconv"
	"time"

	"github.com/arbor-coord/arbor/internal/wire"
)

// Stat is a node's metadata (docs/DATA-MODEL.md, "Stat").
type Stat struct {
	Czxid          int64     // zxid of the create
	Mzxid          int64     // zxid of the last data change (or the create)
	Pzxid          int64     // zxid of the last child create or delete
	Ctime          time.Time // leader time of the create
	Mtime          time.Time // leader time of the last data change
	Version        int32     // number of data changes
	Cversion       int32     // number of child creations plus deletions
	Aversion       int32     // number of ACL changes
	EphemeralOwner int64     // owning session of an ephemeral node, else 0
	DataLength     int32
	NumChildren    int32
}

func statFromWire(s *wire.Stat) Stat {
	if s == nil {
		return Stat{}
	}
	return Stat{
		Czxid: s.Czxid, Mzxid: s.Mzxid, Pzxid: s.Pzxid,
		Ctime: time.UnixMilli(s.Ctime), Mtime: time.UnixMilli(s.Mtime),
		Version: s.Version, Cversion: s.Cversion, Aversion: s.Aversion,
		EphemeralOwner: s.EphemeralOwner, DataLength: s.DataLength, NumChildren: s.NumChildren,
	}
}

// Perm is a set of ACL permissions.
type Perm int32

// The permissions of an ACL entry.
const (
	PermRead   Perm = 1
	PermWrite  Perm = 2
	PermCreate Perm = 4
	PermDelete Perm = 8
	PermAdmin  Perm = 16
	PermAll         = PermRead | PermWrite | PermCreate | PermDelete | PermAdmin
)

// ACL is one access control entry: Scheme "world" (ID "anyone"), "digest"
// (ID "user:base64(sha1(user:password))") or "auth" (every identity of the
// caller, in Create and SetACL only).
type ACL struct {
	Perms  Perm
	Scheme string
	ID     string
}

// WorldACL returns the one-entry ACL granting perms to everyone.
func WorldACL(perms Perm) []ACL { return []ACL{{Perms: perms, Scheme: "world", ID: "anyone"}} }

func aclToWire(acl []ACL) []*wire.ACL {
	out := make([]*wire.ACL, len(acl))
	for i, a := range acl {
		out[i] = &wire.ACL{Perms: int32(a.Perms), Scheme: a.Scheme, Id: a.ID}
	}
	return out
}

func aclFromWire(acl []*wire.ACL) []ACL {
	out := make([]ACL, len(acl))
	for i, a := range acl {
		out[i] = ACL{Perms: Perm(a.Perms), Scheme: a.Scheme, ID: a.Id}
	}
	return out
}

// Mode is a create mode, with ZooKeeper's numbers.
type Mode int32

// The create modes (docs/DATA-MODEL.md, "Create modes").
const (
	ModePersistent              = Mode(wire.CreateMode_CREATE_MODE_PERSISTENT)
	ModeEphemeral               = Mode(wire.CreateMode_CREATE_MODE_EPHEMERAL)
	ModePersistentSequential    = Mode(wire.CreateMode_CREATE_MODE_PERSISTENT_SEQUENTIAL)
	ModeEphemeralSequential     = Mode(wire.CreateMode_CREATE_MODE_EPHEMERAL_SEQUENTIAL)
	ModeContainer               = Mode(wire.CreateMode_CREATE_MODE_CONTAINER)
	ModePersistentTTL           = Mode(wire.CreateMode_CREATE_MODE_PERSISTENT_TTL)
	ModePersistentSequentialTTL = Mode(wire.CreateMode_CREATE_MODE_PERSISTENT_SEQUENTIAL_TTL)
)

func (m Mode) sequential() bool {
	return m == ModePersistentSequential || m == ModeEphemeralSequential || m == ModePersistentSequentialTTL
}

func (m Mode) ttl() bool { return m == ModePersistentTTL || m == ModePersistentSequentialTTL }

// EventType is what a watch event reports.
type EventType int32

// The event types, with ZooKeeper's numbers.
const (
	EventNodeCreated         = EventType(wire.EventType_EVENT_TYPE_NODE_CREATED)
	EventNodeDeleted         = EventType(wire.EventType_EVENT_TYPE_NODE_DELETED)
	EventNodeDataChanged     = EventType(wire.EventType_EVENT_TYPE_NODE_DATA_CHANGED)
	EventNodeChildrenChanged = EventType(wire.EventType_EVENT_TYPE_NODE_CHILDREN_CHANGED)
)

// String returns the type's name, e.g. "NodeCreated".
func (t EventType) String() string {
	switch t {
	case EventNodeCreated:
		return "NodeCreated"
	case EventNodeDeleted:
		return "NodeDeleted"
	case EventNodeDataChanged:
		return "NodeDataChanged"
	case EventNodeChildrenChanged:
		return "NodeChildrenChanged"
	}
	return "EventType(" + strconv.Itoa(int(t)) + ")"
}

// Event is a fired watch. Events carry no data: read the node to see it.
type Event struct {
	Type EventType
	// Path is the node that changed (for NodeChildrenChanged, the parent).
	Path string
	// Zxid is the zxid of the change.
	Zxid uint64
	// CatchUp marks an event the member derived on reconnect: it may stand
	// for several changes missed while the client was disconnected.
	CatchUp bool
}

// State is where the session stands.
type State int32

// The session states. Expired and Closed are final.
const (
	// StateDisconnected: no connection; the client is reconnecting and the
	// session may still be alive.
	StateDisconnected State = iota
	// StateConnected: a member has the session.
	StateConnected
	// StateExpired: the session is gone (the member said so, or the client
	// had no contact for the whole session timeout).
	StateExpired
	// StateClosed: Close ended the session.
	StateClosed
)

// String returns the state's name.
func (s State) String() string {
	switch s {
	case StateDisconnected:
		return "Disconnected"
	case StateConnected:
		return "Connected"
	case StateExpired:
		return "Expired"
	case StateClosed:
		return "Closed"
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}
