package raftnode

import (
	"fmt"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// Small thresholds, so that a few hundred entries make several snapshots
// and compact the log well past what a lagging member has.
func snapshotTweak(c *Config) {
	c.SnapshotEntries = 50
	c.CatchUpEntries = 10
}

// followerOf returns a member other than lead.
func (c *testCluster) followerOf(lead uint64) uint64 {
	for _, id := range c.ids {
		if id != lead {
			return id
		}
	}
	panic("no follower")
}

// checkCompacted checks that every member's log was compacted past from.
func (c *testCluster) checkCompacted(from uint64) {
	c.t.Helper()
	for _, id := range c.ids {
		first, _ := c.member(id).store.log.FirstIndex()
		if first <= from {
			c.t.Fatalf("member %d: FirstIndex %d, want past %d (compacted)", id, first, from)
		}
	}
}

func (r *recorder) restoreCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.restores
}

// TestClusterSnapshotCatchUp: a follower cut off while the others commit
// several hundred entries (and compact their logs past its last entry)
// catches up by a snapshot after the partition heals, and ends with the
// same applied entries; every log is compacted.
func TestClusterSnapshotCatchUp(t *testing.T) {
	c := newClusterWith(t, 3, 11, snapshotTweak)
	lead, _ := c.waitLeader()
	follower := c.followerOf(lead)
	c.commit(lead, "before")
	c.net.Isolate(follower)
	behind := c.member(follower).rec.appliedIndex()
	for i := range 300 {
		c.commit(lead, fmt.Sprint("during-", i))
	}
	first, _ := c.member(lead).store.log.FirstIndex()
	if first <= behind+1 {
		t.Fatalf("the leader's log starts at %d: not compacted past the follower's %d", first, behind)
	}
	c.net.Heal()
	lead, _ = c.waitLeader()
	c.converge(lead, "end")
	if n := c.member(follower).rec.restoreCount(); n == 0 {
		t.Fatal("the follower caught up without a snapshot")
	}
	c.checkCompacted(behind + 1)
}

// TestClusterSnapshotFollowerRestart: a follower down while the others
// compact past its log restarts and is caught up by a snapshot.
func TestClusterSnapshotFollowerRestart(t *testing.T) {
	c := newClusterWith(t, 3, 12, snapshotTweak)
	lead, _ := c.waitLeader()
	follower := c.followerOf(lead)
	c.commit(lead, "before")
	c.crash(follower)
	for i := range 200 {
		c.commit(lead, fmt.Sprint("during-", i))
	}
	c.start(follower)
	c.converge(lead, "end")
	if n := c.member(follower).rec.restoreCount(); n == 0 {
		t.Fatal("the follower caught up without a snapshot")
	}
	c.checkCompacted(1)
}

// TestClusterSnapshotCrashBeforeRestore: a member stopped after raft
// persisted a received snapshot but before the Applier restored it
// finishes the restore from the received state when it starts again.
func TestClusterSnapshotCrashBeforeRestore(t *testing.T) {
	c := newClusterWith(t, 3, 14, snapshotTweak)
	lead, _ := c.waitLeader()
	follower := c.followerOf(lead)
	c.commit(lead, "before")
	c.net.Isolate(follower)
	for i := range 200 {
		c.commit(lead, fmt.Sprint("during-", i))
	}
	m := c.member(follower)
	hold := make(chan struct{})
	m.rec.mu.Lock()
	m.rec.holdRestore = hold
	m.rec.mu.Unlock()
	c.net.Heal()
	select {
	case <-hold:
	case <-time.After(waitTimeout):
		t.Fatal("the follower never restored a snapshot")
	}
	c.crash(follower) // Restore returns with its cancelled ctx
	applied := m.rec.appliedIndex()
	first, _ := m.store.log.FirstIndex()
	if first-1 <= applied {
		t.Fatalf("after the crash: compaction point %d, applied %d; want the persisted snapshot past applied", first-1, applied)
	}
	c.start(follower)
	if st, _ := c.status(follower); st.Applied != first-1 {
		t.Fatalf("restarted: applied %d, want the snapshot's index %d", st.Applied, first-1)
	}
	if n := m.rec.restoreCount(); n != 1 {
		t.Fatalf("%d restores, want 1 (by Start)", n)
	}
	c.converge(lead, "end")
}

