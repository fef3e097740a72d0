package raftnode

import (
	"fmt"
	"log/slog"
	"maps"
	"os"
	"sync"
	"testing"
)

func contextsOf(m Membership) map[uint64]string {
	out := make(map[uint64]string, len(m.Contexts))
	for id, c := range m.Contexts {
		out[id] = string(c)
	}
	return out
}

// TestClusterContexts: the members' contexts start from
// Config.PeerContexts, follow every change (a removed member's is
// dropped, a promotion keeps the learner's), survive a restart, and reach
// a member that joins after the log was compacted, by the snapshot that
// catches it up.
func TestClusterContexts(t *testing.T) {
	var mu sync.Mutex
	changed := make(map[uint64]Membership) // the last OnMembershipChange, by member
	c := newClusterWith(t, 3, 21, func(cfg *Config) {
		snapshotTweak(cfg)
		if os.Getenv("RAFTNODE_TEST_LOG") != "" {
			cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil)).With("member", cfg.ID)
		}
		cfg.PeerContexts = map[uint64][]byte{1: []byte("a1"), 2: []byte("a2"), 3: []byte("a3"), 7: []byte("not a founder")}
		id := cfg.ID
		cfg.OnMembershipChange = func(m Membership) {
			mu.Lock()
			defer mu.Unlock()
			changed[id] = m
		}
	})
	lead, _ := c.waitLeader()
	want := map[uint64]string{1: "a1", 2: "a2", 3: "a3"}
	for _, id := range c.ids {
		if got := contextsOf(c.node(id).Membership()); !maps.Equal(got, want) {
			t.Fatalf("member %d starts with contexts %v, want %v", id, got, want)
		}
	}
	c.addMember(4)
	c.change(Change{Type: AddLearner, ID: 4, Context: []byte("a4")})
	st, _ := c.status(lead)
	c.waitCaughtUp(4, st.Commit)
	c.change(Change{Type: AddVoter, ID: 4})
	gone := uint64(2)
	if gone == lead {
		gone = 3
	}
	m := c.change(Change{Type: RemoveMember, ID: gone})
	c.markRemoved(gone)
	want = map[uint64]string{1: "a1", 2: "a2", 3: "a3", 4: "a4"}
	delete(want, gone)
	if got := contextsOf(m); !maps.Equal(got, want) {
		t.Fatalf("after the changes: contexts %v, want %v", got, want)
	}
	// Compact every log well past the changes, so that a member that
	// joins now is caught up by a snapshot.
	lead, _ = c.waitLeader()
	for i := range 200 {
		c.commit(lead, fmt.Sprint("fill-", i))
	}
	c.addMember(5)
	c.change(Change{Type: AddLearner, ID: 5, Context: []byte("a5")})
	want[5] = "a5"
	c.converge(lead, "joined")
	if n := c.member(5).rec.restoreCount(); n == 0 {
		t.Fatal("member 5 caught up without a snapshot")
	}
	for _, id := range c.active() {
		if got := contextsOf(c.node(id).Membership()); !maps.Equal(got, want) {
			t.Fatalf("member %d has contexts %v, want %v", id, got, want)
		}
	}
	mu.Lock()
	if got := contextsOf(changed[5]); !maps.Equal(got, want) {
		t.Fatalf("member 5 was told of contexts %v, want %v", got, want)
	}
	mu.Unlock()
	// A restart reads them from the Log.
	other := c.active()[0]
	if other == lead {
		other = c.active()[1]
	}
	for _, id := range []uint64{5, other} {
		c.crash(id)
		c.start(id)
		if got := contextsOf(c.node(id).Membership()); !maps.Equal(got, want) {
			t.Fatalf("member %d restarted with contexts %v, want %v", id, got, want)
		}
	}
	c.converge(lead, "end")
}

func TestSnapshotData(t *testing.T) {
	ctxs := map[uint64][]byte{1: []byte("h:1"), 3: []byte("h:3")}
	from, got, err := parseSnapshotData(snapshotData(9, ctxs))
	if err != nil || from != 9 || len(got) != 2 || string(got[3]) != "h:3" {
		t.Fatalf("parseSnapshotData = %d %v %v", from, got, err)
	}
	// Format 1, without contexts, is still accepted.
	if from, got, err := parseSnapshotData([]byte{1, 0, 0, 0, 0, 0, 0, 0, 4}); err != nil || from != 4 || got != nil {
		t.Fatalf("format 1: %d %v %v", from, got, err)
	}
	for _, bad := range [][]byte{nil, {2}, {1, 0}, {3, 0, 0, 0, 0, 0, 0, 0, 1, 0}, {2, 0, 0, 0, 0, 0, 0, 0, 1, 5}} {
		if _, _, err := parseSnapshotData(bad); err == nil {
			t.Errorf("parseSnapshotData(% x) succeeded", bad)
		}
	}
}
