package raftnode

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

var (
	// ErrStopped is returned by calls on a Node whose Ready loop has
	// exited, after Stop or after a failure (see Err).
	ErrStopped = errors.New("raftnode: stopped")
	// ErrLogLost stops a Node whose leader says it acknowledged entries
	// its log does not hold: it lost its data dir under an id the cluster
	// remembers, which raft cannot repair (the member also forgot its
	// vote). It must rejoin under a new id.
	ErrLogLost = errors.New("raftnode: this member lost entries it had acknowledged")
	// ErrProposalDropped is returned by Propose when raft refused the
	// proposal (no known leader, a leadership transfer in progress, too
	// many uncommitted bytes). Retry later, idempotently.
	ErrProposalDropped = errors.New("raftnode: proposal dropped")
)

// Role is a member's part in the raft group.
type Role string

// The roles, as Status reports them.
const (
	RoleFollower     Role = "follower"
	RolePreCandidate Role = "precandidate"
	RoleCandidate    Role = "candidate"
	RoleLeader       Role = "leader"
)

func roleOf(s raft.StateType) Role {
	switch s {
	case raft.StateLeader:
		return RoleLeader
	case raft.StateCandidate:
		return RoleCandidate
	case raft.StatePreCandidate:
		return RolePreCandidate
	default:
		return RoleFollower
	}
}

// Status is a snapshot of a member's raft state.
type Status struct {
	ID      uint64
	Term    uint64
	Lead    uint64 // 0 when no leader is known
	Commit  uint64 // highest index known committed (and durably recorded)
	Applied uint64 // highest index the Applier has applied
	Role    Role
	// Voters and Learners are the membership as of the last applied conf
	// change (Membership has the outgoing voters of a joint one).
	Voters, Learners []uint64
	// Progress is, on the leader only, the index up to which each member's
	// log (its own included) is known to match the leader's: a learner
	// whose Match is close to the leader's Commit has caught up.
	Progress map[uint64]uint64
}

// readRetryTicks is how many ticks a ReadIndex request may go unanswered
// before it is sent again (a ReadIndex without a leader is dropped).
func (n *Node) readRetryTicks() int { return max(1, n.cfg.ElectionTick/2) }

type proposal struct {
	data []byte
	run  func() error // instead of data: run on the Ready loop (onLoop)
	done chan error   // buffered 1
}

type readRequest struct {
	done chan uint64 // buffered 1
}

// readBatch is the ReadIndex calls answered by one raft ReadIndex.
type readBatch struct {
	rctx  []byte
	reqs  []*readRequest
	index uint64
}

// Node owns a raft.RawNode and runs its Ready loop on one goroutine. Its
// methods are safe for concurrent use.
type Node struct {
	cfg    Config
	logger *slog.Logger

	propc chan *proposal
	stepc chan *pb.Message
	readc chan *readRequest
	// reportc wakes the Ready loop for the transport's reports, which wait
	// in reports; capacity 1.
	reportc chan struct{}
	reports reports

	stopc    chan struct{}
	stopOnce sync.Once
	ctx      context.Context // passed to the Applier; cancelled by Stop
	cancel   context.CancelFunc
	done     chan struct{}
	err      error // set before done is closed

	mu     sync.Mutex
	status Status

	// cpMu guards held, the checkpoint of the latest snapshot's state,
	// which OpenSnapshot streams from transport goroutines.
	cpMu sync.Mutex
	held *heldCheckpoint
	// recvMu serialises ReceiveSnapshot.
	recvMu sync.Mutex

	// Owned by the Ready loop (and by Start before the loop starts).
	rn           *raft.RawNode
	applied      uint64
	snapIndex    uint64          // the index of the Log's latest snapshot
	snapBytes    uint64          // entry data applied since that snapshot (or the start)
	flushIndex   uint64          // the applied index of the Applier's Flush in flight
	flushDone    <-chan struct{} // that Flush's channel; nil: none in flight
	readSeq      uint64
	readPending  []*readRequest // not yet behind a raft ReadIndex
	readInflight *readBatch     // behind a raft ReadIndex, unanswered
	readTicks    int            // ticks since readInflight was (re)sent
	readWaiting  []*readBatch   // answered, waiting for applied ≥ index
	// leading is whether raft's latest SoftState said this member leads.
	leading bool
	// batch is the proposals taken in since the last flushProposals.
	batch []*proposal
	// fatal, once set by step, stops the loop: raft's state is not to be
	// trusted after it panicked.
	fatal error
	// Membership changes (membership.go).
	membership    Membership // guarded by mu
	changeSeq     uint64
	changeWaiting *changeWaiter
	lastConf      confApplied
}

