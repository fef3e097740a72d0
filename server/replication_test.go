package server_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/arbor-coord/arbor/client"
	"github.com/arbor-coord/arbor/server"
	"github.com/arbor-coord/arbor/server/servertest"
)

// The replication tests: clusters of in-process members on an in-memory
// network, the real Go client over WebSocket.

// clusterConfig keeps sessions short, so that expiry and its absence show
// within a few seconds.
func clusterConfig() server.Config {
	return server.Config{MinSessionTimeout: 400 * time.Millisecond, MaxSessionTimeout: 10 * time.Second, RequestTimeout: 2 * time.Second}
}

// follower returns a running member that is not the leader.
func follower(t *testing.T, c *servertest.Cluster) *servertest.Member {
	t.Helper()
	lead := c.WaitLeader()
	for _, m := range c.Members() {
		if m.Running() && m != lead {
			return m
		}
	}
	t.Fatal("no follower")
	return nil
}

// converged waits until every running member has applied the same index
// and then checks that their state digests are equal.
func converged(t *testing.T, c *servertest.Cluster) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var applied []uint64
		for _, m := range c.Members() {
			if m.Running() {
				applied = append(applied, m.Server().Stats().Applied)
			}
		}
		if slices.Min(applied) == slices.Max(applied) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("members never converged: applied %v", applied)
		}
		time.Sleep(5 * time.Millisecond)
	}
	var first string
	for _, m := range c.Members() {
		if !m.Running() {
			continue
		}
		d, err := m.Server().Digest()
		if err != nil {
			t.Fatal(err)
		}
		if first == "" {
			first = d.String()
		} else if d.String() != first {
			t.Fatalf("member %d digest %s, want %s", m.ID(), d, first)
		}
	}
}

