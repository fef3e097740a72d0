package raftnode

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// anyLeader waits until a running member in the configuration is leader,
// without waiting for the others (a member that joins follows no one yet).
func (c *testCluster) anyLeader() uint64 {
	c.t.Helper()
	var lead uint64
	waitUntil(c.t, "a leader", func() bool {
		for _, id := range c.active() {
			if st, ok := c.status(id); ok && st.Role == RoleLeader {
				lead = id
				return true
			}
		}
		return false
	})
	return lead
}

// change proposes changes on the leader, retrying while leadership moves.
func (c *testCluster) change(changes ...Change) Membership {
	c.t.Helper()
	for range 20 {
		lead := c.anyLeader()
		m, err := c.node(lead).ProposeChange(testCtx(c.t), changes...)
		if err == nil {
			return m
		}
		if !errors.Is(err, ErrNotLeader) && !errors.Is(err, ErrChangeDropped) && !errors.Is(err, ErrChangeInProgress) {
			c.t.Fatalf("ProposeChange(%v) on leader %d: %v", changes, lead, err)
		}
		c.t.Logf("ProposeChange(%v) on %d: %v; retrying", changes, lead, err)
	}
	c.t.Fatalf("ProposeChange(%v) never went through", changes)
	return Membership{}
}

// waitMembership waits until every running member in the configuration
// reports voters and learners in Status.
func (c *testCluster) waitMembership(voters, learners []uint64) {
	c.t.Helper()
	waitUntil(c.t, fmt.Sprintf("voters %v learners %v everywhere", voters, learners), func() bool {
		for _, id := range c.active() {
			st, ok := c.status(id)
			if ok && (!slices.Equal(st.Voters, voters) || !slices.Equal(st.Learners, learners)) {
				return false
			}
		}
		return true
	})
}

// waitCaughtUp waits until the leader's Progress shows id matching at
// least index.
func (c *testCluster) waitCaughtUp(id, index uint64) {
	c.t.Helper()
	waitUntil(c.t, fmt.Sprintf("member %d to match %d", id, index), func() bool {
		st, _ := c.status(c.anyLeader())
		return st.Progress[id] >= index
	})
}

// TestClusterAddLearnerPromote: a member that joins with an empty log,
// added as a learner, receives every entry (the conf changes included,
// with their Contexts) and does not vote; promoted, it is a voter.
func TestClusterAddLearnerPromote(t *testing.T) {
	for _, size := range []int{3, 5} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			c := newCluster(t, size, 11)
			lead, _ := c.waitLeader()
			var acks []ack
			for i := range 10 {
				data := fmt.Sprint("before-", i)
				acks = append(acks, ack{data, c.commit(lead, data)})
			}
			founders := slices.Clone(c.founders)
			added := uint64(size + 1)
			c.addMember(added)
			// It starts from the initial configuration, without itself.
			if st, _ := c.status(added); st.Role != RoleFollower || !slices.Equal(st.Voters, founders) || len(st.Learners) != 0 {
				t.Fatalf("joining member before it was added: %+v", st)
			}
			m := c.change(Change{Type: AddLearner, ID: added, Context: []byte("addr-new")})
			if !slices.Equal(m.Voters, founders) || !slices.Equal(m.Learners, []uint64{added}) {
				t.Fatalf("after adding a learner: %+v", m)
			}
			c.waitMembership(founders, []uint64{added})
			c.converge(lead, "learner-caught-up")
			if st, _ := c.status(added); st.Role != RoleFollower {
				t.Fatalf("learner: %+v", st)
			}
			// The learner applied the conf change with its context.
			var seen bool
			rec := c.member(added).rec
			rec.mu.Lock()
			for _, e := range rec.entries {
				if e.Type == EntryConfChange && len(e.Changes) == 1 && e.Changes[0].ID == added && e.Changes[0].Type == AddLearner && string(e.Changes[0].Context) == "addr-new" {
					seen = e.Membership != nil && slices.Equal(e.Membership.Learners, []uint64{added})
				}
			}
			rec.mu.Unlock()
			if !seen {
				t.Fatalf("the learner did not apply its own addition with its context")
			}
			lead, _ = c.waitLeader()
			st, _ := c.status(lead)
			c.waitCaughtUp(added, st.Commit)

			m = c.change(Change{Type: AddVoter, ID: added})
			all := append(slices.Clone(founders), added)
			if !slices.Equal(m.Voters, all) || len(m.Learners) != 0 {
				t.Fatalf("after the promotion: %+v", m)
			}
			c.waitMembership(all, nil)
			for i := range 10 {
				data := fmt.Sprint("after-", i)
				acks = append(acks, ack{data, c.commit(c.ids[i%len(c.ids)], data)})
			}
			c.converge(added, "end")
			c.checkAcks(acks)
		})
	}
}