// TestCompactWaitsForFlush: the log is compacted behind a snapshot only
// once the Applier's Flush says the state of that snapshot is durable;
// until then every entry stays, since it is the only copy of what the
// applier has not flushed.
func TestCompactWaitsForFlush(t *testing.T) {
	s := openStore(t, vfs.NewMem(), "db")
	app := newRecorder(t, 0)
	hold := make(chan struct{})
	app.holdFlush = hold
	n, err := Start(Config{
		ID: 1, Peers: []uint64{1}, Log: s.log, Applier: app,
		TickInterval: 10 * time.Millisecond, SnapshotEntries: 20, CatchUpEntries: 5,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stopNode(t, n)
	ctx := testCtx(t)
	propose := func(count int) {
		t.Helper()
		for i := range count {
			if err := n.Propose(ctx, fmt.Appendf(nil, "e%d", i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	propose(60)
	app.waitFor("60 proposals applied", func() bool { return app.applied >= 61 })
	snap, err := s.log.Snapshot()
	if err != nil || snap.GetMetadata().GetIndex() < 20 {
		t.Fatalf("no snapshot after 60 entries: %v, %v", snap.GetMetadata(), err)
	}
	if first, _ := s.log.FirstIndex(); first != 1 {
		t.Fatalf("FirstIndex %d while the flush is not done, want 1 (nothing compacted)", first)
	}
	close(hold)
	propose(1) // a Ready, on which the Node sees the flush done
	deadline := time.Now().Add(waitTimeout)
	for {
		first, _ := s.log.FirstIndex()
		if first > 1 {
			if limit := snap.GetMetadata().GetIndex() - 5; first-1 > limit {
				t.Fatalf("compacted to %d, past the flushed snapshot's %d less the 5 catch-up entries", first-1, limit)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the log was not compacted after the flush was done")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestSnapshotBytes: a snapshot is due once SnapshotBytes of entry data
// are applied since the last one, however few the entries; small entries
// wait for SnapshotEntries.
func TestSnapshotBytes(t *testing.T) {
	s := openStore(t, vfs.NewMem(), "db")
	app := newRecorder(t, 0)
	n, err := Start(Config{
		ID: 1, Peers: []uint64{1}, Log: s.log, Applier: app,
		TickInterval: 10 * time.Millisecond, SnapshotEntries: 1000, SnapshotBytes: 10 << 10, CatchUpEntries: 5,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stopNode(t, n)
	ctx := testCtx(t)
	snapIndex := func() uint64 {
		t.Helper()
		snap, err := s.log.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		return snap.GetMetadata().GetIndex()
	}
	// A new member's log has no snapshot until one is due.
	if err := n.Propose(ctx, []byte("first")); err != nil {
		t.Fatal(err)
	}
	app.waitFor("the first proposal applied", func() bool { return app.applied >= 2 })
	base := snapIndex()
	small := make([]byte, 100)
	want := app.appliedIndex() + 50
	for range 50 { // 5,000 bytes: under the bound, and 50 entries
		if err := n.Propose(ctx, small); err != nil {
			t.Fatal(err)
		}
	}
	app.waitFor("50 small entries applied", func() bool { return app.applied >= want })
	if got := snapIndex(); got != base {
		t.Fatalf("snapshot at %d after 5,000 bytes of entries, want still %d (bound 10 KiB)", got, base)
	}
	big := make([]byte, 6<<10)
	if err := n.Propose(ctx, big); err != nil { // over 11,000 bytes since the snapshot
		t.Fatal(err)
	}
	want++
	app.waitFor("the large entry applied", func() bool { return app.applied >= want })
	deadline := time.Now().Add(waitTimeout)
	for snapIndex() < want { // the snapshot follows the apply on the Ready loop
		if time.Now().After(deadline) {
			t.Fatalf("snapshot at %d after %d bytes of entries, want one at ≥ %d", snapIndex(), 5000+len(big), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