// Start opens the raft group on cfg.Log and starts the Ready loop. On a
// new Log it records cfg.Peers as the initial membership. A member that is
// the sole voter of its group campaigns at once and has handled the
// resulting Readys (electing itself and applying its empty entry) when
// Start returns, so it is leader unless that was impossible.
func Start(cfg Config) (*Node, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	hs, cs, err := cfg.Log.InitialState()
	if err != nil {
		return nil, fmt.Errorf("raftnode: reading the raft log: %w", err)
	}
	first, err := cfg.Log.FirstIndex()
	if err != nil {
		return nil, fmt.Errorf("raftnode: reading the raft log: %w", err)
	}
	last, err := cfg.Log.LastIndex()
	if err != nil {
		return nil, fmt.Errorf("raftnode: reading the raft log: %w", err)
	}
	members := slices.Concat(cs.GetVoters(), cs.GetLearners(), cs.GetVotersOutgoing(), cs.GetLearnersNext())
	fresh := len(members) == 0 && raft.IsEmptyHardState(hs) && last == 0
	contexts := cfg.Log.Contexts()
	if fresh {
		contexts = cfg.PeerContexts
		if len(cfg.Peers) == 0 && !cfg.Join {
			return nil, errors.New("raftnode: the raft log is empty and Config.Peers is empty: a new cluster needs its members")
		}
		cs = &pb.ConfState{Voters: slices.Clone(cfg.Peers)}
		members = slices.Clone(cfg.Peers)
	} else if len(cfg.Peers) > 0 && !sameSet(cfg.Peers, cs.GetVoters()) {
		// The stored configuration wins: membership may have changed
		// since the first start.
		cfg.Logger.Info("Config.Peers ignored: the raft log holds the membership", "peers", cfg.Peers, "voters", cs.GetVoters(), "learners", cs.GetLearners())
	}
	slices.Sort(members)
	members = slices.Compact(members)
	if cfg.Transport == nil && !slices.Equal(members, []uint64{cfg.ID}) {
		return nil, fmt.Errorf("raftnode: Config.Transport is nil but the group has members %v", members)
	}
	if commit := hs.GetCommit(); cfg.Applied > commit {
		// The Applier's store got to disk with the entries applied up
		// to Applied while the Log's unsynced commit record
		// (raftlog.SaveCommit) was lost: they were committed, or they
		// would not have been applied, and the Log holds them, as it
		// syncs entries before they are applied.
		if cfg.Applied > last {
			return nil, fmt.Errorf("raftnode: Config.Applied %d is past the log's last entry %d: the raft log lost entries that were applied", cfg.Applied, last)
		}
		raised := proto.Clone(hs).(*pb.HardState)
		raised.Commit = proto.Uint64(cfg.Applied)
		if err := cfg.Log.SaveCommit(raised); err != nil {
			return nil, fmt.Errorf("raftnode: raising the commit index to the applied index: %w", err)
		}
		cfg.Logger.Info("commit index raised to the applied index", "commit", commit, "applied", cfg.Applied)
		hs = raised
	}
	snap, err := cfg.Log.Snapshot()
	if err != nil {
		return nil, fmt.Errorf("raftnode: reading the raft log's snapshot: %w", err)
	}
	snapIndex := snap.GetMetadata().GetIndex()
	if !fresh && cfg.Applied < first-1 {
		// The entries after Applied are compacted: the Log holds a snapshot
		// received from a leader whose state was not restored before the
		// member stopped (a crash between persisting and restoring). Finish.
		if snapIndex != first-1 {
			return nil, fmt.Errorf("raftnode: Config.Applied %d is below the log's compaction point %d, which is not its snapshot's index %d: the log was compacted past the applied state", cfg.Applied, first-1, snapIndex)
		}
		cfg.Logger.Warn("finishing the restore of a snapshot interrupted by a stop", "index", snapIndex, "applied", cfg.Applied)
		if err := restoreFromFile(context.Background(), cfg, snapIndex); err != nil {
			return nil, err
		}
		cfg.Applied = snapIndex
	}
	if err := removeSnapshotFiles(cfg, cfg.Applied); err != nil {
		cfg.Logger.Warn("removing received snapshot files", "err", err)
	}
	if fresh && len(cs.GetVoters()) > 0 {
		// A new member: bootstrap as etcd recommends, with a snapshot at
		// index 0 that carries only the ConfState (and, beside it, the
		// initial members' contexts).
		if err := cfg.Log.SaveMembers(nil, nil, &pb.Snapshot{Metadata: &pb.SnapshotMetadata{ConfState: cs}}, contexts); err != nil {
			return nil, fmt.Errorf("raftnode: bootstrapping the raft log: %w", err)
		}
	}

	rn, err := raft.NewRawNode(&raft.Config{
		ID:                        cfg.ID,
		ElectionTick:              cfg.ElectionTick,
		HeartbeatTick:             cfg.HeartbeatTick,
		Storage:                   cfg.Log,
		Applied:                   cfg.Applied,
		MaxSizePerMsg:             cfg.MaxSizePerMsg,
		MaxInflightMsgs:           cfg.MaxInflightMsgs,
		MaxUncommittedEntriesSize: cfg.MaxUncommittedBytes,
		CheckQuorum:               true,
		PreVote:                   true,
		ReadOnlyOption:            raft.ReadOnlySafe,
		StepDownOnRemoval:         true,
		Logger:                    slogLogger{cfg.Logger.With("component", "raft")},
	})
	if err != nil {
		return nil, fmt.Errorf("raftnode: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &Node{
		cfg:       cfg,
		logger:    cfg.Logger,
		propc:     make(chan *proposal, cfg.MaxPendingProposals),
		stepc:     make(chan *pb.Message, cfg.MaxPendingMessages),
		readc:     make(chan *readRequest, cfg.MaxPendingReads),
		reportc:   make(chan struct{}, 1),
		stopc:     make(chan struct{}),
		ctx:       ctx,
		cancel:    cancel,
		done:      make(chan struct{}),
		rn:        rn,
		applied:   max(cfg.Applied, first-1),
		snapIndex: snapIndex,
	}
	if snapIndex > 0 && n.applied == snapIndex {
		// Hold the state of the stored snapshot, so it can be sent on.
		if err := n.checkpoint(); err != nil {
			cancel()
			return nil, err
		}
	}
	n.setConfState(cs, contexts)
	n.updateStatus(nil)
	n.logger.Info("raft node starting", "join", fresh && cfg.Join, "id", cfg.ID, "members", members, "term", hs.GetTerm(),
		"commit", hs.GetCommit(), "applied", n.applied, "first", first, "last", last)
	if cs.GetVoters() != nil && slices.Equal(cs.GetVoters(), []uint64{cfg.ID}) && len(cs.GetVotersOutgoing()) == 0 {
		// Waiting an election timeout would gain nothing.
		if err := rn.Campaign(); err != nil {
			cancel()
			return nil, fmt.Errorf("raftnode: campaigning: %w", err)
		}
		for rn.HasReady() {
			if err := n.handleReady(); err != nil {
				cancel()
				n.hold(nil)
				return nil, err
			}
		}
	}
	go n.run()
	return n, nil
}

func sameSet(a, b []uint64) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// Stop stops the Ready loop, cancelling the context of a running Apply,
// and waits for it to exit or for ctx. It returns the error that had
// already stopped the loop, if any, or ctx's error if ctx ended first.
// Stop may be called more than once. It does not close the Log.
func (n *Node) Stop(ctx context.Context) error {
	n.stopOnce.Do(func() {
		close(n.stopc)
		n.cancel()
	})
	select {
	case <-n.done:
		return n.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Done is closed when the Ready loop has exited, after Stop or a failure.
func (n *Node) Done() <-chan struct{} { return n.done }

// Err returns the error that stopped the Ready loop: nil while it runs and
// after a clean Stop.
func (n *Node) Err() error {
	select {
	case <-n.done:
		return n.err
	default:
		return nil
	}
}

// stopped reports whether Stop was called or the loop exited.
func (n *Node) stopped() bool {
	select {
	case <-n.stopc:
		return true
	case <-n.done:
		return true
	default:
		return false
	}
}

// Propose hands data to raft as a new log entry. It returns nil once raft
// has accepted the proposal, which says nothing about its fate: a proposal
// can still be lost without an error (leader change, a lost forward). The
// caller tags data with its own request id, waits to see that id in the
// applied entries, times out, and retries idempotently. Propose returns
// ErrProposalDropped (wrapping raft's error) when raft refuses the
// proposal, ErrStopped when the Node is stopped, and ctx's error when ctx
// ends first; after a ctx error the proposal may still be committed. Raft
// keeps data: do not modify it after the call.
func (n *Node) Propose(ctx context.Context, data []byte) error {
	return n.submit(ctx, &proposal{data: data})
}

// submit hands p to the Ready loop through the proposal queue and waits
// for its outcome, the loop's end or ctx.
func (n *Node) submit(ctx context.Context, p *proposal) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if n.stopped() {
		return ErrStopped
	}
	p.done = make(chan error, 1)
	select {
	case n.propc <- p:
	case <-n.done:
		return ErrStopped
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-p.done:
		return err
	case <-n.done:
		select {
		case err := <-p.done:
			return err
		default:
			return ErrStopped
		}
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ReadIndex returns a linearizable read index: an index at least the
// commit index of the leader at some moment after the call began, which
// this member has applied by the time ReadIndex returns. State read from
// the Applier afterwards reflects every write acknowledged before the call.
// Concurrent calls share one raft ReadIndex round. Without a leader the
// request is retried every ElectionTick/2 ticks until ctx ends. It returns
// ErrStopped when the Node is stopped.
func (n *Node) ReadIndex(ctx context.Context) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if n.stopped() {
		return 0, ErrStopped
	}
	r := &readRequest{done: make(chan uint64, 1)}
	select {
	case n.readc <- r:
	case <-n.done:
		return 0, ErrStopped
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	select {
	case i := <-r.done:
		return i, nil
	case <-n.done:
		select {
		case i := <-r.done:
			return i, nil
		default:
			return 0, ErrStopped
		}
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// Step hands a message received from a peer to raft. It returns once the
// message is queued for the Ready loop; raft ignores messages that do not
// apply (stale terms, unknown peers). It returns ErrStopped when the Node
// is stopped and ctx's error if the queue stays full until ctx ends.
func (n *Node) Step(ctx context.Context, msg *pb.Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if n.stopped() {
		return ErrStopped
	}
	select {
	case n.stepc <- msg:
		return nil
	case <-n.done:
		return ErrStopped
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Status returns the member's raft state as of the last handled Ready.
func (n *Node) Status() Status {
	n.mu.Lock()
	defer n.mu.Unlock()
	st := n.status
	st.Progress = maps.Clone(st.Progress)
	return st
}

// Term returns the member's raft term as of the last handled Ready: what
// Status().Term says, without copying the leader's Progress.
func (n *Node) Term() uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.status.Term
}

func (n *Node) updateStatus(rd *raft.Ready) {
	st := n.rn.BasicStatus()
	n.mu.Lock()
	defer n.mu.Unlock()
	prev := n.status
	n.status = Status{
		ID:      st.ID,
		Term:    st.HardState.GetTerm(),
		Lead:    st.Lead,
		Commit:  st.HardState.GetCommit(),
		Applied: n.applied,
		Role:    roleOf(st.RaftState),
	}
	n.fillStatus(&n.status, prev.Progress, st.RaftState == raft.StateLeader)
	if rd != nil && rd.SoftState != nil && (prev.Lead != n.status.Lead || prev.Role != n.status.Role) {
		n.logger.Info("raft state changed", "role", n.status.Role, "lead", n.status.Lead, "term", n.status.Term)
	}
}

// run is the Ready loop.
func (n *Node) run() {
	ticker := time.NewTicker(n.cfg.TickInterval)
	defer ticker.Stop()
	err := n.loop(ticker.C)
	if err != nil {
		n.logger.Error("raft node stopped", "err", err)
	}
	n.err = err
	n.cancel()
	// Cut the snapshot streams and close the checkpoint before the caller
	// may close the database.
	n.hold(nil)
	close(n.done)
}

func (n *Node) loop(tickc <-chan time.Time) error {
	for {
		if n.rn.HasReady() {
			if err := n.handleReady(); err != nil {
				if n.stopped() && errors.Is(err, context.Canceled) {
					return nil // an Apply interrupted by Stop
				}
				return err
			}
			// Take in what arrived during the fsync, so the next Ready
			// carries it: many proposals per Ready, one fsync per Ready.
			select {
			case <-n.stopc:
				return nil
			default:
			}
		} else {
			select {
			case <-n.stopc:
				return nil
			case <-tickc:
				n.tick()
			case p := <-n.propc:
				n.propose(p)
			case m := <-n.stepc:
				n.step(m)
			case r := <-n.readc:
				n.readPending = append(n.readPending, r)
			case <-n.reportc:
				n.takeReports()
			}
		}
		n.drain(tickc)
		if n.fatal != nil {
			return n.fatal
		}
		n.maybeSendReadIndex()
	}
}

// drain takes in, without waiting, what is queued: at most one tick, the
// transport's reports, and at most the queues' capacity of proposals,
// messages and reads, so that a flood of one kind cannot starve the loop.
func (n *Node) drain(tickc <-chan time.Time) {
	if n.fatal != nil {
		return
	}
	select {
	case <-tickc:
		n.tick()
	default:
	}
	select {
	case <-n.reportc:
		n.takeReports()
	default:
	}
	for range cap(n.stepc) {
		select {
		case m := <-n.stepc:
			n.step(m)
			continue
		default:
		}
		break
	}
	for range cap(n.propc) {
		select {
		case p := <-n.propc:
			n.propose(p)
			continue
		default:
		}
		break
	}
	n.flushProposals()
	for range cap(n.readc) {
		select {
		case r := <-n.readc:
			n.readPending = append(n.readPending, r)
			continue
		default:
		}
		break
	}
}

func (n *Node) tick() {
	n.rn.Tick()
	if n.readInflight != nil {
		n.readTicks++
		if n.readTicks >= n.readRetryTicks() {
			n.readTicks = 0
			n.logger.Debug("retrying read index", "rctx", n.readInflight.rctx)
			n.rn.ReadIndex(n.readInflight.rctx)
		}
	}
}

// propose takes p in. Data proposals wait in n.batch for flushProposals,
// so that what one pass of the loop takes in reaches raft as one MsgProp;
// a function to run on the loop runs at once, after the proposals taken
// in before it.
func (n *Node) propose(p *proposal) {
	if p.run != nil {
		n.flushProposals()
		p.done <- p.run()
		return
	}
	n.batch = append(n.batch, p)
}

// flushProposals hands the waiting proposals to raft as one MsgProp: a
// follower forwards them to the leader in one message, and the leader
// appends them with one broadcast to its followers, instead of one
// message to each follower per proposal. raft accepts or drops the batch
// as a whole.
func (n *Node) flushProposals() {
	if len(n.batch) == 0 {
		return
	}
	ents := make([]*pb.Entry, len(n.batch))
	for i, p := range n.batch {
		ents[i] = &pb.Entry{Data: p.data}
	}
	err := n.rn.Step(&pb.Message{Type: pb.MsgProp.Enum(), From: new(n.cfg.ID), Entries: ents})
	if err != nil {
		err = fmt.Errorf("%w: %w", ErrProposalDropped, err)
	}
	for _, p := range n.batch {
		p.done <- err
	}
	clear(n.batch)
	n.batch = n.batch[:0]
}

func (n *Node) step(m *pb.Message) {
	if n.fatal != nil {
		return
	}
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		// raft panics when the leader says this member acknowledged
		// entries its log does not hold: the log was lost (a wiped data
		// dir) under an id the cluster remembers. Stop with an error an
		// operator can act on instead of a crash.
		if msg := fmt.Sprint(r); strings.Contains(msg, "is out of range [lastIndex(") {
			n.fatal = fmt.Errorf("%w: member %d (the leader) says this member acknowledged entries its log does not hold (%s): "+
				"its data dir was lost or replaced. A member whose data was lost must rejoin under a new id: "+
				"remove the old id, add a new one, and start it with --join (docs/OPERATIONS.md)", ErrLogLost, m.GetFrom(), msg)
			return
		}
		panic(r)
	}()
	if err := n.rn.Step(m); err != nil {
		n.logger.Debug("raft ignored a message", "type", m.GetType(), "from", m.GetFrom(), "err", err)
	}
}

// maybeSendReadIndex puts the pending reads behind one raft ReadIndex, if
// none is in flight. Reads that arrive while one is in flight wait for the
// next: a ReadState answers only reads that were asked before it was
// requested.
func (n *Node) maybeSendReadIndex() {
	if n.readInflight != nil || len(n.readPending) == 0 {
		return
	}
	n.readSeq++
	b := &readBatch{rctx: binary.BigEndian.AppendUint64(nil, n.readSeq), reqs: n.readPending}
	n.readPending = nil
	n.readInflight, n.readTicks = b, 0
	n.rn.ReadIndex(b.rctx)
}

func (n *Node) readStateArrived(rs raft.ReadState) {
	b := n.readInflight
	if b == nil || !bytes.Equal(rs.RequestCtx, b.rctx) {
		n.logger.Debug("ignoring a read state", "rctx", rs.RequestCtx, "index", rs.Index)
		return
	}
	b.index, n.readInflight = rs.Index, nil
	n.readWaiting = append(n.readWaiting, b)
}

// releaseReads answers the reads whose index is applied.
func (n *Node) releaseReads() {
	kept := n.readWaiting[:0]
	for _, b := range n.readWaiting {
		if b.index > n.applied {
			kept = append(kept, b)
			continue
		}
		for _, r := range b.reqs {
			r.done <- b.index
		}
	}
	clear(n.readWaiting[len(kept):])
	n.readWaiting = kept
}

// handleReady handles one Ready per raft's contract: persist, send, apply,
// Advance.
func (n *Node) handleReady() error {
	rd := n.rn.Ready()
	var snap *pb.Snapshot
	if !raft.IsEmptySnap(rd.Snapshot) {
		snap = rd.Snapshot
	}
	n.noteAppended(rd.Entries, rd.SoftState)
	if rd.SoftState != nil {
		n.leading = rd.SoftState.RaftState == raft.StateLeader
	}
	// A leader sends before it persists (the Raft thesis, §10.2.1): its
	// followers append and fsync while it does, instead of after, which
	// takes one fsync off every write's path. It is safe because what
	// a leader sends needs nothing of this Ready on its own disk: its term
	// and vote were made durable when it campaigned, and an entry is
	// applied, and so acknowledged, only in a later Ready, after this
	// Save has returned. A follower's or candidate's messages (appends
	// acknowledged, votes granted) promise what it holds, so they wait.
	sentEarly := n.leading && len(rd.Messages) > 0
	if sentEarly {
		if err := n.send(rd.Messages); err != nil {
			return err
		}
	}
	switch {
	case snap != nil:
		// The snapshot's state is in SnapshotDir (ReceiveSnapshot wrote it
		// before stepping the MsgSnap); persist the metadata with the
		// entries and HardState, then restore the state, below.
		contexts, err := n.snapshotContexts(snap)
		if err != nil {
			return err
		}
		if err := n.cfg.Log.SaveMembers(rd.HardState, rd.Entries, snap, contexts); err != nil {
			return fmt.Errorf("raftnode: persisting a Ready with the snapshot at %d: %w", snap.GetMetadata().GetIndex(), err)
		}
	case len(rd.Entries) > 0 || rd.MustSync:
		if err := n.cfg.Log.Save(rd.HardState, rd.Entries, nil); err != nil {
			return fmt.Errorf("raftnode: persisting a Ready: %w", err)
		}
	case rd.HardState != nil:
		// Only the commit index changed: no fsync (raftlog.SaveCommit).
		if err := n.cfg.Log.SaveCommit(rd.HardState); err != nil {
			return fmt.Errorf("raftnode: persisting a Ready: %w", err)
		}
	}
	if !sentEarly && len(rd.Messages) > 0 {
		if err := n.send(rd.Messages); err != nil {
			return err
		}
	}
	for _, rs := range rd.ReadStates {
		n.readStateArrived(rs)
	}
	if snap != nil {
		if err := n.installSnapshot(snap); err != nil {
			return err
		}
	}
	if err := n.apply(rd.CommittedEntries); err != nil {
		return err
	}
	if err := n.maybeSnapshot(); err != nil {
		return err
	}
	n.resolveLostChange()
	// Before Advance, raft's HardState is the one just persisted.
	n.updateStatus(&rd)
	n.rn.Advance(rd)
	n.releaseReads()
	return nil
}

// send hands a Ready's messages to the Transport.
func (n *Node) send(msgs []*pb.Message) error {
	if n.cfg.Transport == nil {
		return fmt.Errorf("raftnode: raft sent %d messages but there is no Transport", len(msgs))
	}
	n.cfg.Transport.Send(msgs)
	return nil
}

// apply hands committed entries to the Applier in runs, applying each
// conf change to raft and to the Log before the run that holds it, so the
// ConfState is durable before the applier records the index covering it
// (raftlog's contract, item 3).
func (n *Node) apply(ents []*pb.Entry) error {
	if len(ents) == 0 {
		return nil
	}
	if got := ents[0].GetIndex(); got != n.applied+1 {
		panic(fmt.Sprintf("raftnode: raft handed entry %d to apply after applied index %d", got, n.applied))
	}
	start := 0
	for i, e := range ents {
		switch e.GetType() {
		case pb.EntryConfChange, pb.EntryConfChangeV2:
			if err := n.applyRun(ents[start:i]); err != nil {
				return err
			}
			start = i
			if err := n.applyConfChange(e); err != nil {
				return err
			}
		}
	}
	return n.applyRun(ents[start:])
}

func (n *Node) applyRun(ents []*pb.Entry) error {
	if len(ents) == 0 {
		return nil
	}
	run := make([]Entry, len(ents))
	for i, e := range ents {
		if e.GetIndex() != n.applied+1+uint64(i) {
			panic(fmt.Sprintf("raftnode: committed entries not contiguous: %d at position %d after %d", e.GetIndex(), i, n.applied))
		}
		typ := EntryNormal
		if t := e.GetType(); t == pb.EntryConfChange || t == pb.EntryConfChangeV2 {
			typ = EntryConfChange
		}
		run[i] = Entry{Index: e.GetIndex(), Term: e.GetTerm(), Type: typ, Data: e.GetData()}
		if typ == EntryConfChange && n.lastConf.index == e.GetIndex() {
			m := n.lastConf.membership
			run[i].Changes, run[i].Membership = n.lastConf.changes, &m
		}
	}
	if err := n.cfg.Applier.Apply(n.ctx, run); err != nil {
		return fmt.Errorf("raftnode: applying entries %d-%d: %w", run[0].Index, run[len(run)-1].Index, err)
	}
	n.applied = run[len(run)-1].Index
	for _, e := range run {
		n.snapBytes += uint64(len(e.Data))
	}
	return nil
}

func (n *Node) applyConfChange(e *pb.Entry) error {
	var cc pb.ConfChangeI
	if e.GetType() == pb.EntryConfChange {
		c := &pb.ConfChange{}
		if err := proto.Unmarshal(e.GetData(), c); err != nil {
			return fmt.Errorf("raftnode: decoding the conf change at index %d: %w", e.GetIndex(), err)
		}
		cc = c
	} else {
		c := &pb.ConfChangeV2{}
		if err := proto.Unmarshal(e.GetData(), c); err != nil {
			return fmt.Errorf("raftnode: decoding the conf change at index %d: %w", e.GetIndex(), err)
		}
		cc = c
	}
	return n.applyConf(e, cc)
}
