package discovery_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/arbor-coord/arbor/client"
	"github.com/arbor-coord/arbor/recipes/discovery"
)

// ids returns the IDs of insts.
func ids(insts []discovery.Instance) []string {
	out := make([]string, len(insts))
	for i, inst := range insts {
		out[i] = inst.ID
	}
	return out
}

func TestRegisterRefusesWrongInput(t *testing.T) {
	m := member(t)
	c := connect(t, []string{m.Addr()})
	ctx := ctxT(t, 20*time.Second)
	ok := discovery.Instance{ID: "i1", Addr: "h:1"}
	for _, tc := range []struct {
		name, root, service string
		inst                discovery.Instance
	}{
		{"empty root", "", "svc", ok},
		{"relative root", "svc", "svc", ok},
		{"root ending in /", "/sd/", "svc", ok},
		{"root with an empty element", "/sd//x", "svc", ok},
		{"root with a control character", "/sd/\x01", "svc", ok},
		{"empty service", "/sd", "", ok},
		{"service of two elements", "/sd", "a/b", ok},
		{"service ..", "/sd", "..", ok},
		{"empty ID", "/sd", "svc", discovery.Instance{Addr: "h:1"}},
		{"ID of two elements", "/sd", "svc", discovery.Instance{ID: "a/b", Addr: "h:1"}},
		{"empty Addr", "/sd", "svc", discovery.Instance{ID: "i1"}},
		{"negative Weight", "/sd", "svc", discovery.Instance{ID: "i1", Addr: "h:1", Weight: -1}},
		{"Weight too large", "/sd", "svc", discovery.Instance{ID: "i1", Addr: "h:1", Weight: discovery.MaxWeight + 1}},
		{"data too large", "/sd", "svc", discovery.Instance{ID: "i1", Addr: "h:1", Meta: map[string]string{"x": string(make([]byte, discovery.MaxDataBytes))}}},
	} {
		_, err := discovery.Register(ctx, c, tc.root, tc.service, tc.inst)
		if !errors.Is(err, client.ErrBadArguments) {
			t.Errorf("%s: Register = %v, want an error matching ErrBadArguments", tc.name, err)
			continue
		}
		t.Logf("%s: %v", tc.name, err)
	}
	if _, err := discovery.Instances(ctx, c, "/sd", "a/b"); !errors.Is(err, client.ErrBadArguments) {
		t.Errorf("Instances with a bad service = %v", err)
	}
	if _, err := discovery.Watch(ctx, c, "sd", "svc"); !errors.Is(err, client.ErrBadArguments) {
		t.Errorf("Watch with a bad root = %v", err)
	}
	// Nothing was created.
	if _, err := c.Exists(ctx, "/sd"); !errors.Is(err, client.ErrNoNode) {
		t.Errorf("/sd after refused registrations: %v, want NoNode", err)
	}
}

