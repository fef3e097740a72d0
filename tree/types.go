package tree

import (
	"encoding/hex"

	"github.com/arbor-coord/arbor/internal/errcode"
)

// Perm is a set of ZooKeeper permission bits.
type Perm int32

// The permission bits, with ZooKeeper's values.
const (
	PermRead   Perm = 1 << 0
	PermWrite  Perm = 1 << 1
	PermCreate Perm = 1 << 2
	PermDelete Perm = 1 << 3
	PermAdmin  Perm = 1 << 4
	PermAll         = PermRead | PermWrite | PermCreate | PermDelete | PermAdmin
)

// The ACL schemes arbor understands.
const (
	SchemeWorld  = "world"  // ID "anyone": every caller
	SchemeDigest = "digest" // ID "user:base64(sha1(user:password))"
	SchemeAuth   = "auth"   // in a create or setACL only: every identity of the caller
	SchemeSuper  = "super"  // an identity only, never an ACL: bypasses every ACL check
)

// ACL is one access control entry: the permissions granted to the
// identities matched by Scheme and ID.
type ACL struct {
	Perms  Perm
	Scheme string
	ID     string
}

// OpenACL returns the ACL that grants every permission to everyone
// (ZooKeeper's OPEN_ACL_UNSAFE).
func OpenACL() []ACL { return []ACL{{PermAll, SchemeWorld, "anyone"}} }

// ReadACL returns the ACL that grants everyone READ only.
func ReadACL() []ACL { return []ACL{{PermRead, SchemeWorld, "anyone"}} }

// Identity is an authenticated identity of a caller, carried in every
// command so that ACLs are checked identically on every member.
type Identity struct {
	Scheme string
	ID     string
}

// Mode is a create mode, numbered as ZooKeeper's CreateMode.
type Mode uint8

// The create modes.
const (
	Persistent              Mode = 0
	Ephemeral               Mode = 1
	PersistentSequential    Mode = 2
	EphemeralSequential     Mode = 3
	Container               Mode = 4
	PersistentTTL           Mode = 5
	PersistentSequentialTTL Mode = 6
)

// Valid reports whether m is one of the create modes.
func (m Mode) Valid() bool { return m <= PersistentSequentialTTL }

// IsEphemeral reports whether nodes of mode m belong to a session.
func (m Mode) IsEphemeral() bool { return m == Ephemeral || m == EphemeralSequential }

// IsSequential reports whether m appends a sequence number to the name.
func (m Mode) IsSequential() bool {
	return m == PersistentSequential || m == EphemeralSequential || m == PersistentSequentialTTL
}

// IsTTL reports whether m is a TTL mode.
func (m Mode) IsTTL() bool { return m == PersistentTTL || m == PersistentSequentialTTL }

// MaxTTLMs is the largest TTL accepted, as in ZooKeeper (2^40-1 ms, about
// 34 years).
const MaxTTLMs = 1<<40 - 1

// Stat is a node's metadata, with ZooKeeper's exact meaning.
//
// Czxid, Mzxid and Pzxid are the indexes of the commands that created the
// node, last set its data, and last created or deleted one of its children
// (or created it). Version counts setData, Aversion counts setACL, and
// Cversion counts child creations plus child deletions, as ZooKeeper reports
// it. EphemeralOwner is the owning session of an ephemeral node and 0 for
// every other mode (ZooKeeper encodes container and TTL markers there; arbor
// does not).
type Stat struct {
	Czxid          int64
	Mzxid          int64
	Ctime          int64 // milliseconds since the Unix epoch, leader's clock
	Mtime          int64
	Version        int32
	Cversion       int32
	Aversion       int32
	EphemeralOwner int64
	DataLength     int32
	NumChildren    int32
	Pzxid          int64
}

// RequestID identifies a proposal: the member that received the request
// and its sequence there. The tree only carries it back in the Result.
type RequestID struct {
	Member uint64
	Seq    uint64
}

