package raftnode

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/confchange"
	pb "go.etcd.io/raft/v3/raftpb"
	"go.etcd.io/raft/v3/tracker"
	"google.golang.org/protobuf/proto"

	"github.com/arbor-coord/arbor/server/raftlog"
)

// Limits on a membership change.
const (
	// MaxChangesPerProposal bounds the changes ProposeChange takes at once.
	MaxChangesPerProposal = 16
	// MaxChangeContextBytes bounds the Context of one Change.
	MaxChangeContextBytes = 4 << 10
)

var (
	// ErrNotLeader is returned by ProposeChange and TransferLeadership on
	// a member that is not the leader; Status().Lead names the leader, if
	// one is known.
	ErrNotLeader = errors.New("raftnode: not the leader")
	// ErrChangeInProgress is returned by ProposeChange when another
	// membership change is not applied yet (raft takes one at a time,
	// and leaving a joint configuration is one): the change was not made.
	// Retry after the other one is applied.
	ErrChangeInProgress = errors.New("raftnode: a membership change is in progress")
	// ErrChangeDropped is returned by ProposeChange when its change was
	// lost after raft took it (a leader change replaced its entry): the
	// change was not made. Check Membership and retry.
	ErrChangeDropped = errors.New("raftnode: membership change dropped")
	// ErrBadChange is returned, wrapped with the reason, by ProposeChange
	// for a change that cannot be made to the current membership.
	ErrBadChange = errors.New("raftnode: bad membership change")
)

// ChangeType is one kind of membership change.
type ChangeType int

// The kinds of membership change.
const (
	// AddVoter adds a new voter, or promotes a learner to voter.
	AddVoter ChangeType = iota + 1
	// AddLearner adds a new learner (a member that receives the log but
	// does not vote), or demotes a voter to learner.
	AddLearner
	// RemoveMember removes a voter or a learner.
	RemoveMember
)

func (t ChangeType) String() string {
	switch t {
	case AddVoter:
		return "add-voter"
	case AddLearner:
		return "add-learner"
	case RemoveMember:
		return "remove"
	default:
		return fmt.Sprintf("ChangeType(%d)", int(t))
	}
}

// Change is one membership change. Context is opaque to raft and travels
// with the change to every member's Applier (the server puts the member's
// peer address in it). It is at most MaxChangeContextBytes long.
type Change struct {
	Type    ChangeType
	ID      uint64
	Context []byte
}

// Membership is a raft configuration. Each list is sorted.
type Membership struct {
	// Voters are the voting members (in a joint configuration, those of
	// the incoming configuration).
	Voters []uint64
	// VotersOutgoing is empty except in a joint configuration, where it
	// holds the voters of the outgoing configuration: until the joint
	// configuration is left, decisions need a majority of both lists.
	VotersOutgoing []uint64
	// Learners receive the log but do not vote.
	Learners []uint64
	// Contexts holds the Context of each member that has one: the one it
	// was added with (a promotion with an empty Context keeps it). The
	// founders' come from Config.PeerContexts. It is kept with the
	// ConfState in the Log and carried by snapshots, so a member caught
	// up by a snapshot knows them too. It must not be modified.
	Contexts map[uint64][]byte
}

// Members returns every id in m, sorted, each once.
func (m Membership) Members() []uint64 {
	all := slices.Concat(m.Voters, m.VotersOutgoing, m.Learners)
	slices.Sort(all)
	return slices.Compact(all)
}

func membershipOf(cs *pb.ConfState, contexts map[uint64][]byte) Membership {
	sorted := func(ids []uint64) []uint64 {
		if len(ids) == 0 {
			return nil
		}
		ids = slices.Clone(ids)
		slices.Sort(ids)
		return ids
	}
	// A learner staged in LearnersNext is still an outgoing voter.
	m := Membership{Voters: sorted(cs.GetVoters()), VotersOutgoing: sorted(cs.GetVotersOutgoing()), Learners: sorted(cs.GetLearners())}
	members := m.Members()
	for id, c := range contexts {
		if len(c) > 0 && slices.Contains(members, id) {
			if m.Contexts == nil {
				m.Contexts = make(map[uint64][]byte)
			}
			m.Contexts[id] = c
		}
	}
	return m
}

