package conformance

import (
	"errors"
	"testing"
	"time"

	"github.com/arbor-coord/arbor/client"
)

// gone waits (bounded) until path no longer exists, seen through c after
// a sync.
func gone(t testing.TB, c *client.Client, path, why string) {
	t.Helper()
	eventually(t, path+" to be removed ("+why+")", func() bool {
		mustOK(t, c.Sync(ctxT(t), path), "sync")
		_, err := c.Exists(ctxT(t), path)
		if err != nil && !errors.Is(err, client.ErrNoNode) {
			t.Fatalf("exists %s: %v", path, err)
		}
		return err != nil
	})
}

// stillThere fails the test unless path exists (after a sync).
func stillThere(t testing.TB, c *client.Client, path, why string) {
	t.Helper()
	mustOK(t, c.Sync(ctxT(t), path), "sync")
	if _, err := c.Exists(ctxT(t), path); err != nil {
		t.Errorf("%s was removed, but %s: %v", path, why, err)
	}
}

// TestSemanticsContainerReaped checks DATA-MODEL.md's rule for containers:
// a deletion candidate once it has had a child and is empty again. A
// container that never had a child, or still has one, stays; the reap of
// another container proves that the leader looked at them after they were
// set up (no timing assumption).
func TestSemanticsContainerReaped(t *testing.T) {
	c := connect(t, nil)
	root := testRoot(t, c)
	container := client.WithMode(client.ModeContainer)

	never := mustCreate(t, c, root+"/never-had-a-child", nil, container)
	busy := mustCreate(t, c, root+"/still-has-a-child", nil, container)
	mustCreate(t, c, busy+"/a", nil)
	mustCreate(t, c, busy+"/b", nil)
	mustOK(t, c.Delete(ctxT(t), busy+"/a", -1), "delete busy/a")
	emptied := mustCreate(t, c, root+"/emptied", nil, container)
	child := mustCreate(t, c, emptied+"/child", nil, client.WithMode(client.ModeEphemeral))
	_, ch, err := c.ExistsW(ctxT(t), emptied)
	mustOK(t, err, "existsW")

	mustOK(t, c.Delete(ctxT(t), child, -1), "delete the last child")
	ev := wantEvent(t, ch, client.EventNodeDeleted, emptied, 0)
	if ev.Zxid <= uint64(mustStat(t, c, root).Czxid) {
		t.Errorf("reap event zxid %d not above the setup's", ev.Zxid)
	}
	gone(t, c, emptied, "a container whose last child was deleted")
	stillThere(t, c, never, "a container that never had a child is not a deletion candidate")
	stillThere(t, c, busy, "a container with a child is not a deletion candidate")

	// The reaped container's parent saw an ordinary delete.
	st := mustStat(t, c, root)
	if st.NumChildren != 2 {
		t.Errorf("root has %d children after the reap, want 2", st.NumChildren)
	}

	// A container emptied by an ephemeral's session ending goes too.
	owner := connect(t, nil)
	viaSession := mustCreate(t, c, root+"/via-session", nil, container)
	mustCreate(t, owner, viaSession+"/eph", nil, client.WithMode(client.ModeEphemeral))
	mustOK(t, owner.Close(ctxT(t)), "close the ephemeral's session")
	gone(t, c, viaSession, "a container emptied by a session's close")
}

// TestSemanticsTTLReaped checks DATA-MODEL.md's rule for TTL nodes: a
// deletion candidate once childless and unmodified for longer than its
// TTL. Nodes that must stay are checked once a node that was due later
// than they would have been is gone.
func TestSemanticsTTLReaped(t *testing.T) {
	c := connect(t, nil)
	root := testRoot(t, c)
	ttl := func(d time.Duration) []client.CreateOption {
		return []client.CreateOption{client.WithMode(client.ModePersistentTTL), client.WithTTL(d)}
	}
	const short = 500 * time.Millisecond

	long := mustCreate(t, c, root+"/long", nil, ttl(time.Hour)...)
	parent := mustCreate(t, c, root+"/parent", nil, ttl(short)...)
	mustCreate(t, c, parent+"/child", nil)
	seq := mustCreate(t, c, root+"/seq-", nil, client.WithMode(client.ModePersistentSequentialTTL), client.WithTTL(short))
	plain := mustCreate(t, c, root+"/plain", nil)
	due := mustCreate(t, c, root+"/due", nil, ttl(short)...)

	gone(t, c, due, "a childless TTL node past its TTL")
	gone(t, c, seq, "a childless sequential TTL node past its TTL")
	stillThere(t, c, long, "its TTL (1 h) has not passed")
	stillThere(t, c, parent, "a TTL node with a child is not a deletion candidate")
	stillThere(t, c, plain, "a persistent node is never reaped")

	mustOK(t, c.Delete(ctxT(t), parent+"/child", -1), "delete the TTL node's child")
	gone(t, c, parent, "a TTL node childless again and unmodified for longer than its TTL")
}

// TestSemanticsTTLModifiedKept keeps modifying a TTL node, much more often
// than its TTL, while an unmodified TTL node created after it with the same
// TTL is reaped: the modified one must stay, since its TTL counts from its
// last modification.
func TestSemanticsTTLModifiedKept(t *testing.T) {
	c := connect(t, nil)
	root := testRoot(t, c)
	const ttl = 3 * time.Second
	opts := []client.CreateOption{client.WithMode(client.ModePersistentTTL), client.WithTTL(ttl)}
	kept := mustCreate(t, c, root+"/kept", nil, opts...)
	control := mustCreate(t, c, root+"/control", nil, opts...)

	deadline := time.Now().Add(waitBound)
	var last client.Stat
	for {
		st, err := c.Set(ctxT(t), kept, []byte("heartbeat"), -1)
		if errors.Is(err, client.ErrNoNode) {
			t.Fatalf("the TTL node modified every ~100 ms was reaped (TTL %v; last modified at %v, version %d)", ttl, last.Mtime, last.Version)
		}
		mustOK(t, err, "set")
		last = st
		mustOK(t, c.Sync(ctxT(t), control), "sync")
		if _, err := c.Exists(ctxT(t), control); errors.Is(err, client.ErrNoNode) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the unmodified TTL node %s was not reaped within %v (TTL %v)", control, waitBound, ttl)
		}
		time.Sleep(100 * time.Millisecond)
	}
	stillThere(t, c, kept, "it was modified well within its TTL")
}
