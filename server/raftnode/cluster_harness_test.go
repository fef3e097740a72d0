package raftnode

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/arbor-coord/arbor/server/transport"
)

// *Node is what a transport delivers to.
var _ transport.Raft = (*Node)(nil)

// Cluster timing: 10ms ticks, an election timeout of 100-200ms.
const (
	clusterTick          = 10 * time.Millisecond
	clusterElectionTick  = 10
	clusterElectionDelay = clusterElectionTick * clusterTick
)

// member is one member of a test cluster: its store and its recorder
// outlive its Nodes, so a restarted member goes on from what it applied.
type member struct {
	id    uint64
	store *store
	rec   *recorder
	node  *Node               // nil while down
	ep    *transport.Endpoint // nil while down
}

// testCluster runs members on one transport.Network and watches their
// Status from the side: at most one leader per term, no Node stopped by
// an error.
type testCluster struct {
	t        testing.TB
	founders []uint64 // the initial voters, every member's Config.Peers
	net      *transport.Network
	// tweak, if set, adjusts each member's Config before Start.
	tweak func(*Config)

	mu sync.Mutex
	// ids are every member ever added, founders first; the test's
	// goroutine appends to them (addMember), under mu.
	ids        []uint64
	removed    map[uint64]bool // members removed from the configuration
	members    map[uint64]*member
	leaders    map[uint64]uint64 // term → the leader seen in it
	violations []string

	stopMonitor chan struct{}
	monitorDone chan struct{}
}

// newCluster starts members 1..size, each on its own in-memory Pebble,
// and waits for a leader.
func newCluster(t testing.TB, size int, seed uint64) *testCluster {
	t.Helper()
	return newClusterWith(t, size, seed, nil)
}

// newClusterWith is newCluster with each member's Config adjusted by tweak.
func newClusterWith(t testing.TB, size int, seed uint64, tweak func(*Config)) *testCluster {
	t.Helper()
	c := &testCluster{
		tweak:       tweak,
		t:           t,
		net:         transport.NewNetwork(seed, nil),
		members:     make(map[uint64]*member),
		removed:     make(map[uint64]bool),
		leaders:     make(map[uint64]uint64),
		stopMonitor: make(chan struct{}),
		monitorDone: make(chan struct{}),
	}
	for i := 1; i <= size; i++ {
		id := uint64(i)
		c.ids = append(c.ids, id)
		c.members[id] = &member{id: id, store: openStore(t, vfs.NewMem(), "db"), rec: newRecorder(t, 0)}
	}
	c.founders = slices.Clone(c.ids)
	// Registered after the stores, so it runs before they close.
	t.Cleanup(c.close)
	for _, id := range c.ids {
		c.start(id)
	}
	go c.monitor()
	return c
}

// addMember adds member id, on a new empty store, to the cluster's
// members (not to its raft configuration: that is ProposeChange's job)
// and starts it with Config.Join.
func (c *testCluster) addMember(id uint64) {
	c.t.Helper()
	m := &member{id: id, store: openStore(c.t, vfs.NewMem(), "db"), rec: newRecorder(c.t, 0)}
	// Registered after the store, so it runs before the store closes.
	c.t.Cleanup(func() {
		if c.node(id) != nil {
			c.crash(id)
		}
	})
	c.mu.Lock()
	if c.members[id] != nil {
		c.mu.Unlock()
		c.t.Fatalf("member %d exists", id)
	}
	c.members[id] = m
	c.ids = append(c.ids, id)
	c.mu.Unlock()
	c.start(id)
}

// markRemoved records that member id was removed from the configuration:
// it no longer has to keep up with the others.
func (c *testCluster) markRemoved(id uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.removed[id] = true
}

// active returns the members not removed from the configuration.
func (c *testCluster) active() []uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.DeleteFunc(slices.Clone(c.ids), func(id uint64) bool { return c.removed[id] })
}

// start starts member id's Node on its store, from its recorder's applied
// index, on a new Endpoint. Every member gets the founders as Peers; a
// member that is not one of them starts with Join.
func (c *testCluster) start(id uint64) {
	c.t.Helper()
	m := c.member(id)
	ep := c.net.Add(id)
	cfg := Config{
		ID:            id,
		Peers:         c.founders,
		Join:          !slices.Contains(c.founders, id),
		Log:           m.store.log,
		Applied:       m.rec.appliedIndex(),
		Applier:       m.rec,
		Transport:     ep,
		TickInterval:  clusterTick,
		ElectionTick:  clusterElectionTick,
		HeartbeatTick: 1,
		SnapshotDir:   "snap",
		SnapshotFS:    m.store.fs,
	}
	if c.tweak != nil {
		c.tweak(&cfg)
	}
	n, err := Start(cfg)
	if err != nil {
		c.t.Fatalf("starting member %d: %v", id, err)
	}
	ep.Start(n)
	c.mu.Lock()
	m.node, m.ep = n, ep
	c.mu.Unlock()
}

