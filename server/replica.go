package server

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/arbor-coord/arbor/internal/errcode"
	"github.com/arbor-coord/arbor/internal/storage"
	"github.com/arbor-coord/arbor/server/raftlog"
	"github.com/arbor-coord/arbor/server/raftnode"
	"github.com/arbor-coord/arbor/server/transport"
	"github.com/arbor-coord/arbor/tree"
)

// replicaConfig configures a replica.
type replicaConfig struct {
	dir        string
	fs         vfs.FS // nil: the operating system's
	cacheBytes int64
	// memberID and cluster are the member's id and its cluster's peer
	// addresses as configured (zero: as stored; see resolveMember).
	memberID uint64
	cluster  Cluster
	// peerListen is the peer address to bind, if not the member's own
	// address in its cluster (Config.PeerListen).
	peerListen string
	join       bool // a new member that joins a running cluster
	// transport carries Raft and member messages to the peers; nil means
	// a TCP transport on the member's peer address, for a member of a
	// cluster (none for a member alone).
	transport transport.Transport
	tree      tree.Options
	tick      time.Duration // 0: raftnode's default
	// snapshotEntries and catchUpEntries are raftnode's SnapshotEntries
	// and CatchUpEntries (0: its defaults).
	snapshotEntries, catchUpEntries uint64
	// view, if set, is write-locked while each run is applied and
	// observed, so that readers holding it read-locked see a state whose
	// events have all been handed on.
	view *sync.RWMutex
	// observe, if set, sees each applied run (see stateMachine.observe).
	observe func(batch []tree.Entry, results []tree.Result)
	// restored, if set, is called after a snapshot replaced the state
	// (see stateMachine.restored).
	restored func()
	logger   *slog.Logger
	now      func() time.Time // nil: time.Now
}

// replica is one member's replicated state: its Pebble database, the tree
// in it, the Raft log beside it, and the Raft node that feeds the tree.
type replica struct {
	db    *pebble.DB
	tree  *tree.Tree
	log   *raftlog.Log
	node  *raftnode.Node
	sm    *stateMachine
	waits *waitRegistry
	// applied lets reads wait for an index (see appliedIndex).
	applied *appliedIndex
	// startCommit is the commit index the log held when the replica
	// opened. The store keeps no WAL, so after a crash the state may be
	// older than what was committed (and acknowledged) before it: clients
	// are served once the replica has applied the log up to here again.
	startCommit uint64
	// transport is nil for a member alone.
	transport transport.Transport
	logger    *slog.Logger
	id        uint64
	member    memberRecord
	seq       atomic.Uint64
	// reproposedTerm is the last term reproposeStale handled (its
	// goroutine only).
	reproposedTerm uint64
	now            func() time.Time

	// peerMu guards peers, the ids the transport was given (SetPeer),
	// and seenSelf, whether this member has been in the configuration.
	peerMu   sync.Mutex
	peers    map[uint64]bool
	seenSelf bool
	// removed is closed once this member sees itself removed from the
	// cluster's configuration.
	removed     chan struct{}
	removedOnce sync.Once
}

// openReplica opens (or creates) the member's store and starts its Raft
// node, resuming after the last durably applied entry. A sole member
// elects itself before openReplica returns. cfg.transport becomes the
// replica's, closed with it; it is closed at once if openReplica fails or
// the member is alone.
func openReplica(cfg replicaConfig) (*replica, error) {
	r, err := openReplicaStore(cfg)
	if cfg.transport != nil && (err != nil || r.transport == nil) {
		err = errors.Join(err, cfg.transport.Close())
	}
	return r, err
}