// TestClusterRemoveFollower: a removed follower receives nothing committed
// after its removal; the others go on committing.
func TestClusterRemoveFollower(t *testing.T) {
	c := newCluster(t, 3, 12)
	lead, term := c.waitLeader()
	var acks []ack
	for i := range 5 {
		data := fmt.Sprint("before-", i)
		acks = append(acks, ack{data, c.commit(lead, data)})
	}
	gone := c.ids[0]
	if gone == lead {
		gone = c.ids[1]
	}
	m := c.change(Change{Type: RemoveMember, ID: gone})
	if slices.Contains(m.Members(), gone) || len(m.Voters) != 2 {
		t.Fatalf("after removing %d: %+v", gone, m)
	}
	c.markRemoved(gone)
	var after []string
	for i := range 10 {
		data := fmt.Sprint("after-", i)
		after = append(after, data)
		acks = append(acks, ack{data, c.commit(c.active()[i%2], data)})
	}
	c.converge(lead, "end")
	c.checkAcks(acks)
	for _, d := range after {
		if i, ok := c.appliedAt(gone, d); ok {
			t.Fatalf("removed member %d applied %q at %d", gone, d, i)
		}
	}
	if st, _ := c.status(lead); st.Term != term || st.Role != RoleLeader {
		t.Fatalf("leader after removing a follower: %+v, want still leader of term %d", st, term)
	}
	if st, _ := c.status(lead); slices.Contains(st.Voters, gone) || st.Progress[gone] != 0 {
		t.Fatalf("leader's status still has %d: %+v", gone, st)
	}
}

// TestClusterRemoveLeader: the removed leader steps down and the rest
// elect a new leader among them and go on.
func TestClusterRemoveLeader(t *testing.T) {
	c := newCluster(t, 5, 13)
	lead, term := c.waitLeader()
	var acks []ack
	for i := range 5 {
		data := fmt.Sprint("before-", i)
		acks = append(acks, ack{data, c.commit(lead, data)})
	}
	m, err := c.node(lead).ProposeChange(testCtx(t), Change{Type: RemoveMember, ID: lead})
	if err != nil {
		t.Fatalf("removing the leader: %v", err)
	}
	if slices.Contains(m.Members(), lead) {
		t.Fatalf("after removing the leader %d: %+v", lead, m)
	}
	c.markRemoved(lead)
	lead2, _, rest := c.waitNewLeader(lead, term)
	waitUntil(t, "the removed leader to step down", func() bool {
		st, _ := c.status(lead)
		return st.Role != RoleLeader
	})
	for i := range 10 {
		data := fmt.Sprint("after-", i)
		acks = append(acks, ack{data, c.commit(rest[i%len(rest)], data)})
	}
	c.converge(lead2, "end")
	c.checkAcks(acks)
	c.waitMembership(rest, nil)
	if _, err := c.node(lead).ProposeChange(testCtx(t), Change{Type: AddLearner, ID: 9}); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("ProposeChange on the removed member: %v, want ErrNotLeader", err)
	}
}