// Command is one replicated change to the tree, complete with everything
// that makes applying it deterministic.
type Command struct {
	ID RequestID
	// Session is the issuing session, or 0 for a sessionless command. A
	// non-zero session must be open when the command is applied, or the
	// command fails with SessionExpired.
	Session int64
	// TimeMs is the leader's clock when it stamped the command, in
	// milliseconds since the Unix epoch; it becomes ctime and mtime.
	TimeMs int64
	// Identities are the caller's authenticated identities, for ACL checks.
	Identities []Identity
	// System marks a command issued by arbor itself: it may change the
	// reserved /arbor subtree, it passes every ACL check (as ZooKeeper's
	// super user), and only it may Reap.
	System bool
	// Op is the change: *Create, *Delete, *SetData, *Check, *SetACL,
	// *Multi, *CreateSession, *CloseSession or *Reap.
	Op Op
	// Seq and LowestUnacked make a session's writes exactly-once (see
	// docs/PROTOCOL.md). Seq numbers the session's writes 1, 2, 3, ...; a
	// retried write keeps its Seq. LowestUnacked is the lowest Seq whose
	// result the client has not yet received (1 ≤ LowestUnacked ≤ Seq): the
	// session's results below it are forgotten. With Seq 0 (and for
	// sessionless commands) a command is applied as it comes.
	//
	// A command with a Seq the session has a recorded result for returns
	// that result (with no events) instead of applying again. Errors, before
	// anything else but SessionExpired: BadArguments (LowestUnacked 0 or
	// above Seq, Seq below the session's acknowledged watermark, Seq on a
	// session op), Throttled (Seq is MaxUnackedWrites or more above the
	// watermark). Every other outcome, failures included, is recorded.
	Seq           uint64
	LowestUnacked uint64
}

// MaxUnackedWrites bounds the results a session's record keeps: a write
// whose Seq is this far or further above the session's acknowledged
// watermark is refused with Throttled until the client acknowledges.
const MaxUnackedWrites = 1024

// Op is one of the operation types listed at Command.Op.
type Op interface{ isOp() }

// Create creates a node. Errors, in order of precedence: BadArguments (bad
// path, data over the limit, TTL given for a non-TTL mode or missing or out
// of range for a TTL mode, ephemeral without a session, invalid mode),
// InvalidACL (empty, malformed, unknown scheme, or "auth" with no caller
// identity), NoAuth (path in /arbor), NoNode (no parent, unless Parents),
// NoAuth (no CREATE on the parent), NodeExists, NoChildrenForEphemerals.
// With Parents, missing ancestors are created as persistent nodes with the
// same ACL (CREATE is checked on the deepest existing ancestor only); "/"
// always exists, so creating it is NodeExists.
type Create struct {
	Path    string
	Data    []byte
	ACL     []ACL
	Mode    Mode
	TTLMs   int64
	Parents bool
}

// Delete deletes a node. Version -1 matches any version. Errors: BadArguments
// (bad path, or "/"), NoAuth (in /arbor), NoNode, NoAuth (no DELETE on the
// parent), BadVersion, NotEmpty.
type Delete struct {
	Path    string
	Version int32
}

// SetData replaces a node's data. Errors: BadArguments (bad path, data over
// the limit), NoAuth (in /arbor), NoNode, NoAuth (no WRITE), BadVersion.
type SetData struct {
	Path    string
	Data    []byte
	Version int32
}

// Check asserts a node's version (-1: only that it exists); useful in a
// Multi. Errors: BadArguments, NoNode, NoAuth (no READ), BadVersion.
type Check struct {
	Path    string
	Version int32
}

// SetACL replaces a node's ACL; Version is matched against the aversion.
// Errors: BadArguments, InvalidACL, NoAuth (in /arbor), NoNode, NoAuth (no
// ADMIN), BadVersion.
type SetACL struct {
	Path    string
	ACL     []ACL
	Version int32
}

// Multi applies Create, Delete, SetData and Check ops atomically: all or
// nothing. On failure the Result's Code is the failing op's code and Ops
// holds, as in ZooKeeper, Ok for each op before the failing one (rolled
// back), the failing op's code, and RuntimeInconsistency for each op after
// it. Any other op type fails the multi with BadArguments at its position.
type Multi struct {
	Ops []Op
}

// CreateSession records a new session. Errors: BadArguments (ID 0, ID
// already in use, TimeoutMs ≤ 0).
type CreateSession struct {
	ID             int64
	TimeoutMs      int32
	PasswordDigest []byte
}