func openReplicaStore(cfg replicaConfig) (*replica, error) {
	db, err := storage.Open(cfg.dir, storage.Options{FS: cfg.fs, CacheBytes: cfg.cacheBytes, Logger: cfg.logger})
	if err != nil {
		return nil, err
	}
	r := &replica{db: db, waits: newWaitRegistry(), now: cfg.now, removed: make(chan struct{})}
	if r.now == nil {
		r.now = time.Now
	}
	if r.member, err = resolveMember(db, Config{ID: cfg.memberID, Cluster: cfg.cluster, Join: cfg.join}); err != nil {
		db.Close()
		return nil, err
	}
	r.id = r.member.ID
	r.logger = cfg.logger
	if r.logger == nil {
		r.logger = slog.New(slog.DiscardHandler)
	}
	var seed [8]byte
	if _, err := rand.Read(seed[:]); err != nil {
		db.Close()
		return nil, fmt.Errorf("request id seed: %w", err)
	}
	// The top bit stays clear so the sequence cannot wrap in practice.
	r.seq.Store(binary.BigEndian.Uint64(seed[:]) >> 1)
	fail := func(err error) (*replica, error) {
		r.closeStore()
		return nil, err
	}
	// A tree left partial by an interrupted snapshot restore opens, for
	// raftnode.Start to finish the restore from the received state.
	treeOpts := cfg.tree
	treeOpts.AllowIncompleteImport = true
	if r.tree, err = tree.Open(db, treeOpts); err != nil {
		return fail(err)
	}
	fs := cfg.fs
	if fs == nil {
		fs = vfs.Default
	}
	// The raft log's segment files, beside the store.
	if r.log, err = raftlog.Open(db, fs.PathJoin(cfg.dir, "raft"), raftlog.Options{FS: fs, Logger: r.logger}); err != nil {
		return fail(err)
	}
	if r.tree.Incomplete() {
		// Only a snapshot that the log holds past the applied state can
		// complete the tree (raftnode restores it in Start).
		if first, err := r.log.FirstIndex(); err != nil || first <= 1 {
			return fail(fmt.Errorf("%w, and the raft log holds no snapshot to restore it from", tree.ErrIncompleteImport))
		}
	}
	r.applied = newAppliedIndex(r.tree.Applied())
	hs, _, err := r.log.InitialState()
	if err != nil {
		return fail(err)
	}
	r.startCommit = hs.GetCommit()
	// A member started with a cluster (even of one) has a transport, so
	// that members can be added to it.
	if len(r.member.Cluster) > 0 {
		r.transport = cfg.transport
		if r.transport == nil {
			// The current peers are raft's (stored with its
			// configuration); on a first start, the founders.
			peers := maps.Clone(r.member.founders())
			if stored := contextsCluster(r.log.Contexts()); len(stored) > 0 {
				peers = stored
			}
			delete(peers, r.id)
			listen := cfg.peerListen
			if listen == "" {
				listen = r.member.Cluster[r.id]
			}
			tcp, err := transport.NewTCP(transport.TCPConfig{
				ID:        r.id,
				ClusterID: r.member.clusterID(),
				Listen:    listen,
				Peers:     peers,
				Logger:    r.logger.With("component", "transport"),
			})
			if err != nil {
				return fail(fmt.Errorf("peer transport: %w", err))
			}
			r.transport = tcp
		}
		r.transport.Handle(r.handlePeerMessage)
	}
	if r.transport != nil && r.transport != cfg.transport {
		fail = func(err error) (*replica, error) {
			r.closeStore()
			return nil, errors.Join(err, r.transport.Close())
		}
	}
	r.sm = &stateMachine{tree: r.tree, waits: r.waits, view: cfg.view, observe: cfg.observe, restored: cfg.restored, applied: r.applied}
	r.node, err = raftnode.Start(raftnode.Config{
		ID:                 r.id,
		Peers:              r.member.peers(),
		PeerContexts:       r.member.peerContexts(),
		Join:               r.member.Join,
		OnMembershipChange: r.membershipChanged,
		Log:                r.log,
		Transport:          r.transport,
		Applied:            r.tree.Applied(),
		Applier:            r.sm,
		TickInterval:       cfg.tick,
		Logger:             cfg.logger,
		// The states of snapshots received from a leader, beside the
		// store, on the same filesystem.
		SnapshotDir:     fs.PathJoin(cfg.dir, "snap"),
		SnapshotFS:      fs,
		SnapshotEntries: cfg.snapshotEntries,
		CatchUpEntries:  cfg.catchUpEntries,
	})
	if err != nil {
		return fail(err)
	}
	if r.transport != nil {
		r.transport.Start(r.node)
	}
	r.membershipChanged(r.node.Membership())
	return r, nil
}

// contextsCluster reads raft's member contexts as peer addresses.
func contextsCluster(ctxs map[uint64][]byte) Cluster {
	c := make(Cluster, len(ctxs))
	for id, addr := range ctxs {
		c[id] = string(addr)
	}
	return c
}

// peerSetter is what a transport that dials its peers by address
// offers (transport.TCP); the in-memory one needs no addresses.
type peerSetter interface {
	SetPeer(id uint64, addr string)
	RemovePeer(id uint64)
}

// membershipChanged brings the transport's peers in line with m, and
// notes this member's removal. It runs on raftnode's Ready loop (and once
// after Start): it must not block.
func (r *replica) membershipChanged(m raftnode.Membership) {
	members := m.Members()
	r.peerMu.Lock()
	defer r.peerMu.Unlock()
	if slices.Contains(members, r.id) {
		r.seenSelf = true
	} else if len(members) > 0 && (!r.member.Join || r.seenSelf) {
		// A member that joins is not in the configuration until the
		// leader adds it: only once it has been is its absence a removal.
		r.removedOnce.Do(func() {
			r.logger.Warn("removed from the cluster: this member is no longer in its configuration; shutting down", "member", r.id, "voters", m.Voters, "learners", m.Learners)
			close(r.removed)
		})
	}
	ps, ok := r.transport.(peerSetter)
	if !ok {
		return
	}
	if r.peers == nil {
		r.peers = make(map[uint64]bool)
	}
	for id, addr := range m.Contexts {
		if id != r.id {
			ps.SetPeer(id, string(addr))
			r.peers[id] = true
		}
	}
	for id := range r.peers {
		if !slices.Contains(members, id) {
			ps.RemovePeer(id)
			delete(r.peers, id)
		}
	}
}