// retried runs op until it succeeds, while it fails as an election makes
// writes fail (OperationTimeout, ConnectionLoss), and fails the test on
// any other error or when ctx ends. op must be idempotent.
func retried(ctx context.Context, t *testing.T, what string, op func() error) {
	t.Helper()
	for {
		err := op()
		if err == nil {
			return
		}
		if !errors.Is(err, client.ErrOperationTimeout) && !errors.Is(err, client.ErrConnectionLoss) || ctx.Err() != nil {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestClusterServesOnEveryMember: writes sent to any member are applied
// once (followers forward them), reads after sync see them on every
// member, and sequential names stay unique across members.
func TestClusterServesOnEveryMember(t *testing.T) {
	c := servertest.StartCluster(t, 3, clusterConfig())
	ctx := ctxFor(t, 60*time.Second)
	var clients []*client.Client
	for _, m := range c.Members() {
		clients = append(clients, connect(t, m))
	}
	must(clients[0].Create(ctx, "/seq", nil))(t)
	var wg sync.WaitGroup
	names := make([][]string, len(clients))
	errs := make([]error, len(clients))
	for i, cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := cl.Create(ctx, fmt.Sprintf("/n%d", i), []byte{byte(i)}); err != nil {
				errs[i] = err
				return
			}
			for range 20 {
				name, err := cl.Create(ctx, "/seq/s-", nil, client.WithMode(client.ModePersistentSequential))
				if err != nil {
					errs[i] = err
					return
				}
				names[i] = append(names[i], name)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	all := slices.Concat(names...)
	slices.Sort(all)
	if len(slices.Compact(all)) != 60 {
		t.Fatalf("sequential names not unique: %v", names)
	}
	for i, cl := range clients {
		if err := cl.Sync(ctx, "/"); err != nil {
			t.Fatal(err)
		}
		for j := range clients {
			data, _, err := cl.Get(ctx, fmt.Sprintf("/n%d", j))
			if err != nil || len(data) != 1 || data[0] != byte(j) {
				t.Fatalf("member %d reads /n%d: %v %v", i+1, j, data, err)
			}
		}
		kids, _, err := cl.Children(ctx, "/seq")
		if err != nil || len(kids) != 60 {
			t.Fatalf("member %d sees %d sequential nodes, want 60 (%v)", i+1, len(kids), err)
		}
	}
	converged(t, c)
}

// TestClusterSessionKeptByForwardedTouches: a client connected only to a
// follower keeps its session well past its timeout, since the follower
// forwards its touches to the leader; once the client is cut off, the
// leader expires the session and every member sees its ephemeral go.
func TestClusterSessionKeptByForwardedTouches(t *testing.T) {
	c := servertest.StartCluster(t, 3, clusterConfig())
	ctx := ctxFor(t, 60*time.Second)
	f := follower(t, c)
	px := newProxy(t, f.Addr())
	owner := connectTo(t, px.Addr(), client.WithSessionTimeout(time.Second))
	watcher := connect(t, c.WaitLeader())
	must(owner.Create(ctx, "/lease", nil, client.WithMode(client.ModeEphemeral)))(t)
	// Three timeouts: the leader hears of the session only through f.
	time.Sleep(3 * time.Second)
	if err := watcher.Sync(ctx, "/"); err != nil {
		t.Fatal(err)
	}
	st, ch, err := watcher.ExistsW(ctx, "/lease")
	if err != nil || st.EphemeralOwner != owner.SessionID() {
		t.Fatalf("the session did not survive on forwarded touches: %+v %v", st, err)
	}
	px.cut(true)
	if ev := nextEvent(t, ch, 10*time.Second); ev.Type != client.EventNodeDeleted {
		t.Fatalf("event %+v", ev)
	}
	converged(t, c)
}

// TestClusterSessionSurvivesMemberLoss: when the member a client is
// connected to stops (the leader or a follower), the client moves to
// another with its session, its ephemeral node and its watches, and gets
// the events it missed.
func TestClusterSessionSurvivesMemberLoss(t *testing.T) {
	for _, lose := range []string{"leader", "follower"} {
		t.Run(lose, func(t *testing.T) {
			c := servertest.StartCluster(t, 3, clusterConfig())
			ctx := ctxFor(t, 60*time.Second)
			var home *servertest.Member
			if lose == "leader" {
				home = c.WaitLeader()
			} else {
				home = follower(t, c)
			}
			// The client knows every member but starts on home.
			addrs := []string{home.Addr()}
			for _, m := range c.Members() {
				if m != home {
					addrs = append(addrs, m.Addr())
				}
			}
			cl, err := client.Connect(ctx, addrs, client.WithOrderedServers(), client.WithSessionTimeout(2*time.Second),
				client.WithBackoff(5*time.Millisecond, 50*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = cl.Close(context.Background()) })
			if id, _ := cl.Member(); id != home.ID() {
				t.Fatalf("connected to member %d, want %d", id, home.ID())
			}
			id := cl.SessionID()
			must(cl.Create(ctx, "/mine", nil, client.WithMode(client.ModeEphemeral)))(t)
			must(cl.Create(ctx, "/data", []byte("v0")))(t)
			_, _, dataCh, err := cl.GetW(ctx, "/data")
			if err != nil {
				t.Fatal(err)
			}
			var other *servertest.Member
			for _, m := range c.Members() {
				if m != home {
					other = m
					break
				}
			}
			writer := connect(t, other)
			home.Stop()
			retried(ctx, t, "set during the election", func() error {
				_, err := writer.Set(ctx, "/data", []byte("v1"), -1)
				return err
			})
			if ev := nextEvent(t, dataCh, 20*time.Second); ev.Type != client.EventNodeDataChanged {
				t.Fatalf("missed event: %+v", ev)
			}
			if cl.SessionID() != id {
				t.Fatalf("session changed from %#x to %#x", id, cl.SessionID())
			}
			if m, _ := cl.Member(); m == home.ID() {
				t.Fatalf("still on member %d", m)
			}
			// Past several timeouts, and the session is still there.
			time.Sleep(4 * time.Second)
			retried(ctx, t, "create after the move", func() error {
				_, err := cl.Create(ctx, "/after", nil)
				if errors.Is(err, client.ErrNodeExists) {
					return nil
				}
				return err
			})
			if st := must(writer.Exists(ctx, "/mine"))(t); st.EphemeralOwner != id {
				t.Fatalf("ephemeral owner %#x, want %#x", st.EphemeralOwner, id)
			}
			home.Restart()
			converged(t, c)
		})
	}
}

// TestClusterWithoutQuorum: with two of three members down, a write fails
// with OperationTimeout or ConnectionLoss after the request timeout
// instead of hanging, and succeeds once a quorum is back.
func TestClusterWithoutQuorum(t *testing.T) {
	cfg := clusterConfig()
	cfg.RequestTimeout = 500 * time.Millisecond
	c := servertest.StartCluster(t, 3, cfg)
	ctx := ctxFor(t, 60*time.Second)
	survivor := c.Member(1)
	cl := connectTo(t, survivor.Addr(), client.WithSessionTimeout(5*time.Second))
	must(cl.Create(ctx, "/before", nil))(t)
	c.Member(2).Stop()
	c.Member(3).Stop()
	_, err := cl.Create(ctx, "/during", nil)
	if !errors.Is(err, client.ErrOperationTimeout) && !errors.Is(err, client.ErrConnectionLoss) {
		t.Fatalf("write without quorum: %v", err)
	}
	c.Member(2).Restart()
	for {
		_, err := cl.Create(ctx, "/after", nil)
		if err == nil || errors.Is(err, client.ErrNodeExists) {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("write after quorum returned: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.Member(3).Restart()
	converged(t, c)
}

// TestClusterLeaderLossLosesNoAcknowledgedWrite: writers on every member
// keep creating while the leader stops; every create acknowledged is there
// afterwards, on every member, and none is there twice.
func TestClusterLeaderLossLosesNoAcknowledgedWrite(t *testing.T) {
	c := servertest.StartCluster(t, 3, clusterConfig())
	ctx := ctxFor(t, 90*time.Second)
	must(connect(t, c.Member(1)).Create(ctx, "/w", nil))(t)
	var (
		mu     sync.Mutex
		acked  []string
		failed int // indeterminate: may or may not be applied
		wg     sync.WaitGroup
		stop   = make(chan struct{})
	)
	for w := range 6 {
		cl, err := client.Connect(ctx, c.Addrs(), client.WithSessionTimeout(5*time.Second), client.WithBackoff(5*time.Millisecond, 50*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cl.Close(context.Background()) })
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name, err := cl.Create(ctx, fmt.Sprintf("/w/c%d-", w), nil, client.WithMode(client.ModePersistentSequential))
				if err != nil {
					mu.Lock()
					failed++
					mu.Unlock()
					continue
				}
				mu.Lock()
				acked = append(acked, name)
				mu.Unlock()
			}
		}()
	}
	ackedNow := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acked)
	}
	waitFor := func(n int) {
		for ackedNow() < n && ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor(50)
	lead := c.WaitLeader()
	lead.Stop()
	before := ackedNow()
	waitFor(before + 50) // writes go on under the new leader
	close(stop)
	wg.Wait()
	lead.Restart()
	converged(t, c)
	for _, m := range c.Members() {
		cl := connect(t, m)
		if err := cl.Sync(ctx, "/"); err != nil {
			t.Fatal(err)
		}
		kids, _, err := cl.Children(ctx, "/w")
		if err != nil {
			t.Fatal(err)
		}
		have := make(map[string]bool, len(kids))
		for _, k := range kids {
			have["/w/"+k] = true
		}
		for _, name := range acked {
			if !have[name] {
				t.Fatalf("member %d lost acknowledged create %s", m.ID(), name)
			}
		}
		// Exactly-once: a create the client retried after losing its
		// member is never applied twice, so only the creates that failed
		// (indeterminate) may add nodes.
		if len(kids) > len(acked)+failed {
			t.Fatalf("member %d holds %d nodes for %d acknowledged and %d failed creates", m.ID(), len(kids), len(acked), failed)
		}
	}
	t.Logf("%d creates acknowledged (%d after the leader stopped), %d failed", len(acked), len(acked)-before, failed)
}

// TestClusterSnapshotCatchUp: a follower cut off while the others write
// past their compacted log is caught up by a snapshot; its clients are
// moved off so that they get the watch events the snapshot skipped, and
// its session tracker follows the sessions created and ended meanwhile.
func TestClusterSnapshotCatchUp(t *testing.T) {
	cfg := clusterConfig()
	cfg.SnapshotEntries, cfg.SnapshotCatchUpEntries = 50, 10
	c := servertest.StartCluster(t, 3, cfg)
	ctx := ctxFor(t, 60*time.Second)
	f := follower(t, c)
	lead := c.WaitLeader()
	watcher := connect(t, f, client.WithSessionTimeout(10*time.Second), client.WithBackoff(5*time.Millisecond, 50*time.Millisecond))
	writer := connect(t, lead)
	must(writer.Create(ctx, "/data", []byte("v0")))(t)
	if err := watcher.Sync(ctx, "/"); err != nil {
		t.Fatal(err)
	}
	_, _, ch, err := watcher.GetW(ctx, "/data")
	if err != nil {
		t.Fatal(err)
	}
	gone := connect(t, lead)
	c.Network().Isolate(f.ID())
	// Sessions begin and end while f is away.
	must(connect(t, lead).Create(ctx, "/born", nil, client.WithMode(client.ModeEphemeral)))(t)
	if err := gone.Close(ctx); err != nil {
		t.Fatal(err)
	}
	must(writer.Set(ctx, "/data", []byte("v1"), -1))(t)
	for i := range 300 {
		must(writer.Create(ctx, fmt.Sprintf("/n%03d", i), nil))(t)
	}
	c.Network().Heal()
	if ev := nextEvent(t, ch, 30*time.Second); ev.Type != client.EventNodeDataChanged || ev.Path != "/data" {
		t.Fatalf("event %+v", ev)
	}
	converged(t, c)
	if got, want := f.Server().Stats().Sessions, lead.Server().Stats().Sessions; got != want {
		t.Fatalf("follower tracks %d sessions, leader %d", got, want)
	}
	data, _, err := watcher.Get(ctx, "/data")
	if err != nil || string(data) != "v1" {
		t.Fatalf("after catch-up: %q %v", data, err)
	}
}

// TestClusterShutdownHandsOffLeadership: a leader that shuts down hands
// leadership to another voter first, so another member leads within half
// an election timeout of its shutdown returning (without the hand-off the
// others would wait out a whole one first); the members report the same
// status digest.
func TestClusterShutdownHandsOffLeadership(t *testing.T) {
	c := servertest.StartCluster(t, 3, clusterConfig())
	ctx := ctxFor(t, 60*time.Second)
	cl, err := client.Connect(ctx, c.Addrs(), client.WithBackoff(5*time.Millisecond, 50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close(context.Background()) })
	must(cl.Create(ctx, "/before", nil))(t)
	for round := range 2 {
		lead := c.WaitLeader()
		term := lead.Server().Stats().Term
		lead.Stop()
		// The new leader reports its role once it has saved its first
		// Ready, perhaps just after the transfer ended: poll, for less
		// than the 1 s election timeout the others would otherwise wait.
		var next *servertest.Member
		for start := time.Now(); next == nil && time.Since(start) < 500*time.Millisecond; time.Sleep(5 * time.Millisecond) {
			for _, m := range c.Members() {
				if m.Running() && m.Server().Stats().Role == "leader" {
					next = m
				}
			}
		}
		if next == nil {
			t.Fatalf("round %d: no member leads within 500 ms of leader %d shutting down", round, lead.ID())
		}
		if st := next.Server().Stats(); st.Term <= term {
			t.Fatalf("round %d: new leader %d in term %d, old term %d", round, next.ID(), st.Term, term)
		}
		retried(ctx, t, "write after the hand-off", func() error {
			_, err := cl.Create(ctx, fmt.Sprintf("/after%d", round), nil)
			if errors.Is(err, client.ErrNodeExists) {
				return nil
			}
			return err
		})
		lead.Restart()
	}
	converged(t, c)
	var digests []string
	for _, m := range c.Members() {
		st, err := m.Server().Status(true)
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Voters) != 3 || st.Applied == 0 {
			t.Fatalf("member %d status %+v", m.ID(), st)
		}
		digests = append(digests, st.Digest)
	}
	if digests[0] != digests[1] || digests[1] != digests[2] {
		t.Fatalf("status digests differ: %v", digests)
	}
}

// TestClusterWritesLostWithTheLeaderAreProposedAgain: a write forwarded
// to a leader that is then cut off is lost with it; once a new leader is
// elected the member proposes it again, so the client gets its answer
// well within the request timeout, and it is applied once.
func TestClusterWritesLostWithTheLeaderAreProposedAgain(t *testing.T) {
	cfg := clusterConfig()
	cfg.RequestTimeout, cfg.MaxSessionTimeout = time.Minute, 2*time.Minute
	c := servertest.StartCluster(t, 3, cfg)
	ctx := ctxFor(t, 90*time.Second)
	f := follower(t, c)
	// A long session: the client's own read deadline (a share of the
	// session timeout) must not be what rescues the writes.
	cl := connect(t, f, client.WithSessionTimeout(2*time.Minute))
	must(cl.Create(ctx, "/w", nil))(t)
	old := c.WaitLeader()
	c.Network().Isolate(old.ID())
	// f still believes in old for an election timeout: these are forwarded
	// to it and lost.
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second) // a third of the request timeout
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = cl.Create(wctx, fmt.Sprintf("/w/n%d", i), nil)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("writes lost with the old leader were not proposed again: %v", err)
	}
	c.Network().Heal()
	converged(t, c)
	kids := must2(t, cl.Children, ctx, "/w")
	if len(kids) != 8 {
		t.Fatalf("%d children, want 8", len(kids))
	}
}

// TestClusterNoReadBackwardsOnMove: a client that moves to a member that
// is behind what it has seen is not served there (the member waits for the
// client's last zxid, then answers OperationTimeout) and ends up on a
// member that has caught up: it never reads the tree backwards.
func TestClusterNoReadBackwardsOnMove(t *testing.T) {
	cfg := clusterConfig()
	cfg.RequestTimeout = 500 * time.Millisecond
	c := servertest.StartCluster(t, 3, cfg)
	ctx := ctxFor(t, 60*time.Second)
	lead := c.WaitLeader()
	var fs []*servertest.Member
	for _, m := range c.Members() {
		if m != lead {
			fs = append(fs, m)
		}
	}
	f1, f2 := fs[0], fs[1]
	cl, err := client.Connect(ctx, []string{f1.Addr(), f2.Addr(), lead.Addr()}, client.WithOrderedServers(),
		client.WithSessionTimeout(10*time.Second), client.WithBackoff(5*time.Millisecond, 50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close(context.Background()) })
	// f2 hears nothing more: it falls behind (and, an election timeout
	// later, stops serving).
	c.Network().Isolate(f2.ID())
	must(cl.Create(ctx, "/x", []byte("seen")))(t)
	f1.Stop() // the client moves on, to f2 first
	data, _, err := cl.Get(ctx, "/x")
	if err != nil || string(data) != "seen" {
		t.Fatalf("after the move: %q %v (read backwards?)", data, err)
	}
	if m, _ := cl.Member(); m != lead.ID() {
		t.Fatalf("served by member %d, want %d (f2 is behind)", m, lead.ID())
	}
	c.Network().Heal()
	f1.Restart()
	converged(t, c)
}