func TestRegisterDuplicateAdoptUpdateDeregister(t *testing.T) {
	m := member(t)
	c1 := connect(t, []string{m.Addr()})
	c2 := connect(t, []string{m.Addr()})
	ctx := ctxT(t, 20*time.Second)

	r1, err := discovery.Register(ctx, c1, "/sd", "svc", discovery.Instance{ID: "i1", Addr: "h:1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := discovery.Register(ctx, c2, "/sd", "svc", discovery.Instance{ID: "i1", Addr: "h:2"}); !errors.Is(err, discovery.ErrDuplicate) {
		t.Fatalf("another session registering i1: %v, want ErrDuplicate", err)
	} else {
		t.Log(err)
	}
	// The same session again: adopted, data updated.
	r1b, err := discovery.Register(ctx, c1, "/sd", "svc", discovery.Instance{ID: "i1", Addr: "h:3", Weight: 2})
	if err != nil {
		t.Fatalf("the same session registering i1 again: %v", err)
	}
	got, err := discovery.Instances(ctx, c2, "/sd", "svc")
	if err != nil || len(got) != 1 || got[0].Addr != "h:3" || got[0].Weight != 2 {
		t.Fatalf("Instances = %v, %v; want i1 at h:3 weight 2", got, err)
	}
	if err := r1.Update(ctx, discovery.Instance{Addr: "h:4", Meta: map[string]string{"zone": "b"}}); err != nil {
		t.Fatal(err)
	}
	if err := r1.Update(ctx, discovery.Instance{ID: "other", Addr: "h:4"}); !errors.Is(err, client.ErrBadArguments) {
		t.Errorf("Update with another ID: %v", err)
	}
	got, _ = discovery.Instances(ctx, c2, "/sd", "svc")
	if len(got) != 1 || got[0].Addr != "h:4" || got[0].Meta["zone"] != "b" || got[0].Weight != 1 {
		t.Fatalf("after Update: %v", got)
	}
	if err := r1.Deregister(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r1.Deregister(ctx); err != nil {
		t.Errorf("a second Deregister: %v", err)
	}
	// r1b shared the node: it is gone for it too, and it says so.
	if err := r1b.Update(ctx, discovery.Instance{Addr: "h:5"}); !errors.Is(err, discovery.ErrLost) {
		t.Errorf("Update of a deregistered node: %v, want ErrLost", err)
	}
	select {
	case <-r1.Lost():
		t.Error("Lost closed by Deregister")
	default:
	}
	eventually(t, "r1b to see its node gone", func() bool {
		select {
		case <-r1b.Lost():
			return true
		default:
			return false
		}
	})
	if got, _ := discovery.Instances(ctx, c2, "/sd", "svc"); len(got) != 0 {
		t.Fatalf("after Deregister: %v", got)
	}
	// Now another session may take the ID.
	r2, err := discovery.Register(ctx, c2, "/sd", "svc", discovery.Instance{ID: "i1", Addr: "h:2"})
	if err != nil {
		t.Fatalf("registering a free ID: %v", err)
	}
	// Deleted by someone else: lost.
	if err := c1.Delete(ctx, r2.Path(), -1); err != nil {
		t.Fatal(err)
	}
	select {
	case <-r2.Lost():
		if !errors.Is(r2.Err(), discovery.ErrLost) {
			t.Errorf("Err = %v", r2.Err())
		}
		t.Log(r2.Err())
	case <-ctx.Done():
		t.Fatal("Lost not closed after the node was deleted")
	}
}

func TestInstancesSkipsUndecodable(t *testing.T) {
	m := member(t)
	c := connect(t, []string{m.Addr()})
	ctx := ctxT(t, 20*time.Second)
	if got, err := discovery.Instances(ctx, c, "/sd", "none"); err != nil || len(got) != 0 {
		t.Fatalf("a service never registered: %v, %v", got, err)
	}
	for _, id := range []string{"b", "a"} {
		if _, err := discovery.Register(ctx, c, "/sd", "svc", discovery.Instance{ID: id, Addr: id + ":1"}); err != nil {
			t.Fatal(err)
		}
	}
	for id, data := range map[string]string{"junk": "not json", "noaddr": `{"weight":1}`, "heavy": `{"addr":"x","weight":-3}`} {
		if _, err := c.Create(ctx, "/sd/svc/"+id, []byte(data), client.WithMode(client.ModeEphemeral)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := discovery.Instances(ctx, c, "/sd", "svc")
	if !errors.Is(err, discovery.ErrUndecodable) {
		t.Fatalf("err = %v, want ErrUndecodable", err)
	}
	t.Log(err)
	if !slices.Equal(ids(got), []string{"a", "b"}) {
		t.Errorf("instances = %v, want a b", ids(got))
	}
	s, err := discovery.Watch(ctx, c, "/sd", "svc")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	if sk := s.Skipped(); len(sk) != 3 {
		t.Errorf("Skipped = %v, want 3", sk)
	}
	if !slices.Equal(ids(s.Instances()), []string{"a", "b"}) {
		t.Errorf("watched instances = %v", ids(s.Instances()))
	}
}

func TestRegisterCancelledLeavesNothing(t *testing.T) {
	// Register with contexts that end at all sorts of points: either it
	// succeeds, or it leaves no node behind when it returns.
	m := member(t)
	c := connect(t, []string{m.Addr()})
	ctx := ctxT(t, 20*time.Second)
	registered := 0
	for i := 0; i < 30; i++ {
		id := fmt.Sprintf("i%d", i)
		cctx, cancel := context.WithTimeout(ctx, time.Duration(i%10)*300*time.Microsecond)
		r, err := discovery.Register(cctx, c, "/sd", "svc", discovery.Instance{ID: id, Addr: "h:1"})
		cancel()
		_, exErr := c.Exists(ctx, "/sd/svc/"+id)
		switch {
		case err == nil:
			registered++
			if exErr != nil {
				t.Fatalf("%s registered but: %v", id, exErr)
			}
			if err := r.Deregister(ctx); err != nil {
				t.Fatal(err)
			}
		case errors.Is(err, context.DeadlineExceeded):
			if exErr == nil {
				t.Fatalf("%s: Register returned %v and left its node behind", id, err)
			}
		default:
			t.Fatalf("%s: %v", id, err)
		}
	}
	t.Logf("%d of 30 registered before their deadline", registered)
}

func TestWatchSeesComingsGoingsAndUpdates(t *testing.T) {
	// Ten instances on a 3-member cluster, each on its own session and
	// member; a watcher and a picker on another. Instance 0's session
	// expires (its member is stopped past its timeout, which also moves
	// every other client on that member to another), instance 1 is
	// deregistered, instance 2 updated; the watcher sees each, and once
	// it has seen an instance leave, no pick returns it.
	cl := cluster3(t)
	ctx := ctxT(t, 60*time.Second)
	// The victim's member is the leader: stopping it is a leader crash,
	// and the session is expired by the next leader.
	victimMember := cl.WaitLeader()
	members := cl.Members()
	// rotated returns the addresses starting at member i: with
	// WithOrderedServers a client starts there and moves to the next.
	rotated := func(i int) []string {
		var out []string
		for j := range members {
			out = append(out, members[(i+j)%len(members)].Addr())
		}
		return out
	}
	// The watcher starts on the victim's member, so it has to move.
	watcher := connect(t, rotated(int(victimMember.ID()-1)), client.WithOrderedServers())

	s, err := discovery.Watch(ctx, watcher, "/sd", "svc")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)

	// Register concurrently.
	regs := make([]*discovery.Registration, 10)
	clients := make([]*client.Client, 10)
	var wg sync.WaitGroup
	for i := range regs {
		if i == 0 {
			// Pinned to one member, with a short session: it expires
			// when that member stops.
			clients[i] = connect(t, []string{victimMember.Addr()}, client.WithSessionTimeout(800*time.Millisecond))
		} else {
			clients[i] = connect(t, rotated(i%3), client.WithOrderedServers())
		}
	}
	for i := range regs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := discovery.Register(ctx, clients[i], "/sd", "svc", discovery.Instance{ID: fmt.Sprintf("inst-%02d", i), Addr: fmt.Sprintf("10.0.0.%d:80", i)})
			if err != nil {
				t.Errorf("register %d: %v", i, err)
			}
			regs[i] = r
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	// waitView waits until the watcher's Changes shows a view that
	// satisfies ok, and returns it.
	waitView := func(what string, ok func([]discovery.Instance) bool) []discovery.Instance {
		t.Helper()
		for {
			select {
			case v, open := <-s.Changes():
				if !open {
					t.Fatalf("Changes closed while waiting for %s: %v", what, s.Err())
				}
				if ok(v) {
					return v
				}
			case <-ctx.Done():
				t.Fatalf("timed out waiting for %s; view %v", what, ids(s.Instances()))
			}
		}
	}
	waitView("all 10", func(v []discovery.Instance) bool { return len(v) == 10 })
	if id, _ := watcher.Member(); id != victimMember.ID() {
		t.Fatalf("the watcher is on member %d, not %d", id, victimMember.ID())
	}

	// A picker runs throughout, recording which instances it got.
	gone := sync.Map{} // IDs the watcher has seen leave
	var bad []string
	var badMu sync.Mutex
	pickCtx, stopPicks := context.WithCancel(ctx)
	picks := 0
	pickerDone := make(chan struct{})
	go func() {
		defer close(pickerDone)
		b := discovery.NewRoundRobin()
		for ; picks < 200_000 && pickCtx.Err() == nil; picks++ {
			// Read the departed set first: an instance that left
			// before the pick must not be returned by it.
			var left []string
			gone.Range(func(k, _ any) bool { left = append(left, k.(string)); return true })
			inst, done, err := s.Pick(b)
			if err != nil {
				continue
			}
			done(nil)
			if slices.Contains(left, inst.ID) {
				badMu.Lock()
				bad = append(bad, inst.ID)
				badMu.Unlock()
			}
			time.Sleep(50 * time.Microsecond)
		}
	}()

	// Instance 0's session expires: its member stops past the timeout.
	victimMember.Stop()
	select {
	case <-clients[0].Done():
	case <-time.After(20 * time.Second):
		t.Fatal("instance 0's session did not end after its member stopped")
	}
	select {
	case <-regs[0].Lost():
		t.Logf("instance 0: %v", regs[0].Err())
	case <-time.After(20 * time.Second):
		t.Fatal("instance 0's registration not lost after its session ended")
	}
	// The leader (among the two left) expires the session, and the
	// watcher, moved off the stopped member if it was there, sees it.
	waitView("instance 0 to go", func(v []discovery.Instance) bool { return !slices.Contains(ids(v), "inst-00") })
	gone.Store("inst-00", true)
	if id, _ := watcher.Member(); id == victimMember.ID() {
		t.Errorf("the watcher is still on the stopped member %d", id)
	}
	victimMember.Restart()

	if err := regs[1].Deregister(ctx); err != nil {
		t.Fatal(err)
	}
	waitView("instance 1 to go", func(v []discovery.Instance) bool { return !slices.Contains(ids(v), "inst-01") })
	gone.Store("inst-01", true)

	if err := regs[2].Update(ctx, discovery.Instance{Addr: "10.0.0.99:80", Weight: 3}); err != nil {
		t.Fatal(err)
	}
	v := waitView("instance 2's update", func(v []discovery.Instance) bool {
		i := slices.IndexFunc(v, func(inst discovery.Instance) bool { return inst.ID == "inst-02" })
		return i >= 0 && v[i].Addr == "10.0.0.99:80" && v[i].Weight == 3
	})
	if len(v) != 8 {
		t.Errorf("final view %v, want 8 instances", ids(v))
	}
	// A new instance arrives and is seen.
	if _, err := discovery.Register(ctx, clients[3], "/sd", "svc", discovery.Instance{ID: "inst-new", Addr: "10.0.1.1:80"}); err != nil {
		t.Fatal(err)
	}
	waitView("the new instance", func(v []discovery.Instance) bool { return slices.Contains(ids(v), "inst-new") })

	stopPicks()
	<-pickerDone
	if len(bad) > 0 {
		t.Errorf("%d picks returned an instance after the watcher saw it leave: %v", len(bad), bad[:min(len(bad), 5)])
	}
	t.Logf("%d picks while instances came and went", picks)
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-s.Changes(); ok {
		// Drain the last view, then it must be closed.
		if _, ok := <-s.Changes(); ok {
			t.Error("Changes not closed after Close")
		}
	}
	if !errors.Is(s.Err(), discovery.ErrClosed) {
		t.Errorf("Err after Close = %v", s.Err())
	}
	if _, _, err := s.Pick(discovery.NewRoundRobin()); !errors.Is(err, discovery.ErrClosed) {
		t.Errorf("Pick after Close = %v", err)
	}
}

func TestWatchEndsWithSession(t *testing.T) {
	m := member(t)
	c := connect(t, []string{m.Addr()}, client.WithSessionTimeout(800*time.Millisecond))
	ctx := ctxT(t, 30*time.Second)
	if _, err := discovery.Register(ctx, c, "/sd", "svc", discovery.Instance{ID: "a", Addr: "h:1"}); err != nil {
		t.Fatal(err)
	}
	s, err := discovery.Watch(ctx, c, "/sd", "svc")
	if err != nil {
		t.Fatal(err)
	}
	m.Stop()
	for range s.Changes() {
	}
	if !errors.Is(s.Err(), client.ErrSessionExpired) {
		t.Errorf("Err after the session ended = %v, want SessionExpired", s.Err())
	}
	if _, _, err := s.Pick(discovery.NewRoundRobin()); err == nil {
		t.Error("Pick from an ended Service succeeded")
	}
	if err := s.Close(ctx); err != nil {
		t.Errorf("Close after the end: %v", err)
	}
	m.Restart()
}

func TestRegisterRace(t *testing.T) {
	// Sixteen sessions register the same ID at once: one wins, the
	// others get ErrDuplicate; once the winner deregisters, one of them
	// can register.
	m := member(t)
	ctx := ctxT(t, 30*time.Second)
	const n = 16
	clients := make([]*client.Client, n)
	for i := range clients {
		clients[i] = connect(t, []string{m.Addr()})
	}
	regs := make([]*discovery.Registration, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			regs[i], errs[i] = discovery.Register(ctx, clients[i], "/sd", "svc", discovery.Instance{ID: "same", Addr: fmt.Sprintf("h:%d", i)})
		}()
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("both %d and %d registered the same ID", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, discovery.ErrDuplicate):
			t.Fatalf("client %d: %v, want ErrDuplicate", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no client registered")
	}
	got, err := discovery.Instances(ctx, clients[0], "/sd", "svc")
	if err != nil || len(got) != 1 || got[0].Addr != fmt.Sprintf("h:%d", winner) {
		t.Fatalf("Instances = %v, %v; want the winner's", got, err)
	}
	if err := regs[winner].Deregister(ctx); err != nil {
		t.Fatal(err)
	}
	next := (winner + 1) % n
	if _, err := discovery.Register(ctx, clients[next], "/sd", "svc", discovery.Instance{ID: "same", Addr: "h:next"}); err != nil {
		t.Fatalf("after the winner deregistered: %v", err)
	}
}

func TestWatchUnderChurn(t *testing.T) {
	// Twelve sessions register, update and deregister in a loop while a
	// Service watches: once the churn stops, its view is exactly what a
	// fresh read says, data included.
	m := member(t)
	ctx := ctxT(t, 30*time.Second)
	watcher := connect(t, []string{m.Addr()})
	s, err := discovery.Watch(ctx, watcher, "/sd", "svc")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	var wg sync.WaitGroup
	for g := 0; g < 12; g++ {
		c := connect(t, []string{m.Addr()})
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := 0; round < 5; round++ {
				inst := discovery.Instance{ID: fmt.Sprintf("g%02d", g), Addr: fmt.Sprintf("h:%d", round)}
				r, err := discovery.Register(ctx, c, "/sd", "svc", inst)
				if err != nil {
					t.Errorf("g%d round %d: %v", g, round, err)
					return
				}
				inst.Weight = round + 1
				if err := r.Update(ctx, inst); err != nil {
					t.Errorf("g%d update: %v", g, err)
					return
				}
				if (g+round)%2 == 0 && round < 4 {
					if err := r.Deregister(ctx); err != nil {
						t.Errorf("g%d deregister: %v", g, err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	want, err := discovery.Instances(ctx, watcher, "/sd", "svc")
	if err != nil || len(want) != 12 {
		t.Fatalf("after the churn: %v, %v; want 12", ids(want), err)
	}
	eventually(t, "the watcher to agree with a fresh read", func() bool {
		return slices.EqualFunc(s.Instances(), want, func(a, b discovery.Instance) bool {
			return a.ID == b.ID && a.Addr == b.Addr && a.Weight == b.Weight
		})
	})
}