// contextsAfter returns the contexts of the members after changes are
// made to the members whose contexts are cur: a removed member's is
// dropped, a non-empty Context replaces the member's. cur is not changed.
func contextsAfter(cur map[uint64][]byte, changes []Change) map[uint64][]byte {
	next := maps.Clone(cur)
	if next == nil {
		next = make(map[uint64][]byte)
	}
	for _, c := range changes {
		switch {
		case c.Type == RemoveMember:
			delete(next, c.ID)
		case len(c.Context) > 0:
			next[c.ID] = c.Context
		}
	}
	return next
}

func confStateOf(cfg tracker.Config) *pb.ConfState {
	sortedKeys := func(m map[uint64]struct{}) []uint64 {
		if len(m) == 0 {
			return nil
		}
		return slices.Sorted(maps.Keys(m))
	}
	return &pb.ConfState{
		Voters:         cfg.Voters[0].Slice(),
		VotersOutgoing: cfg.Voters[1].Slice(),
		Learners:       sortedKeys(cfg.Learners),
		LearnersNext:   sortedKeys(cfg.LearnersNext),
		AutoLeave:      proto.Bool(cfg.AutoLeave),
	}
}

// Membership returns the configuration as of the last applied conf change.
func (n *Node) Membership() Membership {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.membership
}

// setConfState records cs, with the members' contexts, as the current
// configuration. It runs on the Ready loop (or in Start), after raft took
// cs.
func (n *Node) setConfState(cs *pb.ConfState, contexts map[uint64][]byte) Membership {
	m := membershipOf(cs, contexts)
	n.mu.Lock()
	defer n.mu.Unlock()
	n.membership = m
	return m
}

// membershipChanged tells Config.OnMembershipChange, if set.
func (n *Node) membershipChanged(m Membership) {
	if n.cfg.OnMembershipChange != nil {
		n.cfg.OnMembershipChange(m)
	}
}

// fillStatus adds the membership and, on the leader, every member's
// progress to st. prev is the Progress of the last Status, updated in
// place when the members are the same (Status hands out clones). n.mu is
// held; it runs on the Ready loop.
func (n *Node) fillStatus(st *Status, prev map[uint64]uint64, leader bool) {
	st.Voters, st.Learners = n.membership.Voters, n.membership.Learners
	if !leader {
		return
	}
	same, count := prev != nil, 0
	n.rn.WithProgress(func(id uint64, _ raft.ProgressType, pr tracker.Progress) {
		if _, ok := prev[id]; !ok {
			same = false
		}
		if same {
			prev[id] = pr.Match
		}
		count++
	})
	if !same || count != len(prev) {
		prev = make(map[uint64]uint64, count)
		n.rn.WithProgress(func(id uint64, _ raft.ProgressType, pr tracker.Progress) { prev[id] = pr.Match })
	}
	st.Progress = prev
}

// changeWaiter is the ProposeChange call whose change raft has taken and
// not yet applied; the Ready loop owns it.
type changeWaiter struct {
	seq   uint64
	index uint64 // the entry's index, once seen in a Ready; 0 before
	done  chan changeResult
}

type changeResult struct {
	m   Membership
	err error
}

// confApplied is what the last applied conf-change entry carried, for
// the Entry that the Applier gets for it.
type confApplied struct {
	index      uint64
	changes    []Change
	membership Membership
}

// The ConfChangeV2.Context of a ProposeChange: a magic prefix, the
// proposer's id and sequence number (uvarints), then each Change's
// Context (a uvarint length and the bytes), in the order of the changes.
var confContextMagic = []byte("arbor-cc1")

func encodeConfContext(proposer, seq uint64, changes []Change) []byte {
	b := slices.Clone(confContextMagic)
	b = binary.AppendUvarint(b, proposer)
	b = binary.AppendUvarint(b, seq)
	for _, c := range changes {
		b = binary.AppendUvarint(b, uint64(len(c.Context)))
		b = append(b, c.Context...)
	}
	return b
}