// removedFromCluster is closed once this member was removed from the
// cluster's configuration.
func (r *replica) removedFromCluster() <-chan struct{} { return r.removed }

// pending is a proposed command whose result has not yet been applied.
type pending struct {
	id     tree.RequestID
	result <-chan tree.Result
}

// propose replicates cmd and returns its result once applied here. It
// stamps the command's request id and time. A command the codec refuses
// is BadArguments; a proposal that is not applied before ctx ends returns
// ctx's error, and may still be applied later.
func (r *replica) propose(ctx context.Context, cmd *tree.Command) (tree.Result, error) {
	p, err := r.start(ctx, cmd)
	if err != nil {
		return tree.Result{}, err
	}
	return r.await(ctx, p)
}

// start stamps and proposes cmd without waiting for its result, so that a
// connection can keep many writes in flight; await collects the result.
func (r *replica) start(ctx context.Context, cmd *tree.Command) (pending, error) {
	cmd.ID = tree.RequestID{Member: r.id, Seq: r.seq.Add(1)}
	cmd.TimeMs = r.now().UnixMilli()
	data, err := tree.EncodeCommand(cmd)
	if err != nil {
		// A request the command format cannot carry: too large, or an
		// ACL with too many entries (InvalidACL, as the tree would say).
		code := errcode.BadArguments
		if errors.Is(err, errcode.InvalidACL) {
			code = errcode.InvalidACL
		}
		return pending{}, fmt.Errorf("propose: %w: %v", code, err)
	}
	ch := r.waits.register(cmd.ID)
	// The term before the proposal: a later one would let a proposal lost
	// in a leader change that happens meanwhile escape reproposeStale.
	term := r.node.Term()
	if err := r.proposeRetrying(ctx, data); err != nil {
		r.waits.cancel(cmd.ID)
		return pending{}, fmt.Errorf("propose: %w", err)
	}
	if cmd.Seq != 0 {
		// A session's write applies once however often it is committed
		// (its Seq): it may be proposed again after a leader change.
		r.waits.retryable(cmd.ID, data, term)
	}
	return pending{id: cmd.ID, result: ch}, nil
}

// reproposeStale proposes again, once a new leader is known, the writes
// in flight that were proposed in an earlier term: raft drops a proposal
// forwarded to a leader that then lost its leadership, or appended only by
// it, without a word, and its client would otherwise wait out its request
// timeout. A write proposed again is applied once (its session's Seq): if
// both copies are committed, the second returns the first one's result.
// It runs every leaderCheckInterval.
func (r *replica) reproposeStale(ctx context.Context) {
	st := r.node.Status()
	if st.Lead == 0 || st.Term <= r.reproposedTerm {
		return
	}
	r.reproposedTerm = st.Term
	stale := r.waits.stale(st.Term)
	for _, data := range stale {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		err := r.node.Propose(pctx, data)
		cancel()
		if err != nil {
			r.logger.Debug("re-proposing a write after a leader change", "err", err)
		}
	}
	if len(stale) > 0 {
		r.logger.Info("leader changed: writes in flight proposed again", "writes", len(stale), "term", st.Term, "leader", st.Lead)
	}
}

// proposeRetrying hands data to raft, retrying while raft drops it (no
// leader known, an election or a leadership transfer under way, too much
// uncommitted) until ctx ends: a dropped proposal never reached the log,
// so retrying it cannot apply it twice.
func (r *replica) proposeRetrying(ctx context.Context, data []byte) error {
	backoff := 5 * time.Millisecond
	for {
		err := r.node.Propose(ctx, data)
		if !errors.Is(err, raftnode.ErrProposalDropped) {
			return err
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return errors.Join(err, ctx.Err())
		}
		backoff = min(2*backoff, 100*time.Millisecond)
	}
}

// await returns the result of a started proposal once applied here, or
// an error if ctx ends or the node stops first (the proposal may still be
// applied later).
func (r *replica) await(ctx context.Context, p pending) (tree.Result, error) {
	select {
	case res := <-p.result:
		return res, nil
	case <-r.node.Done():
		r.waits.cancel(p.id)
		return tree.Result{}, fmt.Errorf("propose: %w", errors.Join(raftnode.ErrStopped, r.node.Err()))
	case <-ctx.Done():
		r.waits.cancel(p.id)
		return tree.Result{}, fmt.Errorf("propose: %w", ctx.Err())
	}
}

// close stops the node and its transport, flushes the store, so that the
// next start need not apply again what was applied since the last flush
// (the store has no WAL), and closes it.
func (r *replica) close(ctx context.Context) error {
	err := r.node.Stop(ctx)
	if r.transport != nil {
		err = errors.Join(err, r.transport.Close())
	}
	if ferr := r.db.Flush(); ferr != nil {
		err = errors.Join(err, fmt.Errorf("flush the store: %w", ferr))
	}
	return errors.Join(err, r.closeStore())
}

// closeStore closes the raft log, if open, then the store.
func (r *replica) closeStore() error {
	var err error
	if r.log != nil {
		err = r.log.Close()
	}
	return errors.Join(err, r.db.Close())
}
