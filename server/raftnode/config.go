package raftnode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/arbor-coord/arbor/server/raftlog"
)

// Defaults for the zero values of Config (NOTES.md, "Typical knobs").
const (
	DefaultTickInterval        = 100 * time.Millisecond
	DefaultElectionTick        = 10
	DefaultHeartbeatTick       = 1
	DefaultMaxSizePerMsg       = 1 << 20
	DefaultMaxInflightMsgs     = 256
	DefaultMaxUncommittedBytes = 64 << 20
	DefaultMaxPendingProposals = 4096
	DefaultMaxPendingReads     = 4096
	DefaultMaxPendingMessages  = 4096
	DefaultSnapshotEntries     = 100_000
	DefaultSnapshotBytes       = 16 << 20
	DefaultCatchUpEntries      = 5000
)

// Transport sends raft messages to peers. server/transport implements it.
type Transport interface {
	// Send hands msgs to the peers they are addressed to. It is called from
	// the Ready loop, so it must not block: queue, drop on overload (raft
	// retransmits) and report unreachable peers later. It may keep msgs
	// and the messages in it; the Node does not touch them again.
	Send(msgs []*pb.Message)
}

// EntryType says what a committed Entry carries.
type EntryType int

const (
	// EntryNormal carries a proposal's data, or nothing: a new leader
	// appends an empty entry to commit its term.
	EntryNormal EntryType = iota
	// EntryConfChange carries a membership change (a marshaled raftpb
	// ConfChange or ConfChangeV2), which the Node has already applied to
	// raft and recorded with raftlog.SetConfState.
	EntryConfChange
)

// Entry is one committed raft log entry, as the Applier receives it. It is
// raftnode's own type so that the server, which may not import raft
// (internal/depcheck), can implement Applier.
type Entry struct {
	Index uint64
	Term  uint64
	Type  EntryType
	// Data is the proposal (nil for an empty entry). It must not be
	// modified; it may be retained.
	Data []byte
	// Changes are the membership changes of an EntryConfChange, with
	// their Contexts; none for the entry that leaves a joint
	// configuration. Nil for other entries.
	Changes []Change
	// Membership is the configuration after an EntryConfChange (unchanged
	// if raft could not apply the change); nil for other entries. Members
	// in it, or in VotersOutgoing of the entry before, are the peers to
	// keep a transport to.
	Membership *Membership
}

// Applier is the replicated state machine; the server implements it.
type Applier interface {
	// Apply applies committed entries, contiguous and in log order, each
	// exactly once in the life of a Node (after a restart, from
	// Config.Applied+1 on). Entries of every type come through, empty and
	// conf-change entries included, so the applier can record the applied
	// index of each; for a conf change the Node has already called raft's
	// ApplyConfChange and raftlog.SetConfState, and the applier only
	// records it. The applier should persist the index of the last entry
	// together with the state it produced (one batch), since that is what
	// the next Start gets as Config.Applied. What it writes need not be
	// durable when Apply returns: the log keeps the entries until Flush
	// says the state they produced is.
	//
	// Apply is called from the Ready loop: nothing else happens in raft
	// while it runs. ctx is cancelled when Stop is called. An error stops
	// the Node (Err reports it); an Apply that returns an error must not
	// have made any of its entries durably applied beyond the index it
	// persisted, so a restart re-applies exactly what is missing.
	Apply(ctx context.Context, entries []Entry) error
	// Checkpoint returns a consistent, read-only view of the state as of
	// the last applied entry, which stays readable while Apply goes on
	// (a Pebble snapshot). The Node calls it on the Ready loop when it
	// creates a raft snapshot, holds the view until a newer one replaces
	// it, and streams it to members too far behind for the log.
	Checkpoint() (Checkpoint, error)
	// Flush starts making the state as of the last applied entry durable
	// and returns a channel closed once it is. The Node calls it on the
	// Ready loop after it creates a raft snapshot, and compacts the log
	// behind that snapshot only once the channel is closed, since the
	// entries it drops are the only other copy of the state. An applier
	// whose state is durable when Apply returns returns a closed channel.
	Flush() (<-chan struct{}, error)
	// Restore replaces the whole state with the stream r, a Checkpoint's
	// Export received from a peer, whose applied index must be index (an
	// error otherwise). It is called on the Ready loop (or by Start,
	// finishing a restore a crash interrupted) when raft installs a
	// snapshot. Entries after index follow through Apply. An error stops
	// the Node; the state may then be partial, and Restore must be able
	// to run again over it on the next Start.
	Restore(ctx context.Context, index uint64, r io.Reader) error
}