// decodeConfContext decodes a context made by encodeConfContext for n
// changes. ok is false for any other context (a conf change proposed
// another way).
func decodeConfContext(b []byte, n int) (proposer, seq uint64, contexts [][]byte, ok bool) {
	rest, found := bytesCutPrefix(b, confContextMagic)
	if !found {
		return 0, 0, nil, false
	}
	next := func() (uint64, bool) {
		v, k := binary.Uvarint(rest)
		if k <= 0 {
			return 0, false
		}
		rest = rest[k:]
		return v, true
	}
	if proposer, ok = next(); !ok {
		return 0, 0, nil, false
	}
	if seq, ok = next(); !ok {
		return 0, 0, nil, false
	}
	contexts = make([][]byte, n)
	for i := range n {
		l, ok := next()
		if !ok || l > uint64(len(rest)) {
			return 0, 0, nil, false
		}
		if l > 0 {
			contexts[i] = rest[:l:l]
		}
		rest = rest[l:]
	}
	if len(rest) != 0 {
		return 0, 0, nil, false
	}
	return proposer, seq, contexts, true
}

func bytesCutPrefix(b, prefix []byte) ([]byte, bool) {
	if len(b) < len(prefix) || string(b[:len(prefix)]) != string(prefix) {
		return nil, false
	}
	return b[len(prefix):], true
}

func changeTypeOf(t pb.ConfChangeType) ChangeType {
	switch t {
	case pb.ConfChangeAddNode:
		return AddVoter
	case pb.ConfChangeAddLearnerNode:
		return AddLearner
	case pb.ConfChangeRemoveNode:
		return RemoveMember
	default:
		return 0
	}
}

func (t ChangeType) raft() pb.ConfChangeType {
	switch t {
	case AddVoter:
		return pb.ConfChangeAddNode
	case AddLearner:
		return pb.ConfChangeAddLearnerNode
	default:
		return pb.ConfChangeRemoveNode
	}
}

// onLoop runs fn on the Ready loop, through the proposal queue, and
// returns its error.
func (n *Node) onLoop(ctx context.Context, fn func() error) error {
	// After a ctx error fn may still run; what it does is harmless on its
	// own (a change proposed this way is resolved by the loop).
	return n.submit(ctx, &proposal{run: fn})
}

// ProposeChange proposes changes as one raft ConfChangeV2 and waits until
// it is applied on this member, or ctx ends. One change is made with
// raft's simple protocol; more than one go through a joint configuration,
// which raft leaves by itself (a second entry) once the first is applied;
// ProposeChange returns after the first, with VotersOutgoing set.
// Promote a learner with AddVoter of its id; AddLearner of a voter demotes
// it. Removing the leader (itself) makes it step down once the change is
// applied; the others elect a new one.
//
// It must be called on the leader (ErrNotLeader otherwise), which checks
// the changes against the current membership and refuses, wrapping
// ErrBadChange: no changes or more than MaxChangesPerProposal, id 0, an
// id twice, an unknown ChangeType, a Context over MaxChangeContextBytes,
// adding a voter or learner that already is one, removing an id that is
// not a member, and leaving no voter. Raft takes one membership change at
// a time: while one is not applied yet (including leaving a joint
// configuration) it returns ErrChangeInProgress and changes nothing. If
// the change is lost after raft took it (leadership changed) it returns
// ErrChangeDropped. If ctx ends first it returns ctx's error, and the
// change may still be applied: check Membership. On success it returns
// the membership right after the change.
func (n *Node) ProposeChange(ctx context.Context, changes ...Change) (Membership, error) {
	changes = slices.Clone(changes)
	for i := range changes {
		changes[i].Context = slices.Clone(changes[i].Context)
	}
	w := &changeWaiter{done: make(chan changeResult, 1)}
	err := n.onLoop(ctx, func() error { return n.proposeChange(w, changes) })
	if err != nil {
		return Membership{}, err
	}
	select {
	case r := <-w.done:
		return r.m, r.err
	case <-n.done:
		select {
		case r := <-w.done:
			return r.m, r.err
		default:
			return Membership{}, ErrStopped
		}
	case <-ctx.Done():
		return Membership{}, ctx.Err()
	}
}