// crash stops member id's Node, detaches it from the network and reopens
// its database, as a process crash and restart would (with nothing lost:
// the in-memory filesystem keeps every write).
func (c *testCluster) crash(id uint64) {
	c.t.Helper()
	m := c.member(id)
	c.mu.Lock()
	n, ep := m.node, m.ep
	m.node, m.ep = nil, nil
	c.mu.Unlock()
	if n == nil {
		c.t.Fatalf("member %d is already down", id)
	}
	stopNode(c.t, n)
	ep.Close()
	m.store.reopen()
}

func (c *testCluster) member(id uint64) *member {
	c.t.Helper()
	c.mu.Lock()
	m := c.members[id]
	c.mu.Unlock()
	if m == nil {
		c.t.Fatalf("no member %d", id)
	}
	return m
}

// node returns member id's running Node, or nil.
func (c *testCluster) node(id uint64) *Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.members[id].node
}

func (c *testCluster) status(id uint64) (Status, bool) {
	n := c.node(id)
	if n == nil {
		return Status{}, false
	}
	return n.Status(), true
}

func (c *testCluster) close() {
	close(c.stopMonitor)
	<-c.monitorDone
	c.mu.Lock()
	ids := slices.Clone(c.ids)
	c.mu.Unlock()
	for _, id := range ids {
		if c.node(id) != nil {
			c.crash(id)
		}
	}
	c.net.Close()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, v := range c.violations {
		c.t.Error(v)
	}
}

// monitor samples every running member's Status each millisecond and
// records violations: two leaders in one term, a Node stopped by an error.
func (c *testCluster) monitor() {
	defer close(c.monitorDone)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-c.stopMonitor:
			return
		case <-tick.C:
		}
		c.check()
	}
}

func (c *testCluster) check() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range c.ids {
		n := c.members[id].node
		if n == nil {
			continue
		}
		if err := n.Err(); err != nil {
			c.violations = append(c.violations, fmt.Sprintf("member %d stopped: %v", id, err))
			c.members[id].node = nil // report it once
			continue
		}
		st := n.Status()
		if t := n.Term(); t < st.Term {
			c.violations = append(c.violations, fmt.Sprintf("member %d: Term() %d read after Status().Term %d: terms went back", id, t, st.Term))
		}
		if st.Role != RoleLeader {
			continue
		}
		if prev, ok := c.leaders[st.Term]; !ok {
			c.leaders[st.Term] = st.ID
		} else if prev != st.ID {
			c.violations = append(c.violations, fmt.Sprintf("two leaders in term %d: %d and %d", st.Term, prev, st.ID))
		}
	}
}

// leaderTerms returns the leader sampled in each term that had one.
func (c *testCluster) leaderTerms() map[uint64]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.leaders)
}

// waitLeader waits until one of among is leader and every other running
// member of among follows it in its term, and returns it.
func (c *testCluster) waitLeader(among ...uint64) (id, term uint64) {
	c.t.Helper()
	if len(among) == 0 {
		among = c.active()
	}
	waitUntil(c.t, fmt.Sprintf("a leader among %v", among), func() bool {
		id, term = 0, 0
		for _, m := range among {
			if st, ok := c.status(m); ok && st.Role == RoleLeader {
				id, term = m, st.Term
			}
		}
		if id == 0 {
			return false
		}
		for _, m := range among {
			if st, ok := c.status(m); ok && (st.Lead != id || st.Term != term) {
				return false
			}
		}
		return true
	})
	return id, term
}

// waitNewLeader waits until the members other than old follow a leader
// among them, in a term past term, and returns it and those members.
func (c *testCluster) waitNewLeader(old, term uint64) (lead, newTerm uint64, rest []uint64) {
	c.t.Helper()
	rest = slices.DeleteFunc(c.active(), func(id uint64) bool { return id == old })
	lead, newTerm = c.waitLeader(rest...)
	if newTerm <= term {
		c.t.Fatalf("new leader %d in term %d, not past the old term %d", lead, newTerm, term)
	}
	return lead, newTerm, rest
}

// indexOf returns the index at which data was applied, if it was. r.mu is
// held.
func (r *recorder) indexOf(data string) (uint64, bool) {
	for _, e := range r.entries {
		if e.Type == EntryNormal && string(e.Data) == data {
			return e.Index, true
		}
	}
	return 0, false
}

// appliedAt returns where member id applied data, if it has.
func (c *testCluster) appliedAt(id uint64, data string) (uint64, bool) {
	r := c.member(id).rec
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.indexOf(data)
}

