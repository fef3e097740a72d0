package conformance

import (
	"errors"
	"testing"
	"time"

	"github.com/arbor-coord/arbor/client"
)

// otherMember returns an address of servers(t) other than addr (addr
// itself if the cluster has one member).
func otherMember(t testing.TB, addr string) string {
	t.Helper()
	for _, a := range servers(t) {
		if a != addr {
			return a
		}
	}
	return addr
}

// TestSemanticsEphemeralVanishOnClose checks that a closed session's
// ephemerals are gone as soon as Close returns: at once for a client on
// the same member, and after a sync for one on another member.
func TestSemanticsEphemeralVanishOnClose(t *testing.T) {
	owner := connect(t, nil)
	root := testRoot(t, connect(t, nil)) // not owner's: it is closed before the cleanup
	eph := mustCreate(t, owner, root+"/eph", []byte("x"), client.WithMode(client.ModeEphemeral))
	seq := mustCreate(t, owner, root+"/seq-", nil, client.WithMode(client.ModeEphemeralSequential))
	_, addr := owner.Member()
	if addr == "" {
		t.Fatal("the owner is connected to no member")
	}
	same := connect(t, []string{addr})
	other := connect(t, []string{otherMember(t, addr)})
	mustOK(t, other.Sync(ctxT(t), root), "sync")
	for _, p := range []string{eph, seq} {
		st := mustStat(t, other, p)
		if st.EphemeralOwner != owner.SessionID() {
			t.Fatalf("%s: ephemeralOwner %#x, want the owner's session %#x", p, st.EphemeralOwner, owner.SessionID())
		}
	}
	watch, err := other.AddWatch(ctxT(t), root, true)
	mustOK(t, err, "addWatch")

	mustOK(t, owner.Close(ctxT(t)), "close")
	if owner.State() != client.StateClosed || !errors.Is(owner.Err(), client.ErrClosed) {
		t.Errorf("after Close: state %v, err %v", owner.State(), owner.Err())
	}
	for _, p := range []string{eph, seq} {
		_, err := same.Exists(ctxT(t), p)
		wantErr(t, err, client.ErrNoNode, "exists "+p+" on the owner's member right after Close")
	}
	mustOK(t, other.Sync(ctxT(t), root), "sync")
	for _, p := range []string{eph, seq} {
		_, err := other.Exists(ctxT(t), p)
		wantErr(t, err, client.ErrNoNode, "exists "+p+" on another member after Close and sync")
	}
	// DATA-MODEL.md: deleted in path order, each with a NodeDeleted.
	wantEvent(t, watch.Events(), client.EventNodeDeleted, eph, 0)
	wantEvent(t, watch.Events(), client.EventNodeDeleted, seq, 0)

	_, err = owner.Create(ctxT(t), root+"/after", nil)
	wantErr(t, err, client.ErrClosed, "create on a closed client")
}

// TestSemanticsEphemeralSurvivesReconnect drops a client's connection: it
// resumes its session on a new one, and the session keeps its ephemerals.
func TestSemanticsEphemeralSurvivesReconnect(t *testing.T) {
	fwd := startForwarder(t, servers(t)[0])
	var states stateRecorder
	c := connect(t, []string{fwd.Addr()}, client.WithStateFunc(states.record), client.WithBackoff(10*time.Millisecond, 200*time.Millisecond))
	root := testRoot(t, c)
	eph := mustCreate(t, c, root+"/eph", nil, client.WithMode(client.ModeEphemeral))
	id := c.SessionID()
	watcher := connect(t, nil)
	_, ch, err := watcher.ExistsW(ctxT(t), eph)
	mustOK(t, err, "existsW")

	for round := range 3 {
		connected := states.count(client.StateConnected)
		if n := fwd.Drop(); n == 0 {
			t.Fatalf("round %d: the forwarder had no connection to drop", round)
		}
		eventually(t, "the client to reconnect", func() bool {
			return states.count(client.StateConnected) > connected && c.State() == client.StateConnected
		})
		if !states.seen(client.StateDisconnected) {
			t.Errorf("states %v: no Disconnected between the connections", &states)
		}
		if c.SessionID() != id {
			t.Fatalf("session id %#x after the reconnect, want %#x", c.SessionID(), id)
		}
		st := mustStat(t, c, eph)
		if st.EphemeralOwner != id {
			t.Fatalf("ephemeral's owner %#x after the reconnect, want %#x", st.EphemeralOwner, id)
		}
		mustCreate(t, c, root+"/", nil, client.WithMode(client.ModeEphemeralSequential))
	}
	if c.Err() != nil || states.seen(client.StateExpired) {
		t.Fatalf("the session ended: err %v, states %v", c.Err(), &states)
	}
	wantNoPending(t, ch, "the other client's watch on the ephemeral")
	mustOK(t, watcher.Sync(ctxT(t), eph), "sync")
	if _, err := watcher.Exists(ctxT(t), eph); err != nil {
		t.Fatalf("the ephemeral, seen by another client after the reconnects: %v", err)
	}
}