// proposeChange checks changes and hands them to raft. It runs on the
// Ready loop.
func (n *Node) proposeChange(w *changeWaiter, changes []Change) error {
	if n.changeWaiting != nil {
		return ErrChangeInProgress
	}
	st := n.rn.Status()
	if st.RaftState != raft.StateLeader {
		return ErrNotLeader
	}
	if len(st.Config.Voters[1]) > 0 {
		return fmt.Errorf("%w: the joint configuration %s is not left yet", ErrChangeInProgress, st.Config)
	}
	if err := checkChanges(st.Config, changes); err != nil {
		return err
	}
	if size := len(raftlog.AppendContexts(nil, contextsAfter(n.membership.Contexts, changes))); size > raftlog.MaxContextsBytes {
		return fmt.Errorf("%w: the members' contexts would take %d bytes, more than %d", ErrBadChange, size, raftlog.MaxContextsBytes)
	}
	n.changeSeq++
	cc := &pb.ConfChangeV2{
		Transition: pb.ConfChangeTransition_ConfChangeTransitionAuto.Enum(),
		Context:    encodeConfContext(n.cfg.ID, n.changeSeq, changes),
	}
	for _, c := range changes {
		cc.Changes = append(cc.Changes, &pb.ConfChangeSingle{Type: c.Type.raft().Enum(), NodeId: proto.Uint64(c.ID)})
	}
	if err := checkApplicable(st.Config, cc); err != nil {
		return fmt.Errorf("%w: %w", ErrBadChange, err)
	}
	if err := n.rn.ProposeConfChange(cc); err != nil {
		return fmt.Errorf("%w: %w", ErrProposalDropped, err)
	}
	w.seq = n.changeSeq
	n.changeWaiting = w
	n.logger.Info("membership change proposed", "changes", changes, "seq", w.seq)
	return nil
}

// checkChanges refuses changes that make no sense against cfg, with a
// reason a person can act on.
func checkChanges(cfg tracker.Config, changes []Change) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrBadChange}, args...)...)
	}
	if len(changes) == 0 {
		return bad("no changes")
	}
	if len(changes) > MaxChangesPerProposal {
		return bad("%d changes, more than %d", len(changes), MaxChangesPerProposal)
	}
	voters := maps.Clone(cfg.Voters[0])
	learners := maps.Clone(cfg.Learners)
	if voters == nil {
		voters = make(map[uint64]struct{})
	}
	if learners == nil {
		learners = make(map[uint64]struct{})
	}
	for i, c := range changes {
		_, isVoter := voters[c.ID]
		_, isLearner := learners[c.ID]
		switch {
		case c.ID == 0:
			return bad("member id 0")
		case slices.ContainsFunc(changes[:i], func(o Change) bool { return o.ID == c.ID }):
			return bad("member %d changed twice", c.ID)
		case len(c.Context) > MaxChangeContextBytes:
			return bad("the context of member %d is %d bytes, more than %d", c.ID, len(c.Context), MaxChangeContextBytes)
		}
		switch c.Type {
		case AddVoter:
			if isVoter {
				return bad("%d is already a voter", c.ID)
			}
			delete(learners, c.ID)
			voters[c.ID] = struct{}{}
		case AddLearner:
			if isLearner {
				return bad("%d is already a learner", c.ID)
			}
			delete(voters, c.ID)
			learners[c.ID] = struct{}{}
		case RemoveMember:
			if !isVoter && !isLearner {
				return bad("%d is not a member", c.ID)
			}
			delete(voters, c.ID)
			delete(learners, c.ID)
		default:
			return bad("%v of member %d", c.Type, c.ID)
		}
	}
	if len(voters) == 0 {
		return bad("no voter would be left")
	}
	return nil
}