// TestClusterJointChange: two voter changes at once go through a joint
// configuration, which raft leaves by itself; while it is joint a further
// change is refused, without effect.
func TestClusterJointChange(t *testing.T) {
	c := newCluster(t, 3, 14)
	lead, _ := c.waitLeader()
	c.addMember(4)
	c.change(Change{Type: AddLearner, ID: 4})
	st, _ := c.status(lead)
	c.waitCaughtUp(4, st.Commit)
	gone := c.ids[0]
	if gone == lead {
		gone = c.ids[1]
	}
	m := c.change(Change{Type: AddVoter, ID: 4}, Change{Type: RemoveMember, ID: gone})
	want := slices.DeleteFunc([]uint64{1, 2, 3, 4}, func(id uint64) bool { return id == gone })
	if !slices.Equal(m.Voters, want) || !slices.Equal(m.VotersOutgoing, []uint64{1, 2, 3}) {
		t.Fatalf("after the joint change: %+v, want voters %v outgoing [1 2 3]", m, want)
	}
	// Raft leaves the joint configuration by itself; until it has, a
	// further change is refused.
	lead, _ = c.waitLeader()
	if _, err := c.node(lead).ProposeChange(testCtx(t), Change{Type: AddLearner, ID: 9}); err != nil && !errors.Is(err, ErrChangeInProgress) {
		t.Fatalf("a change while joint: %v, want ErrChangeInProgress (or success if the joint config was left)", err)
	} else if err == nil {
		c.change(Change{Type: RemoveMember, ID: 9})
	}
	waitUntil(t, "the joint configuration to be left", func() bool {
		return len(c.node(lead).Membership().VotersOutgoing) == 0
	})
	c.markRemoved(gone)
	c.waitMembership(want, nil)
	c.converge(lead, "end")
}

// TestClusterConcurrentChanges: of two changes proposed at once, one is
// made and the other refused with ErrChangeInProgress; nothing else
// changes.
func TestClusterConcurrentChanges(t *testing.T) {
	c := newCluster(t, 3, 15)
	lead, _ := c.waitLeader()
	n := c.node(lead)
	var (
		wg   sync.WaitGroup
		errs [2]error
	)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = n.ProposeChange(testCtx(t), Change{Type: AddLearner, ID: uint64(10 + i)})
		})
	}
	wg.Wait()
	var made []uint64
	for i, err := range errs {
		switch {
		case err == nil:
			made = append(made, uint64(10+i))
		case errors.Is(err, ErrChangeInProgress):
		default:
			t.Fatalf("change %d: %v", i, err)
		}
	}
	if len(made) == 0 {
		t.Fatalf("no change made: %v", errs)
	}
	// Both may be made if the first was applied before the second came.
	c.waitMembership([]uint64{1, 2, 3}, made)
	c.converge(lead, "end")
}

// TestClusterBadChanges: ProposeChange refuses changes that make no sense,
// and a follower refuses them all.
func TestClusterBadChanges(t *testing.T) {
	c := newCluster(t, 3, 16)
	lead, _ := c.waitLeader()
	c.change(Change{Type: AddLearner, ID: 7})
	n := c.node(lead)
	for _, tc := range []struct {
		name    string
		changes []Change
	}{
		{"none", nil},
		{"id 0", []Change{{Type: AddLearner}}},
		{"voter as voter", []Change{{Type: AddVoter, ID: lead}}},
		{"learner as learner", []Change{{Type: AddLearner, ID: 7}}},
		{"unknown removed", []Change{{Type: RemoveMember, ID: 8}}},
		{"twice", []Change{{Type: AddLearner, ID: 8}, {Type: AddVoter, ID: 8}}},
		{"no type", []Change{{ID: 8}}},
		{"large context", []Change{{Type: AddLearner, ID: 8, Context: make([]byte, MaxChangeContextBytes+1)}}},
		{"every voter", []Change{{Type: RemoveMember, ID: 1}, {Type: RemoveMember, ID: 2}, {Type: RemoveMember, ID: 3}}},
	} {
		if _, err := n.ProposeChange(testCtx(t), tc.changes...); !errors.Is(err, ErrBadChange) {
			t.Errorf("%s: %v, want ErrBadChange", tc.name, err)
		}
	}
	follower := c.ids[0]
	if follower == lead {
		follower = c.ids[1]
	}
	if _, err := c.node(follower).ProposeChange(testCtx(t), Change{Type: AddLearner, ID: 8}); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("on a follower: %v, want ErrNotLeader", err)
	}
	c.waitMembership([]uint64{1, 2, 3}, []uint64{7})
	c.converge(lead, "end")
}