// CloseSession ends a session (closed by its client, or Expired by the
// leader) and deletes its ephemeral nodes in the same apply, in path order.
// Errors: SessionExpired (no such session).
type CloseSession struct {
	ID      int64
	Expired bool
}

// Reap deletes a container or TTL node that is still a deletion candidate
// at the command's time (see Tree.DeletionCandidates). Only System commands
// may reap. Errors: NoAuth (not System), BadArguments (bad path or not a
// container/TTL node), NoNode, NotEmpty (it has children), BadVersion (it is
// no longer a candidate: a container that never had a child, or a TTL node
// modified within its TTL).
type Reap struct {
	Path string
}

func (*Create) isOp()        {}
func (*Delete) isOp()        {}
func (*SetData) isOp()       {}
func (*Check) isOp()         {}
func (*SetACL) isOp()        {}
func (*Multi) isOp()         {}
func (*CreateSession) isOp() {}
func (*CloseSession) isOp()  {}
func (*Reap) isOp()          {}

// Entry is one committed log entry to apply: its index (the zxid of every
// change it makes) and its command, or nil for an entry that only advances
// the applied index (a Raft no-op or configuration change).
type Entry struct {
	Index uint64
	Cmd   *Command
}

// OpResult is the outcome of one op. Path is the created path (with its
// sequence suffix) for Create; Stat is the node's new Stat for Create,
// SetData and SetACL.
type OpResult struct {
	Code errcode.Code
	Path string
	Stat Stat
}

// Result is the outcome of applying one Entry. Code is errcode.Ok when the
// command changed the tree; any other code means it changed nothing.
// "Applied with NoNode" is a success of replication and an error for the
// client.
type Result struct {
	Index uint64
	ID    RequestID
	OpResult
	// Ops holds the per-op results of a Multi.
	Ops []OpResult
	// Events are the watch events the command caused, in order.
	Events []Event
}

// EventType is a watch event type, numbered as ZooKeeper's.
type EventType int32

// The event types.
const (
	NodeCreated         EventType = 1
	NodeDeleted         EventType = 2
	NodeDataChanged     EventType = 3
	NodeChildrenChanged EventType = 4
)

func (t EventType) String() string {
	switch t {
	case NodeCreated:
		return "NodeCreated"
	case NodeDeleted:
		return "NodeDeleted"
	case NodeDataChanged:
		return "NodeDataChanged"
	case NodeChildrenChanged:
		return "NodeChildrenChanged"
	}
	return "EventType(?)"
}

// Event is a change a watcher may be told about. ACL is the ACL of the node
// at Path when the event happened (before its deletion, for NodeDeleted), so
// that the event can be delivered only to sessions allowed to READ it; it is
// shared and must not be modified.
type Event struct {
	Type EventType
	Path string
	Zxid int64
	ACL  []ACL
}

// Session is the replicated record of an open session. LowestUnacked is
// the highest acknowledgement its writes have carried (see Command.Seq).
type Session struct {
	ID             int64
	TimeoutMs      int32
	PasswordDigest []byte
	LowestUnacked  uint64
}

// ReadKind selects a read in a ReadMulti.
type ReadKind uint8

// The reads a ReadMulti can contain.
const (
	ReadGet      ReadKind = 1
	ReadChildren ReadKind = 2
	ReadExists   ReadKind = 3
)

// ReadOp is one read of a ReadMulti.
type ReadOp struct {
	Kind ReadKind
	Path string
}

// ReadResult is the outcome of one ReadOp: Data for ReadGet, Children for
// ReadChildren, and the node's Stat for all three.
type ReadResult struct {
	Code     errcode.Code
	Data     []byte
	Children []string
	Stat     Stat
}

// Digest identifies the exact state of a tree at an applied index: two
// trees with equal digests hold byte-for-byte the same state.
type Digest struct {
	Index uint64
	Sum   [32]byte
}

func (d Digest) String() string {
	return hex.EncodeToString(d.Sum[:8]) + "@" + uitoa(d.Index)
}

func uitoa(v uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			return string(b[i:])
		}
	}
}