// checkApplicable reports whether raft can apply cc to cfg: raft panics on
// a conf change it cannot apply, so none must reach it.
func checkApplicable(cfg tracker.Config, cc *pb.ConfChangeV2) error {
	chg := confchange.Changer{Tracker: tracker.MakeProgressTracker(1, 0), LastIndex: 1}
	c, trk, err := confchange.Restore(chg, confStateOf(cfg))
	if err != nil {
		return fmt.Errorf("restoring the configuration %s: %w", cfg, err)
	}
	chg.Tracker.Config, chg.Tracker.Progress = c, trk
	switch autoLeave, joint := cc.EnterJoint(); {
	case cc.LeaveJoint():
		_, _, err = chg.LeaveJoint()
	case joint:
		_, _, err = chg.EnterJoint(autoLeave, cc.Changes...)
	default:
		_, _, err = chg.Simple(cc.Changes...)
	}
	return err
}

// noteAppended finds, in the entries of a Ready, the entry of the change
// proposed last, which raft appended when it took the proposal: if it is
// not there, raft replaced it with an empty entry (another change was
// pending) or, if this member lost leadership meanwhile, dropped it. It
// runs on the Ready loop before the entries are persisted.
func (n *Node) noteAppended(ents []*pb.Entry, soft *raft.SoftState) {
	w := n.changeWaiting
	if w == nil || w.index != 0 {
		return
	}
	for _, e := range ents {
		if e.GetType() != pb.EntryConfChangeV2 {
			continue
		}
		if id, seq, ok := n.confTag(e); ok && id == n.cfg.ID && seq == w.seq {
			w.index = e.GetIndex()
			return
		}
	}
	err := ErrChangeInProgress
	if soft != nil && soft.RaftState != raft.StateLeader {
		err = ErrChangeDropped
	}
	n.resolveChange(changeResult{err: err})
}

func (n *Node) confTag(e *pb.Entry) (proposer, seq uint64, ok bool) {
	cc := &pb.ConfChangeV2{}
	if proto.Unmarshal(e.GetData(), cc) != nil {
		return 0, 0, false
	}
	proposer, seq, _, ok = decodeConfContext(cc.GetContext(), len(cc.GetChanges()))
	return proposer, seq, ok
}

func (n *Node) resolveChange(r changeResult) {
	n.changeWaiting.done <- r
	n.changeWaiting = nil
}

// resolveLostChange fails the waiting change if the entry at its index was
// applied and was not it (a new leader overwrote it). It runs on the Ready
// loop after every apply.
func (n *Node) resolveLostChange() {
	if w := n.changeWaiting; w != nil && w.index != 0 && w.index <= n.applied {
		n.resolveChange(changeResult{err: ErrChangeDropped})
	}
}