// tryCommit proposes data on member id and waits up to ackWait for that
// member to apply it: it returns the index where it did, and whether it
// did (the proposal is acknowledged). While raft refuses the proposal (no
// leader known) it proposes again each tick; once raft took it, it waits.
func (c *testCluster) tryCommit(id uint64, data string, ackWait time.Duration) (uint64, bool) {
	n := c.node(id)
	if n == nil {
		return 0, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), ackWait)
	defer cancel()
	for {
		err := n.Propose(ctx, []byte(data))
		if err == nil {
			break
		}
		if !errors.Is(err, ErrProposalDropped) {
			return 0, false
		}
		select {
		case <-ctx.Done():
			return 0, false
		case <-time.After(clusterTick):
		}
	}
	for ctx.Err() == nil {
		if i, ok := c.appliedAt(id, data); ok {
			return i, true
		}
		time.Sleep(time.Millisecond)
	}
	return c.appliedAt(id, data)
}

// commit proposes data on member id until it is applied there, retrying
// (with the same data: a retry may commit it twice) for at most
// waitTimeout, and returns the index where it was first applied.
func (c *testCluster) commit(id uint64, data string) uint64 {
	c.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for time.Now().Before(deadline) {
		if i, ok := c.tryCommit(id, data, 10*clusterElectionDelay); ok {
			return i
		}
		if i, ok := c.appliedAt(id, data); ok {
			return i
		}
	}
	c.t.Fatalf("member %d could not commit %q", id, data)
	return 0
}

// converge commits a marker through member via and waits until every
// running member has applied everything via has, then checks that every
// member applied the same entries (a removed member: a prefix of them).
func (c *testCluster) converge(via uint64, marker string) {
	c.t.Helper()
	c.commit(via, marker)
	want := c.member(via).rec.appliedIndex()
	for _, id := range c.active() {
		if c.node(id) == nil {
			continue
		}
		r := c.member(id).rec
		waitUntil(c.t, fmt.Sprintf("member %d to apply up to %d", id, want), func() bool { return r.appliedIndex() >= want })
	}
	c.checkLogs(true)
}

// logEntry is what is compared of an applied entry across members.
type logEntry struct {
	Index, Term uint64
	Type        EntryType
	Data        string
	Conf        string // a conf change's Changes and Membership
}

func (c *testCluster) applied(id uint64) []logEntry {
	r := c.member(id).rec
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]logEntry, len(r.entries))
	for i, e := range r.entries {
		out[i] = logEntry{e.Index, e.Term, e.Type, string(e.Data), ""}
		if e.Type == EntryConfChange {
			out[i].Conf = fmt.Sprintf("%v %+v", e.Changes, *e.Membership)
		}
	}
	return out
}

// checkLogs checks that the members' applied entries are prefixes of one
// another, each starting at index 1 (same as the other members': equal).
func (c *testCluster) checkLogs(same bool) {
	c.t.Helper()
	var longest []logEntry
	var from uint64
	for _, id := range c.ids {
		log := c.applied(id)
		for i, e := range log {
			if e.Index != uint64(i+1) {
				c.t.Fatalf("member %d applied index %d at position %d", id, e.Index, i)
			}
		}
		n := min(len(log), len(longest))
		if !slices.Equal(log[:n], longest[:n]) {
			for i := range n {
				if log[i] != longest[i] {
					c.t.Fatalf("members %d and %d applied different entries at index %d: %+v and %+v", id, from, i+1, log[i], longest[i])
				}
			}
		}
		if len(log) > len(longest) {
			longest, from = log, id
		}
	}
	if !same {
		return
	}
	// The members still in the configuration applied the same number.
	var n int
	from = 0
	for _, id := range c.active() {
		if l := len(c.applied(id)); from == 0 {
			n, from = l, id
		} else if l != n {
			c.t.Fatalf("member %d applied %d entries, member %d %d", id, l, from, n)
		}
	}
}

// ack is an acknowledged proposal: applied on its proposer at index.
type ack struct {
	data  string
	index uint64
}

// checkAcks checks that every acknowledged proposal is, on every member
// that applied that far, at its index, and nowhere else.
func (c *testCluster) checkAcks(acks []ack) {
	c.t.Helper()
	for _, id := range c.ids {
		log := c.applied(id)
		at := make(map[string][]uint64)
		for _, e := range log {
			if e.Type == EntryNormal && e.Data != "" {
				at[e.Data] = append(at[e.Data], e.Index)
			}
		}
		for _, a := range acks {
			if a.index > uint64(len(log)) {
				continue
			}
			if got := at[a.data]; !slices.Equal(got, []uint64{a.index}) {
				c.t.Fatalf("member %d applied %q at %v, want only at %d, where it was acknowledged", id, a.data, got, a.index)
			}
		}
	}
}

// notApplied fails if any member applied one of data.
func (c *testCluster) notApplied(data ...string) {
	c.t.Helper()
	for _, id := range c.ids {
		for _, d := range data {
			if i, ok := c.appliedAt(id, d); ok {
				c.t.Fatalf("member %d applied %q at %d", id, d, i)
			}
		}
	}
}