// TestClusterTransferLeadership: the leader hands over to a chosen voter,
// then to the most caught-up one; a follower and a learner cannot take
// part.
func TestClusterTransferLeadership(t *testing.T) {
	c := newCluster(t, 3, 17)
	lead, term := c.waitLeader()
	var acks []ack
	acks = append(acks, ack{"before", c.commit(lead, "before")})
	to := c.ids[0]
	if to == lead {
		to = c.ids[1]
	}
	follower := c.ids[0] + c.ids[1] + c.ids[2] - lead - to
	if err := c.node(follower).TransferLeadership(testCtx(t), 0); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("transfer from a follower: %v, want ErrNotLeader", err)
	}
	if err := c.node(lead).TransferLeadership(testCtx(t), lead); err == nil {
		t.Fatal("transfer to itself succeeded")
	}
	c.change(Change{Type: AddLearner, ID: 9})
	if err := c.node(lead).TransferLeadership(testCtx(t), 9); err == nil {
		t.Fatal("transfer to a learner succeeded")
	}
	if err := c.node(lead).TransferLeadership(testCtx(t), to); err != nil {
		t.Fatalf("transfer to %d: %v", to, err)
	}
	lead2, term2 := c.waitLeader()
	if lead2 == lead || term2 <= term {
		t.Fatalf("after a transfer to %d: leader %d in term %d (was %d in %d)", to, lead2, term2, lead, term)
	}
	acks = append(acks, ack{"middle", c.commit(lead2, "middle")})
	if err := c.node(lead2).TransferLeadership(testCtx(t), 0); err != nil {
		t.Fatalf("transfer to any: %v", err)
	}
	lead3, term3 := c.waitLeader()
	if lead3 == lead2 || term3 <= term2 {
		t.Fatalf("after a transfer to any: leader %d in term %d (was %d in %d)", lead3, term3, lead2, term2)
	}
	acks = append(acks, ack{"after", c.commit(lead3, "after")})
	c.converge(lead3, "end")
	c.checkAcks(acks)
}

// TestClusterRestartAfterChanges: members restarted after membership
// changed, with the founders as Peers still, come back with the stored
// configuration, the joined member too.
func TestClusterRestartAfterChanges(t *testing.T) {
	c := newCluster(t, 3, 18)
	lead, _ := c.waitLeader()
	c.addMember(4)
	c.change(Change{Type: AddLearner, ID: 4})
	st, _ := c.status(lead)
	c.waitCaughtUp(4, st.Commit)
	c.change(Change{Type: AddVoter, ID: 4})
	gone := c.ids[0]
	if gone == lead {
		gone = c.ids[1]
	}
	c.change(Change{Type: RemoveMember, ID: gone})
	c.markRemoved(gone)
	want := slices.DeleteFunc([]uint64{1, 2, 3, 4}, func(id uint64) bool { return id == gone })
	c.waitMembership(want, nil)
	c.converge(lead, "changed")
	for _, id := range want {
		c.crash(id)
		c.start(id)
		if m := c.node(id).Membership(); !slices.Equal(m.Voters, want) || len(m.Learners) != 0 {
			t.Fatalf("member %d restarted with %+v, want voters %v", id, m, want)
		}
		c.converge(id, fmt.Sprint("restarted-", id))
	}
	c.crash(gone)
	c.start(gone)
	// It has its own removal only if it learned of its commit in time.
	t.Logf("removed member %d restarted with %+v", gone, c.node(gone).Membership())
	c.converge(want[0], "end")
}

