package conformance

import (
	"testing"

	"github.com/arbor-coord/arbor/client"
	"github.com/arbor-coord/arbor/conformance/internal/cluster"
)

// TestSemanticsSessionSurvivesMemberCrash kills the member a client is
// connected to, a follower and then the leader, on a cluster of the test's
// own: the client moves to another member and keeps its session id, its
// ephemeral and its watches (which fire for a later change), and its
// writes work. The member is restarted and every member's state converges.
func TestSemanticsSessionSurvivesMemberCrash(t *testing.T) {
	cl := ownCluster(t, cluster.Options{})
	admin := connect(t, cl.ClientAddrs())
	root := testRoot(t, admin)

	for _, victimKind := range []string{"Follower", "Leader"} {
		t.Run(victimKind, func(t *testing.T) {
			ctx := ctxT(t)
			leader, err := cl.WaitLeader(ctx)
			mustOK(t, err, "waitLeader")
			victim := leader
			if victimKind == "Follower" {
				for _, id := range cl.Members() {
					if id != leader {
						victim = id
						break
					}
				}
			}
			addrs := []string{cl.ClientAddr(victim)}
			for _, id := range cl.Members() {
				if id != victim {
					addrs = append(addrs, cl.ClientAddr(id))
				}
			}
			var states stateRecorder
			c := connect(t, addrs, client.WithOrderedServers(), client.WithStateFunc(states.record))
			if id, _ := c.Member(); id != victim {
				t.Fatalf("client connected to member %d, want %d (the first of its ordered servers)", id, victim)
			}
			sid := c.SessionID()
			dir := mustCreate(t, admin, root+"/"+victimKind, nil)
			eph := mustCreate(t, c, dir+"/eph", []byte("mine"), client.WithMode(client.ModeEphemeral))
			watched := mustCreate(t, admin, dir+"/watched", nil)
			mustOK(t, c.Sync(ctx, watched), "sync")
			_, _, ch, err := c.GetW(ctx, watched)
			mustOK(t, err, "getW")
			persistent, err := c.AddWatch(ctx, dir, true)
			mustOK(t, err, "addWatch")

			mustOK(t, cl.Kill(victim), "kill member")
			t.Logf("killed member %d (%s; the leader was %d)", victim, victimKind, leader)
			eventually(t, "the client to move to another member", func() bool {
				id, _ := c.Member()
				return id != 0 && id != victim
			})
			if got := c.SessionID(); got != sid {
				t.Fatalf("session id %#x after the failover, want %#x", got, sid)
			}
			st, err := c.Exists(ctx, eph)
			mustOK(t, err, "the ephemeral after the failover")
			if st.EphemeralOwner != sid {
				t.Errorf("ephemeral owner %#x, want %#x", st.EphemeralOwner, sid)
			}
			mustOK(t, admin.Sync(ctx, eph), "sync")
			if _, err := admin.Exists(ctx, eph); err != nil {
				t.Errorf("the ephemeral seen by another client after the failover: %v", err)
			}

			set, err := admin.Set(ctx, watched, []byte("after the crash"), -1)
			mustOK(t, err, "set after the crash")
			ev := nextEvent(t, ch, "the one-shot watch after the failover")
			if ev.Type != client.EventNodeDataChanged || ev.Path != watched || (!ev.CatchUp && ev.Zxid != uint64(set.Mzxid)) {
				t.Errorf("one-shot event %+v, want NodeDataChanged %s at %d", ev, watched, set.Mzxid)
			}
			pev := nextEvent(t, persistent.Events(), "the persistent watch after the failover")
			if pev.Type != client.EventNodeDataChanged || pev.Path != watched {
				t.Errorf("persistent event %+v, want NodeDataChanged %s", pev, watched)
			}
			kid := mustCreate(t, c, dir+"/written-after", nil)
			wantEvent(t, persistent.Events(), client.EventNodeCreated, kid, mustStat(t, c, kid).Czxid)
			if c.Err() != nil || states.seen(client.StateExpired) {
				t.Fatalf("the session ended: %v (states %v)", c.Err(), &states)
			}

			mustOK(t, cl.Start(victim), "restart member")
			converge(t, cl)
			mustOK(t, c.Close(ctx), "close")
		})
	}
}