// Checkpoint is the Applier's state at one applied index, held open.
type Checkpoint interface {
	// Index is the applied index of the state.
	Index() uint64
	// Export writes the state to w, in the stream format that Restore
	// reads. It may run several times, concurrently, and concurrently
	// with Apply.
	Export(w io.Writer) error
	// Close releases the view; the Node calls it once no Export runs.
	Close() error
}

// Config configures a Node. Zero values of the optional fields take the
// Default constants.
type Config struct {
	// ID is this member's raft id, non-zero, never reused.
	ID uint64
	// Peers are the ids of the voting members the cluster was created
	// with (its initial ConfState). They are used only when Log is empty
	// (the first start) and recorded in it; once the Log holds a
	// configuration it wins, since membership may have changed since
	// (Peers that disagree are logged and ignored; checking its own flags
	// is the caller's job). A founding member is among Peers; a member
	// that joins (Join) is not.
	Peers []uint64
	// PeerContexts are the Contexts of the members in Peers (the server
	// puts their peer addresses there), recorded with them on the first
	// start; see Membership.Contexts. Contexts of ids not in Peers are
	// ignored.
	PeerContexts map[uint64][]byte
	// Join starts a member that joins a running cluster: its Log is empty
	// and it is not among Peers. It does not campaign; it waits for the
	// leader, which added it (ProposeChange, as a learner first), to send
	// it the log. Raft replays the log from index 1, conf changes
	// included, so Peers must be the cluster's initial voters, as for the
	// founders; with Peers empty the member can only start from a
	// snapshot the leader sends, and stops with an error if it is sent
	// entries from index 1 instead. Join matters only when Log is empty.
	Join bool
	// Log is the member's raft storage. The Node is its only writer.
	Log *raftlog.Log
	// Applied is the index of the last entry the Applier has durably
	// applied (0 for a new member). Raft hands back only entries after it.
	// When it is past the Log's commit index (the Applier's store reached
	// the disk before the Log's unsynced commit record did), Start raises
	// the commit index to it.
	Applied uint64
	// Applier receives committed entries. Required.
	Applier Applier
	// Transport sends messages to peers. It may be nil only when this
	// member is the sole member of its cluster.
	Transport Transport

	// TickInterval is the duration of one raft tick.
	TickInterval time.Duration
	// ElectionTick is the election timeout in ticks (raft randomises it
	// within [ElectionTick, 2*ElectionTick)). Must exceed HeartbeatTick.
	ElectionTick int
	// HeartbeatTick is the leader's heartbeat interval in ticks.
	HeartbeatTick int
	// MaxSizePerMsg bounds the bytes of entries in one append message and
	// of committed entries handed to the Applier in one Ready.
	MaxSizePerMsg uint64
	// MaxInflightMsgs bounds the append messages in flight to one follower.
	MaxInflightMsgs int
	// MaxUncommittedBytes bounds the bytes of entries the leader holds
	// uncommitted; proposals beyond it are dropped (ErrProposalDropped).
	MaxUncommittedBytes uint64
	// MaxPendingProposals bounds the proposals queued for the Ready loop;
	// past it Propose waits (for its ctx).
	MaxPendingProposals int
	// MaxPendingReads bounds the ReadIndex calls queued for the Ready
	// loop; past it ReadIndex waits (for its ctx).
	MaxPendingReads int
	// MaxPendingMessages bounds the peer messages queued by Step; past it
	// Step waits (for its ctx).
	MaxPendingMessages int

	// SnapshotEntries is how many entries are applied between two raft
	// snapshots: each holds a Checkpoint of the state and, once the
	// Applier's Flush is done, lets the log be compacted.
	//
	// Each snapshot flushes the Applier's store, so the interval is also
	// the size of what the store flushes: a flush of a few thousand small
	// entries makes a table so small that merging it down rewrites far
	// more than it holds (docs/BENCHMARKS.md, "Snapshots further apart").
	// A longer interval keeps more log on disk. (A restart after a crash
	// applies again only what the store had not flushed, which its
	// memtable bounds whatever the interval.)
	SnapshotEntries uint64
	// SnapshotBytes bounds the entry data applied between two snapshots,
	// whichever of it and SnapshotEntries comes first: what makes a flush
	// worth its merge is its size in bytes, and a longer log costs disk
	// (and the zero-fill of its first segments) in bytes too.
	SnapshotBytes uint64
	// CatchUpEntries is how many entries the log keeps behind the latest
	// snapshot, so that a follower that lags by fewer catches up from the
	// log rather than by a snapshot.
	CatchUpEntries uint64
	// SnapshotDir is the directory where the states of snapshots received
	// from a leader are written before raft installs them. Required with
	// a Transport. It must survive restarts as the Log does: a member
	// that crashed while installing a snapshot restores from it on Start.
	SnapshotDir string
	// SnapshotFS is the filesystem of SnapshotDir; nil means the
	// operating system's.
	SnapshotFS vfs.FS

	// OnMembershipChange, if set, is called with the new membership each
	// time it changes: when a conf change is applied (before the Applier
	// gets its entry) and when a snapshot is installed (after the
	// Applier's Restore). It runs on the Ready loop: it must not block nor
	// call the Node. It is not called by Start: read Membership after it.
	OnMembershipChange func(Membership)

	// Logger receives the Node's and raft's log lines; nil discards them.
	Logger *slog.Logger
}