// TestProposeChangeReplaced: a change raft replaces with an empty entry,
// because another conf change is pending, fails with ErrChangeInProgress
// and changes nothing. The RawNode is driven by hand, as the loop drives
// it, after the loop has stopped.
func TestProposeChangeReplaced(t *testing.T) {
	s := openStore(t, vfs.NewMem(), "db")
	app := newRecorder(t, 0)
	n := startNode(t, s, app, 0)
	stopNode(t, n)
	n.cfg.Transport = &dropTransport{}
	other := &pb.ConfChangeV2{Changes: []*pb.ConfChangeSingle{{Type: pb.ConfChangeAddLearnerNode.Enum(), NodeId: proto.Uint64(2)}}}
	if err := n.rn.ProposeConfChange(other); err != nil {
		t.Fatal(err)
	}
	w := &changeWaiter{done: make(chan changeResult, 1)}
	if err := n.proposeChange(w, []Change{{Type: AddLearner, ID: 3}}); err != nil {
		t.Fatal(err)
	}
	for n.rn.HasReady() {
		if err := n.handleReady(); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case r := <-w.done:
		if !errors.Is(r.err, ErrChangeInProgress) {
			t.Fatalf("the replaced change: %+v, want ErrChangeInProgress", r)
		}
	default:
		t.Fatal("the replaced change was not resolved")
	}
	if m := n.Membership(); !slices.Equal(m.Voters, []uint64{1}) || !slices.Equal(m.Learners, []uint64{2}) {
		t.Fatalf("membership %+v, want voters [1] learners [2]", m)
	}
	// The other change came through to the Applier, decoded.
	var got []Change
	for _, e := range app.entries {
		if e.Type == EntryConfChange {
			got = append(got, e.Changes...)
		}
	}
	if !slices.EqualFunc(got, []Change{{Type: AddLearner, ID: 2}}, func(a, b Change) bool { return a.Type == b.Type && a.ID == b.ID }) {
		t.Fatalf("conf changes applied: %+v", got)
	}
	if n.changeWaiting != nil {
		t.Fatal("a waiter is left")
	}
}

// FuzzConfContext: decoding a conf change's context never panics, and
// what encodeConfContext makes decodes to what went in.
func FuzzConfContext(f *testing.F) {
	f.Add(uint64(1), uint64(7), []byte("addr"), []byte{}, 2)
	f.Add(uint64(1<<63), uint64(0), []byte(nil), []byte("x"), 1)
	f.Add(uint64(3), uint64(1), []byte("arbor-cc1"), []byte("\xff\xff"), 0)
	f.Fuzz(func(t *testing.T, proposer, seq uint64, a, b []byte, n int) {
		n = n & 3
		_, _, _, _ = decodeConfContext(a, n) // arbitrary bytes
		_, _, _, _ = decodeConfContext(append(slices.Clone(confContextMagic), a...), n)
		changes := []Change{{Context: a}, {Context: b}}
		p, s, ctxs, ok := decodeConfContext(encodeConfContext(proposer, seq, changes), 2)
		if !ok || p != proposer || s != seq || string(ctxs[0]) != string(a) || string(ctxs[1]) != string(b) {
			t.Fatalf("round trip of (%d, %d, %q, %q): %d %d %q %v", proposer, seq, a, b, p, s, ctxs, ok)
		}
		if _, _, _, ok := decodeConfContext(encodeConfContext(proposer, seq, changes), 1); ok {
			t.Fatal("decoded two contexts as one")
		}
	})
}

// TestClusterTransferSkipsDownVoter: a transfer to any voter passes over
// one that has not been heard from lately, even if its log is as long as
// the live one's and its id lower: a shutdown hands over to the live
// member instead of stalling on the dead one.
func TestClusterTransferSkipsDownVoter(t *testing.T) {
	c := newCluster(t, 3, 19)
	lead, term := c.waitLeader()
	c.converge(lead, "before")
	var followers []uint64
	for _, id := range c.ids {
		if id != lead {
			followers = append(followers, id)
		}
	}
	down, live := followers[0], followers[1]
	c.crash(down)
	// Two election timeouts: CheckQuorum clears the dead member's
	// recent activity at each one.
	time.Sleep(2 * clusterElectionTick * clusterTick)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := c.node(lead).TransferLeadership(ctx, 0); err != nil {
		t.Fatalf("transfer to any with member %d down: %v", down, err)
	}
	if lead2, term2 := c.waitLeader(lead, live); lead2 != live || term2 <= term {
		t.Fatalf("after the transfer: leader %d in term %d; want %d in a term after %d", lead2, term2, live, term)
	}
}