// applyConf applies the decoded conf change cc of entry e to raft and the
// Log, unless raft could not apply it (then it changes nothing, the same
// on every member, and says so in the log), and resolves the waiting
// ProposeChange if e is its change.
func (n *Node) applyConf(e *pb.Entry, cc pb.ConfChangeI) error {
	v2 := cc.AsV2()
	cfg := n.rn.Status().Config
	if len(cfg.Voters[0]) == 0 && len(cfg.Voters[1]) == 0 {
		return fmt.Errorf("raftnode: conf change at index %d on a member with no configuration: a member that joins (Config.Join) needs the cluster's initial voters as Config.Peers, or a snapshot from the leader", e.GetIndex())
	}
	applied := confApplied{index: e.GetIndex()}
	proposer, seq, contexts, tagged := decodeConfContext(v2.GetContext(), len(v2.GetChanges()))
	for i, c := range v2.GetChanges() {
		ch := Change{Type: changeTypeOf(c.GetType()), ID: c.GetNodeId()}
		if tagged {
			ch.Context = contexts[i]
		}
		applied.changes = append(applied.changes, ch)
	}
	var refused error
	if err := checkApplicable(cfg, v2); err != nil {
		// Every member refuses it alike: they all apply it to the same
		// configuration.
		refused = fmt.Errorf("%w: raft cannot apply it to %s: %w", ErrBadChange, cfg, err)
		n.logger.Warn("conf change refused", "index", e.GetIndex(), "change", v2.String(), "err", err)
		applied.membership = n.membership
	} else {
		cs := n.rn.ApplyConfChange(cc)
		contexts := contextsAfter(n.membership.Contexts, applied.changes)
		if err := n.cfg.Log.SetMembership(cs, contexts); err != nil {
			return fmt.Errorf("raftnode: recording the ConfState of index %d: %w", e.GetIndex(), err)
		}
		applied.membership = n.setConfState(cs, contexts)
		n.membershipChanged(applied.membership)
		n.logger.Info("membership changed", "index", e.GetIndex(), "voters", cs.GetVoters(),
			"voters_outgoing", cs.GetVotersOutgoing(), "learners", cs.GetLearners())
	}
	n.lastConf = applied
	if w := n.changeWaiting; w != nil && w.index == e.GetIndex() {
		if tagged && proposer == n.cfg.ID && seq == w.seq {
			n.resolveChange(changeResult{m: applied.membership, err: refused})
		} else {
			n.resolveChange(changeResult{err: ErrChangeDropped})
		}
	}
	return nil
}

// TransferLeadership hands leadership to voter to, or, with to 0, to the
// voter other than this member that has been heard from in the last
// election timeout and whose log is the most up to date (the lowest id
// among equals); with to 0 and no such voter it fails at once rather than
// wait on members that are down. It must be called on the leader (ErrNotLeader
// otherwise) and waits until this member knows of another leader, asking
// raft again each election timeout (raft gives up a transfer after one),
// until ctx ends: then it returns ctx's error, and this member may still
// be leader. While a transfer is under way raft drops proposals
// (ErrProposalDropped). It is meant for a graceful shutdown.
func (n *Node) TransferLeadership(ctx context.Context, to uint64) error {
	if to == n.cfg.ID {
		return fmt.Errorf("raftnode: transferring leadership to %d, this member", to)
	}
	ask := func() error { return n.onLoop(ctx, func() error { return n.transferLeadership(to) }) }
	if err := ask(); err != nil {
		return err
	}
	retry := time.Duration(n.cfg.ElectionTick) * n.cfg.TickInterval
	tick := time.NewTicker(n.cfg.TickInterval)
	defer tick.Stop()
	asked := time.Now()
	for {
		if st := n.Status(); st.Lead != 0 && st.Lead != n.cfg.ID {
			return nil
		}
		select {
		case <-tick.C:
		case <-n.done:
			return ErrStopped
		case <-ctx.Done():
			return ctx.Err()
		}
		if time.Since(asked) >= retry {
			asked = time.Now()
			if err := ask(); err != nil && !errors.Is(err, ErrNotLeader) {
				return err
			}
		}
	}
}

// transferLeadership picks the transferee and asks raft. It runs on the
// Ready loop.
func (n *Node) transferLeadership(to uint64) error {
	st := n.rn.Status()
	if st.RaftState != raft.StateLeader {
		return ErrNotLeader
	}
	voters := st.Config.Voters.IDs()
	if to == 0 {
		var best uint64
		for _, id := range slices.Sorted(maps.Keys(voters)) {
			// A voter not heard from lately (CheckQuorum resets the
			// flag each election timeout) is likely down: a transfer
			// to it would only stall until raft gives up.
			if id == n.cfg.ID || !st.Progress[id].RecentActive {
				continue
			}
			if best == 0 || st.Progress[id].Match > st.Progress[best].Match {
				best = id
			}
		}
		if best == 0 {
			return errors.New("raftnode: transferring leadership: no other voter has been heard from lately")
		}
		to = best
	} else if _, ok := voters[to]; !ok {
		return fmt.Errorf("raftnode: transferring leadership to %d: not a voter", to)
	}
	n.logger.Info("transferring leadership", "to", to, "term", st.Term)
	n.rn.TransferLeader(to)
	return nil
}