// withDefaults returns c with the zero values of optional fields replaced
// and checks what can be checked without the Log's contents.
func (c Config) withDefaults() (Config, error) {
	if c.ID == 0 {
		return c, errors.New("raftnode: Config.ID must be non-zero")
	}
	if c.Log == nil {
		return c, errors.New("raftnode: Config.Log is required")
	}
	if c.Applier == nil {
		return c, errors.New("raftnode: Config.Applier is required")
	}
	for i, p := range c.Peers {
		if p == 0 {
			return c, fmt.Errorf("raftnode: Config.Peers %v holds id 0", c.Peers)
		}
		if slices.Contains(c.Peers[:i], p) {
			return c, fmt.Errorf("raftnode: Config.Peers %v holds id %d twice", c.Peers, p)
		}
	}
	if len(c.Peers) > 0 && !c.Join && !slices.Contains(c.Peers, c.ID) {
		return c, fmt.Errorf("raftnode: Config.Peers %v does not hold Config.ID %d", c.Peers, c.ID)
	}
	if c.Join && slices.Contains(c.Peers, c.ID) {
		return c, fmt.Errorf("raftnode: Config.Join is set but Config.Peers %v, the initial voters, hold Config.ID %d", c.Peers, c.ID)
	}
	setDefault(&c.TickInterval, DefaultTickInterval)
	setDefault(&c.ElectionTick, DefaultElectionTick)
	setDefault(&c.HeartbeatTick, DefaultHeartbeatTick)
	setDefault(&c.MaxSizePerMsg, DefaultMaxSizePerMsg)
	setDefault(&c.MaxInflightMsgs, DefaultMaxInflightMsgs)
	setDefault(&c.MaxUncommittedBytes, DefaultMaxUncommittedBytes)
	setDefault(&c.MaxPendingProposals, DefaultMaxPendingProposals)
	setDefault(&c.MaxPendingReads, DefaultMaxPendingReads)
	setDefault(&c.MaxPendingMessages, DefaultMaxPendingMessages)
	setDefault(&c.SnapshotEntries, DefaultSnapshotEntries)
	setDefault(&c.SnapshotBytes, DefaultSnapshotBytes)
	setDefault(&c.CatchUpEntries, DefaultCatchUpEntries)
	if c.SnapshotFS == nil {
		c.SnapshotFS = vfs.Default
	}
	if c.Transport != nil && c.SnapshotDir == "" {
		return c, errors.New("raftnode: Config.SnapshotDir is required with a Transport (snapshots from a leader are received there)")
	}
	switch {
	case c.TickInterval < 0:
		return c, fmt.Errorf("raftnode: Config.TickInterval %v is negative", c.TickInterval)
	case c.HeartbeatTick < 0:
		return c, fmt.Errorf("raftnode: Config.HeartbeatTick %d is negative", c.HeartbeatTick)
	case c.ElectionTick <= c.HeartbeatTick:
		return c, fmt.Errorf("raftnode: Config.ElectionTick %d must exceed HeartbeatTick %d", c.ElectionTick, c.HeartbeatTick)
	case c.MaxInflightMsgs < 0:
		return c, fmt.Errorf("raftnode: Config.MaxInflightMsgs %d is negative", c.MaxInflightMsgs)
	case c.MaxPendingProposals < 0 || c.MaxPendingReads < 0 || c.MaxPendingMessages < 0:
		return c, errors.New("raftnode: Config.MaxPending* must not be negative")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}