// TestSemanticsEphemeralVanishOnExpiry takes a client's network away (a
// forwarder that cuts every connection and black-holes new ones): the leader
// expires the session after its timeout and deletes its ephemerals, and
// the client reports the session expired.
func TestSemanticsEphemeralVanishOnExpiry(t *testing.T) {
	fwd := startForwarder(t, servers(t)[0])
	var states stateRecorder
	doomed := connect(t, []string{fwd.Addr()}, client.WithSessionTimeout(1500*time.Millisecond), client.WithStateFunc(states.record))
	if to := doomed.SessionTimeout(); to > 2*time.Second {
		t.Logf("negotiated session timeout %v: the cluster's minimum is above the 1.5 s asked, so the expiry takes longer", to)
	}
	root := testRoot(t, connect(t, nil))
	eph := mustCreate(t, doomed, root+"/eph", nil, client.WithMode(client.ModeEphemeral))
	seq := mustCreate(t, doomed, root+"/", nil, client.WithMode(client.ModeEphemeralSequential))
	plain := mustCreate(t, doomed, root+"/plain", nil)
	_, _, wch, err := doomed.GetW(ctxT(t), plain)
	mustOK(t, err, "getW")

	observer := connect(t, nil)
	mustOK(t, observer.Sync(ctxT(t), root), "sync")
	_, ech, err := observer.ExistsW(ctxT(t), eph)
	mustOK(t, err, "existsW "+eph)
	_, sch, err := observer.ExistsW(ctxT(t), seq)
	mustOK(t, err, "existsW "+seq)

	fwd.Cut()

	ev := nextEvent(t, ech, "the expired session's ephemeral to be deleted")
	if ev.Type != client.EventNodeDeleted || ev.Path != eph {
		t.Fatalf("event %+v, want NodeDeleted %s", ev, eph)
	}
	wantEvent(t, sch, client.EventNodeDeleted, seq, int64(ev.Zxid)) // same apply (DATA-MODEL.md)
	if _, err := observer.Exists(ctxT(t), plain); err != nil {
		t.Errorf("the expired session's persistent node: %v", err)
	}

	select {
	case <-doomed.Done():
	case <-time.After(waitBound):
		t.Fatalf("the cut-off client did not end within %v; states %v", waitBound, &states)
	}
	if !errors.Is(doomed.Err(), client.ErrSessionExpired) {
		t.Errorf("cut-off client's Err: %v, want SessionExpired", doomed.Err())
	}
	if doomed.State() != client.StateExpired {
		t.Errorf("cut-off client's state %v, want Expired", doomed.State())
	}
	eventually(t, "the state func to report Expired", func() bool { return states.seen(client.StateExpired) })
	wantClosed(t, wch, "the expired session's one-shot watch")
	_, err = doomed.Create(ctxT(t), root+"/late", nil)
	wantErr(t, err, client.ErrSessionExpired, "create on an expired client")
	if _, err := observer.Exists(ctxT(t), root+"/late"); !errors.Is(err, client.ErrNoNode) {
		t.Errorf("a create on the expired client applied: %v", err)
	}
}
