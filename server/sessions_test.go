package server

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/arbor-coord/arbor/internal/errcode"
	"github.com/arbor-coord/arbor/server/raftnode"
	"github.com/arbor-coord/arbor/server/transport"
	"github.com/arbor-coord/arbor/session"
	"github.com/arbor-coord/arbor/tree"
)

// fakeClock is the sessions manager's monotonic time, moved by the test.
type fakeClock struct{ d atomic.Int64 }

func (c *fakeClock) now() time.Duration  { return time.Duration(c.d.Load()) }
func (c *fakeClock) add(d time.Duration) { c.d.Add(int64(d)) }
func testLimits() session.Limits         { return session.DefaultLimits(100 * time.Millisecond) }
func password(b byte) []byte             { p := make([]byte, session.PasswordLen); p[0] = b; return p }
func discard() *slog.Logger              { return slog.New(slog.DiscardHandler) }
func newTestSessions(t *testing.T, r *replica, c *fakeClock) *sessions {
	t.Helper()
	s, err := newSessions(r, testLimits(), c.now, discard())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSessionLifecycle(t *testing.T) {
	r := testReplica(t, vfs.NewMem(), nil)
	defer closeReplica(t, r)
	ctx, clock := ctx10s(t), &fakeClock{}
	s := newTestSessions(t, r, clock)

	// The timeout is negotiated into [2, 20] ticks.
	rec, err := s.create(ctx, time.Hour, password(1))
	if err != nil || rec.TimeoutMs != 2000 {
		t.Fatalf("create: %+v %v", rec, err)
	}
	if _, err := r.tree.Session(rec.ID); err != nil {
		t.Fatalf("not replicated: %v", err)
	}
	res, err := r.propose(ctx, &tree.Command{Session: rec.ID, Op: &tree.Create{Path: "/e", ACL: tree.OpenACL(), Mode: tree.Ephemeral}})
	if err != nil || res.Code != errcode.Ok {
		t.Fatal(res.Code, err)
	}
	// Heard from within its timeout: kept.
	for i := 0; i < 5; i++ {
		clock.add(1500 * time.Millisecond)
		if !s.touch(rec.ID) {
			t.Fatal("touch of a live session failed")
		}
		if n := s.expireDue(ctx); n != 0 {
			t.Fatalf("expired a live session")
		}
	}
	// Resume checks the password; a wrong one reveals nothing.
	if _, err := s.resume(rec.ID, password(2)); !errors.Is(err, errcode.SessionExpired) {
		t.Fatalf("wrong password: %v", err)
	}
	if _, err := s.resume(rec.ID, password(1)); err != nil {
		t.Fatalf("resume: %v", err)
	}
	// Silent past its timeout (rounded up to a tick): expired, ephemerals gone.
	clock.add(2100 * time.Millisecond)
	if n := s.expireDue(ctx); n != 1 {
		t.Fatalf("expired %d sessions, want 1", n)
	}
	if _, err := r.tree.Exists("/e"); !errors.Is(err, errcode.NoNode) {
		t.Fatalf("ephemeral outlived its session: %v", err)
	}
	if _, err := s.resume(rec.ID, password(1)); !errors.Is(err, errcode.SessionExpired) {
		t.Fatalf("resume of an expired session: %v", err)
	}
	if s.touch(rec.ID) {
		t.Fatal("touch of an expired session succeeded")
	}
}

func TestSessionCloseAndLimit(t *testing.T) {
	r := testReplica(t, vfs.NewMem(), nil)
	defer closeReplica(t, r)
	ctx, clock := ctx10s(t), &fakeClock{}
	limits := testLimits()
	limits.MaxSessions = 2
	s, err := newSessions(r, limits, clock.now, discard())
	if err != nil {
		t.Fatal(err)
	}
	a, _ := s.create(ctx, 0, password(1))
	b, err := s.create(ctx, 0, password(2))
	if err != nil || a.ID == b.ID || a.TimeoutMs != 200 {
		t.Fatalf("%+v %+v %v", a, b, err)
	}
	if _, err := s.create(ctx, 0, password(3)); !errors.Is(err, errcode.Throttled) {
		t.Fatalf("over the limit: %v", err)
	}
	if err := s.close(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := r.tree.Session(a.ID); !errors.Is(err, errcode.SessionExpired) {
		t.Fatalf("closed session still open: %v", err)
	}
	if _, err := s.create(ctx, 0, password(3)); err != nil {
		t.Fatalf("a closed session frees its place: %v", err)
	}
	if all, _ := r.tree.Sessions(); len(all) != 2 {
		t.Fatalf("%d sessions in the state", len(all))
	}
}

// TestSessionsAfterRestart: a restarted (new) leader grants every open
// session a full timeout before expiring any, and issues no id twice.
func TestSessionsAfterRestart(t *testing.T) {
	fs := vfs.NewMem()
	r := testReplica(t, fs, nil)
	ctx, clock := ctx10s(t), &fakeClock{}
	s := newTestSessions(t, r, clock)
	old, err := s.create(ctx, 0, password(1))
	if err != nil {
		t.Fatal(err)
	}
	closeReplica(t, r)

	r = testReplica(t, fs, nil)
	defer closeReplica(t, r)
	clock2 := &fakeClock{}
	s = newTestSessions(t, r, clock2)
	clock2.add(150 * time.Millisecond) // less than the 200 ms timeout
	if n := s.expireDue(ctx); n != 0 {
		t.Fatal("expired before a full timeout since the restart")
	}
	fresh, err := s.create(ctx, 0, password(2))
	if err != nil || fresh.ID == old.ID {
		t.Fatalf("id reused after restart: %#x %#x %v", old.ID, fresh.ID, err)
	}
	clock2.add(time.Second)
	if n := s.expireDue(ctx); n != 2 {
		t.Fatalf("expired %d, want both", n)
	}
}

func TestAppliedIndexWait(t *testing.T) {
	r := testReplica(t, vfs.NewMem(), nil)
	defer closeReplica(t, r)
	ctx := ctx10s(t)
	target := r.tree.Applied() + 3
	done := make(chan error, 1)
	go func() { done <- r.applied.wait(ctx, target) }()
	for i := 0; i < 3; i++ {
		if _, err := r.propose(ctx, create("/w"+string(rune('a'+i)))); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-done; err != nil || r.tree.Applied() < target {
		t.Fatalf("wait: %v (applied %d, target %d)", err, r.tree.Applied(), target)
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := r.applied.wait(short, r.tree.Applied()+100); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("wait for an index never reached: %v", err)
	}
}

// TestSessionsRun: the leader's loop expires a silent session by itself.
func TestSessionsRun(t *testing.T) {
	r := testReplica(t, vfs.NewMem(), nil)
	defer closeReplica(t, r)
	ctx, clock := ctx10s(t), &fakeClock{}
	s := newTestSessions(t, r, clock)
	rec, err := s.create(ctx, 0, password(1))
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { s.run(runCtx); close(done) }()
	clock.add(time.Second) // past the 200 ms timeout
	for {
		if _, err := r.tree.Session(rec.ID); errors.Is(err, errcode.SessionExpired) {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the session was never expired")
		case <-time.After(10 * time.Millisecond):
		}
	}
	stop()
	<-done
}

// TestSessionsFollowerForwardsTouches: a member that is not the leader
// expires nothing, forwards the touches of its clients to the leader once
// per tick, and on becoming leader grants every session a full timeout.
func TestSessionsFollowerForwardsTouches(t *testing.T) {
	r := testReplica(t, vfs.NewMem(), nil)
	defer closeReplica(t, r)
	ctx, clock := ctx10s(t), &fakeClock{}
	s := newTestSessions(t, r, clock)
	a, err := s.create(ctx, 0, password(1))
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.create(ctx, 0, password(2))
	if err != nil {
		t.Fatal(err)
	}
	// Now pretend member 1 follows member 2.
	var status atomic.Value
	status.Store(raftnode.Status{ID: 1, Lead: 2, Term: 2, Role: raftnode.RoleFollower})
	s.status = func() raftnode.Status { return status.Load().(raftnode.Status) }
	type batch struct {
		to  uint64
		ids []int64
	}
	var sent []batch
	accept := true
	s.forward = func(to uint64, ids []int64) bool {
		if accept {
			sent = append(sent, batch{to, slices.Sorted(slices.Values(ids))})
		}
		return accept
	}
	s.tick(ctx) // loses leadership
	if len(sent) != 0 {
		t.Fatalf("forwarded %v with nothing touched", sent)
	}
	if !s.touch(a.ID) {
		t.Fatal("touch failed")
	}
	accept = false
	s.tick(ctx)
	accept = true
	s.tick(ctx) // a refused batch is sent again
	if len(sent) != 1 || sent[0].to != 2 || !slices.Equal(sent[0].ids, []int64{a.ID}) {
		t.Fatalf("forwarded %v, want [%#x] to 2", sent, a.ID)
	}
	s.tick(ctx)
	if len(sent) != 1 {
		t.Fatalf("forwarded again: %v", sent)
	}
	// A follower expires nothing, however silent its sessions.
	clock.add(10 * time.Second)
	s.tick(ctx)
	if _, err := r.tree.Session(b.ID); err != nil {
		t.Fatalf("a follower expired a session: %v", err)
	}
	// Touches forwarded by others keep a session alive on the leader.
	status.Store(raftnode.Status{ID: 1, Lead: 1, Term: 3, Role: raftnode.RoleLeader})
	s.tick(ctx) // becomes leader: a full timeout for all
	if _, err := r.tree.Session(a.ID); err != nil {
		t.Fatalf("the new leader expired a session at once: %v", err)
	}
	clock.add(150 * time.Millisecond)
	s.touchedElsewhere([]int64{a.ID, 12345})
	clock.add(150 * time.Millisecond) // b is 300 ms silent, a 150 ms
	s.tick(ctx)
	if _, err := r.tree.Session(b.ID); !errors.Is(err, errcode.SessionExpired) {
		t.Fatalf("b outlived its timeout under the new leader: %v", err)
	}
	if _, err := r.tree.Session(a.ID); err != nil {
		t.Fatalf("a touched elsewhere was expired: %v", err)
	}
}

// TestSessionsFollowApply: sessions created and ended through the log
// (by any member) are tracked and untracked as they are applied.
func TestSessionsFollowApply(t *testing.T) {
	r := testReplica(t, vfs.NewMem(), nil)
	defer closeReplica(t, r)
	ctx, clock := ctx10s(t), &fakeClock{}
	s := newTestSessions(t, r, clock)
	// As if another member created it: straight through the log.
	res, err := r.propose(ctx, &tree.Command{System: true, Op: &tree.CreateSession{ID: 0x0200000000000001, TimeoutMs: 300}})
	if err != nil || res.Code != errcode.Ok {
		t.Fatal(res.Code, err)
	}
	if s.count() != 1 || !s.touch(0x0200000000000001) {
		t.Fatalf("session created elsewhere not tracked (%d)", s.count())
	}
	res, err = r.propose(ctx, &tree.Command{System: true, Op: &tree.CloseSession{ID: 0x0200000000000001}})
	if err != nil || res.Code != errcode.Ok {
		t.Fatal(res.Code, err)
	}
	if s.count() != 0 || s.touch(0x0200000000000001) {
		t.Fatal("session ended elsewhere still tracked")
	}
}

// TestSessionExpiryNeverApplied: a leader's expiry proposal that never
// applies (the member lost its leadership, or never had a quorum) must not
// stop the expiry loop. The tick gives up after proposeTimeout and keeps
// the session for the next one. It used to wait forever, so that once the
// member led again no session ever expired (found by the conformance
// suite's ephemeral workload: ephemerals of expired sessions stayed).
func TestSessionExpiryNeverApplied(t *testing.T) {
	// Member 1 of a cluster of three whose peers never run: it never has
	// a leader, so every proposal waits.
	network := transport.NewNetwork(1, discard())
	defer network.Close()
	r, err := openReplica(replicaConfig{
		dir: "member", fs: vfs.NewMem(), cacheBytes: 8 << 20, memberID: 1,
		cluster:   Cluster{1: "127.0.0.1:1", 2: "127.0.0.1:2", 3: "127.0.0.1:3"},
		transport: network.Add(1),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer closeReplica(t, r)
	clock := &fakeClock{}
	s := newTestSessions(t, r, clock)
	s.proposeTimeout = 50 * time.Millisecond
	// It believes it leads, as a leader cut off does for a moment.
	s.status = func() raftnode.Status { return raftnode.Status{Role: raftnode.RoleLeader} }
	const id = 0x42
	s.mu.Lock()
	if err := s.tracker.Add(id, 2*time.Second, clock.now()); err != nil {
		t.Fatal(err)
	}
	s.mu.Unlock()
	s.tick(context.Background()) // it starts leading: a full timeout for all
	if got := s.count(); got != 1 {
		t.Fatalf("%d sessions tracked, want 1", got)
	}
	clock.add(time.Minute)

	done := make(chan struct{})
	go func() {
		defer close(done)
		s.tick(context.Background()) // no deadline but proposeTimeout
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the expiry tick is still waiting for a proposal that cannot apply")
	}
	// Kept for the next tick, so the expiry is retried, never lost.
	if got := s.count(); got != 1 {
		t.Fatalf("%d sessions tracked after the failed expiry, want 1", got)
	}
	clock.add(time.Minute)
	s.mu.Lock()
	due := s.tracker.Expired(clock.now())
	s.mu.Unlock()
	if !slices.Equal(due, []int64{id}) {
		t.Fatalf("due after the failed expiry: %v, want [%#x]", due, id)
	}
}
