package raftnode

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// TestProposeCommitsInOrder: a new single member elects itself in Start,
// and proposals reach the Applier in order, after the leader's empty entry.
func TestProposeCommitsInOrder(t *testing.T) {
	s := openStore(t, vfs.NewMem(), "db")
	app := newRecorder(t, 0)
	n := startNode(t, s, app, 0)
	st := n.Status()
	if st.Role != RoleLeader || st.Lead != 1 || st.ID != 1 || st.Term == 0 {
		t.Fatalf("Status after Start: %+v, want a leader", st)
	}
	if got := app.appliedIndex(); got != 1 || app.entries[0].Type != EntryNormal || app.entries[0].Data != nil {
		t.Fatalf("after Start applied %d: %+v, want the leader's empty entry 1", got, app.entries)
	}
	ctx := testCtx(t)
	var want []string
	for i := range 100 {
		want = append(want, fmt.Sprint("proposal ", i))
		if err := n.Propose(ctx, []byte(want[i])); err != nil {
			t.Fatal(err)
		}
	}
	app.waitFor("100 proposals applied", func() bool { return app.applied == 101 })
	if got := app.data(); !slices.Equal(got, want) {
		t.Fatalf("applied %q, want %q", got, want)
	}
	for i, e := range app.entries {
		if e.Index != uint64(i+1) || e.Term != st.Term {
			t.Fatalf("entry %d: %+v, want index %d term %d", i, e, i+1, st.Term)
		}
	}
	// The Node counts an entry applied once the Applier has returned, a
	// moment after the recorder saw it.
	deadline := time.Now().Add(waitTimeout)
	for st = n.Status(); st.Applied != 101 && time.Now().Before(deadline); st = n.Status() {
		time.Sleep(time.Millisecond)
	}
	if st.Applied != 101 || st.Commit != 101 {
		t.Fatalf("Status %+v, want applied and commit 101", st)
	}
	last, _ := s.log.LastIndex()
	if last != 101 {
		t.Fatalf("Log.LastIndex %d, want 101", last)
	}
}

// TestBatching: proposals that queue while the Ready loop is in an fsync
// all go into the next Ready, so far fewer fsyncs than proposals happen.
// The loop is held in an fsync while the proposals queue, so the count
// does not depend on timing.
func TestBatching(t *testing.T) {
	const proposers, each = 50, 20
	s := openStore(t, vfs.NewMem(), "db")
	app := newRecorder(t, 0)
	n := startNode(t, s, app, 0)
	release := holdNextSync(t, s, n)
	syncsBefore, callsBefore := s.syncs.wal.Load(), app.calls

	// Each proposer queues one proposal at a time, so at most 50 queue
	// while the loop is held; first let all of them queue.
	ctx := testCtx(t)
	var wg sync.WaitGroup
	errs := make(chan error, proposers)
	for p := range proposers {
		wg.Go(func() {
			for i := range each {
				if err := n.Propose(ctx, fmt.Appendf(nil, "%d/%d", p, i)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	waitUntil(t, "the proposals to queue", func() bool { return len(n.propc) == proposers })
	release()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	app.waitFor("every proposal applied", func() bool { return len(app.entries) == 1+1+proposers*each })

	// Every proposal applied once, each proposer's in its order.
	next := make([]int, proposers)
	for _, d := range app.data()[1:] {
		var p, i int
		if _, err := fmt.Sscanf(d, "%d/%d", &p, &i); err != nil {
			t.Fatalf("applied %q: %v", d, err)
		}
		if i != next[p] {
			t.Fatalf("proposer %d: applied %d, want %d", p, i, next[p])
		}
		next[p]++
	}
	// The proposals queued while the loop was held went into one Ready:
	// one fsync and one Apply for all of them. (How well the later ones
	// batch depends on the scheduler, so it is logged, not asserted: the
	// benchmarks measure it.)
	syncs := s.syncs.wal.Load() - syncsBefore
	applies := app.calls - callsBefore
	t.Logf("%d proposals: %d WAL fsyncs, %d Apply calls, at most %d entries in one", proposers*each, syncs, applies, app.largest)
	if app.largest < proposers {
		t.Fatalf("the %d proposals queued during an fsync were applied in runs of at most %d: not batched", proposers, app.largest)
	}
}

// TestReadIndex: the read index covers every proposal applied before the
// call, and the Applier has applied it by the time ReadIndex returns;
// concurrent reads share raft ReadIndex rounds.
func TestReadIndex(t *testing.T) {
	s := openStore(t, vfs.NewMem(), "db")
	app := newRecorder(t, 0)
	n := startNode(t, s, app, 0)
	ctx := testCtx(t)
	for i := range 10 {
		if err := n.Propose(ctx, fmt.Appendf(nil, "w%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	app.waitFor("10 proposals applied", func() bool { return app.applied == 11 })
	idx, err := n.ReadIndex(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if idx < 11 {
		t.Fatalf("ReadIndex %d, below applied proposal 11", idx)
	}
	if got := app.appliedIndex(); got < idx {
		t.Fatalf("ReadIndex returned %d with applied %d", idx, got)
	}

	// Concurrent reads and writes: each read's index is applied when it
	// returns and covers every write that had been applied before it began.
	t.Run("concurrent", func(t *testing.T) {
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Go(func() {
				for i := range 50 {
					if err := n.Propose(ctx, fmt.Appendf(nil, "c%d/%d", w, i)); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		for range 32 {
			wg.Go(func() {
				for range 20 {
					before := app.appliedIndex()
					idx, err := n.ReadIndex(ctx)
					if err != nil {
						t.Error(err)
						return
					}
					if idx < before {
						t.Errorf("ReadIndex %d, below %d applied before the call", idx, before)
					}
					if got := app.appliedIndex(); got < idx {
						t.Errorf("ReadIndex returned %d with applied %d", idx, got)
					}
				}
			})
		}
		wg.Wait()
	})

	// Reads queued while the loop is held share one raft ReadIndex.
	t.Run("batched", func(t *testing.T) {
		release := holdNextSync(t, s, n)
		rounds := n.readSeq // the loop is held: no race
		const readers = 40
		idxs := make(chan uint64, readers)
		var wg sync.WaitGroup
		for range readers {
			wg.Go(func() {
				idx, err := n.ReadIndex(ctx)
				if err != nil {
					t.Error(err)
				}
				idxs <- idx
			})
		}
		waitUntil(t, "the reads to queue", func() bool { return len(n.readc) == readers })
		blockerIndex := app.appliedIndex() + 1
		release()
		wg.Wait()
		close(idxs)
		for idx := range idxs {
			if idx < blockerIndex {
				t.Errorf("ReadIndex %d, below %d, which was proposed before", idx, blockerIndex)
			}
		}
		ctx, cancel := context.WithTimeout(ctx, waitTimeout)
		defer cancel()
		if _, err := n.ReadIndex(ctx); err != nil { // the loop has run on
			t.Fatal(err)
		}
		if got := n.Status(); got.Applied < blockerIndex {
			t.Fatalf("status %+v", got)
		}
		n.Stop(ctx)
		if got := n.readSeq - rounds; got != 2 {
			t.Fatalf("%d readers queued together took %d raft ReadIndex rounds (with the last read), want 2", readers, got)
		}
	})
}

// TestRestart: a Node restarted on the same store with Config.Applied set
// to the last applied index re-applies nothing and goes on committing;
// with Applied 0 it re-applies the whole log.
func TestRestart(t *testing.T) {
	s := openStore(t, vfs.NewMem(), "db")
	app := newRecorder(t, 0)
	n := startNode(t, s, app, 0)
	ctx := testCtx(t)
	for i := range 10 {
		if err := n.Propose(ctx, fmt.Appendf(nil, "a%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	app.waitFor("10 proposals applied", func() bool { return app.applied == 11 })
	stopNode(t, n)
	term := n.Status().Term
	applied := app.appliedIndex()
	s.reopen()

	app2 := newRecorder(t, applied)
	n2 := startNode(t, s, app2, applied)
	if st := n2.Status(); st.Role != RoleLeader || st.Term <= term || st.Applied != applied+1 {
		t.Fatalf("Status after restart %+v, want leader of a term past %d, applied %d", st, term, applied+1)
	}
	if len(app2.entries) != 1 || app2.entries[0].Index != applied+1 || app2.entries[0].Data != nil {
		t.Fatalf("after restart applied %+v, want only the new leader's empty entry %d", app2.entries, applied+1)
	}
	for i := range 5 {
		if err := n2.Propose(ctx, fmt.Appendf(nil, "b%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	app2.waitFor("5 more applied", func() bool { return app2.applied == applied+6 })
	if got, want := app2.data(), []string{"b0", "b1", "b2", "b3", "b4"}; !slices.Equal(got, want) {
		t.Fatalf("applied after restart %q, want %q", got, want)
	}
	stopNode(t, n2)
	last := app2.appliedIndex()

	// Applied 0: raft hands back the whole log, in order.
	s.reopen()
	app3 := newRecorder(t, 0)
	startNode(t, s, app3, 0)
	app3.waitFor("the whole log re-applied", func() bool { return app3.applied >= last+1 })
	if got := app3.data(); len(got) != 15 || got[0] != "a0" || got[14] != "b4" {
		t.Fatalf("re-applied %q", got)
	}
}

// TestStopped: every call on a stopped Node returns ErrStopped; Stop is
// idempotent.
func TestStopped(t *testing.T) {
	s := openStore(t, vfs.NewMem(), "db")
	n := startNode(t, s, newRecorder(t, 0), 0)
	stopNode(t, n)
	stopNode(t, n)
	ctx := testCtx(t)
	select {
	case <-n.Done():
	default:
		t.Fatal("Done not closed after Stop")
	}
	if err := n.Err(); err != nil {
		t.Fatalf("Err after a clean Stop: %v", err)
	}
	if err := n.Propose(ctx, []byte("x")); !errors.Is(err, ErrStopped) {
		t.Fatalf("Propose after Stop: %v", err)
	}
	if _, err := n.ReadIndex(ctx); !errors.Is(err, ErrStopped) {
		t.Fatalf("ReadIndex after Stop: %v", err)
	}
	if err := n.Step(ctx, &pb.Message{}); !errors.Is(err, ErrStopped) {
		t.Fatalf("Step after Stop: %v", err)
	}
}

// TestStopReleasesWaiters: calls waiting on a held Ready loop return
// ErrStopped when it stops.
func TestStopReleasesWaiters(t *testing.T) {
	s := openStore(t, vfs.NewMem(), "db")
	n := startNode(t, s, newRecorder(t, 0), 0)
	release := holdNextSync(t, s, n)
	ctx := testCtx(t)
	errs := make(chan error, 2)
	go func() { errs <- n.Propose(ctx, []byte("x")) }()
	go func() { _, err := n.ReadIndex(ctx); errs <- err }()
	waitUntil(t, "the calls to queue", func() bool { return len(n.propc) == 1 && len(n.readc) == 1 })
	stopped := make(chan error, 1)
	go func() { stopped <- n.Stop(ctx) }()
	waitUntil(t, "Stop to begin", n.stopped)
	release()
	for range 2 {
		if err := <-errs; !errors.Is(err, ErrStopped) {
			t.Fatalf("waiting call returned %v, want ErrStopped", err)
		}
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
}

// TestContextCancel: a cancelled or expired ctx ends Propose and ReadIndex,
// whether it ends before the call or while the call waits.
func TestContextCancel(t *testing.T) {
	s := openStore(t, vfs.NewMem(), "db")
	n := startNode(t, s, newRecorder(t, 0), 0)
	done, cancel := context.WithCancel(context.Background())
	cancel()
	if err := n.Propose(done, []byte("x")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Propose with a cancelled ctx: %v", err)
	}
	if _, err := n.ReadIndex(done); !errors.Is(err, context.Canceled) {
		t.Fatalf("ReadIndex with a cancelled ctx: %v", err)
	}
	if err := n.Step(done, &pb.Message{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Step with a cancelled ctx: %v", err)
	}

	release := holdNextSync(t, s, n)
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, 2)
	go func() { errs <- n.Propose(ctx, []byte("x")) }()
	go func() { _, err := n.ReadIndex(ctx); errs <- err }()
	waitUntil(t, "the calls to queue", func() bool { return len(n.propc) == 1 && len(n.readc) == 1 })
	cancel()
	for range 2 {
		select {
		case err := <-errs:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("waiting call returned %v, want context.Canceled", err)
			}
		case <-time.After(waitTimeout):
			t.Fatal("a call ignored its ctx")
		}
	}
	release()
	// The loop goes on after abandoned calls.
	if _, err := n.ReadIndex(testCtx(t)); err != nil {
		t.Fatal(err)
	}
}

// dropTransport loses every message.
type dropTransport struct {
	mu   sync.Mutex
	sent []pb.MessageType
}

func (d *dropTransport) Send(msgs []*pb.Message) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, m := range msgs {
		d.sent = append(d.sent, m.GetType())
	}
}

// TestNoLeader: a member of a three-member group that hears from nobody
// has no leader: raft drops its proposals and its reads wait, retried,
// until their ctx expires. It asks for pre-votes (PreVote is on).
func TestNoLeader(t *testing.T) {
	s := openStore(t, vfs.NewMem(), "db")
	tr := &dropTransport{}
	n, err := Start(Config{ID: 1, Peers: []uint64{1, 2, 3}, Log: s.log, Applier: newRecorder(t, 0), Transport: tr, TickInterval: time.Millisecond, SnapshotDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer stopNode(t, n)
	if err := n.Propose(testCtx(t), []byte("x")); !errors.Is(err, ErrProposalDropped) {
		t.Fatalf("Propose without a leader: %v, want ErrProposalDropped", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := n.ReadIndex(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ReadIndex without a leader: %v, want DeadlineExceeded", err)
	}
	if st := n.Status(); st.Lead != 0 || st.Role == RoleLeader {
		t.Fatalf("Status %+v, want no leader", st)
	}
	waitUntil(t, "a pre-vote request", func() bool {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		return slices.Contains(tr.sent, pb.MsgPreVote)
	})
}

// TestApplierError: an Applier error stops the Node, and Err reports it.
func TestApplierError(t *testing.T) {
	s := openStore(t, vfs.NewMem(), "db")
	app := newRecorder(t, 0)
	n, err := Start(Config{ID: 1, Peers: []uint64{1}, Log: s.log, Applier: app})
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	app.mu.Lock()
	app.fail = boom
	app.mu.Unlock()
	ctx := testCtx(t)
	if err := n.Propose(ctx, []byte("x")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-n.Done():
	case <-ctx.Done():
		t.Fatal("the Node did not stop")
	}
	if err := n.Err(); !errors.Is(err, boom) {
		t.Fatalf("Err: %v, want boom", err)
	}
	if err := n.Stop(ctx); !errors.Is(err, boom) {
		t.Fatalf("Stop: %v, want boom", err)
	}
	if err := n.Propose(ctx, []byte("y")); !errors.Is(err, ErrStopped) {
		t.Fatalf("Propose after failure: %v", err)
	}
}

// TestAppliedPastCommit: the Applier's store may reach the disk with
// entries whose commit record the Log lost in a crash (raftlog.SaveCommit
// does not sync); Start raises the commit index to the applied index,
// and the member goes on from there.
func TestAppliedPastCommit(t *testing.T) {
	s := openStore(t, vfs.NewMem(), "db")
	boot := &pb.Snapshot{Metadata: &pb.SnapshotMetadata{ConfState: &pb.ConfState{Voters: []uint64{1}}}}
	if err := s.log.SaveMembers(nil, nil, boot, nil); err != nil {
		t.Fatal(err)
	}
	var ents []*pb.Entry
	for i := uint64(1); i <= 4; i++ {
		ents = append(ents, &pb.Entry{Index: new(i), Term: new(uint64(1)), Data: []byte(fmt.Sprint("e", i))})
	}
	if err := s.log.Save(&pb.HardState{Term: new(uint64(1)), Vote: new(uint64(1)), Commit: new(uint64(1))}, ents, nil); err != nil {
		t.Fatal(err)
	}
	app := newRecorder(t, 3)
	n := startNode(t, s, app, 3)
	if hs, _, _ := s.log.InitialState(); hs.GetCommit() < 3 {
		t.Fatalf("commit %d after Start with Applied 3", hs.GetCommit())
	}
	// The member elects itself and commits entry 4 and its own: only
	// what came after the applied index is applied.
	app.waitFor("entry 4 applied", func() bool { return app.applied >= 5 })
	if got := app.data(); !slices.Equal(got, []string{"e4"}) {
		t.Fatalf("applied %q, want only e4", got)
	}
	stopNode(t, n)
}

// TestConfigErrors: Start refuses bad configurations with a clear error.
func TestConfigErrors(t *testing.T) {
	s := openStore(t, vfs.NewMem(), "db")
	app := newRecorder(t, 0)
	ok := Config{ID: 1, Peers: []uint64{1}, Log: s.log, Applier: app}
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"no id", func(c *Config) { c.ID = 0 }, "ID must be non-zero"},
		{"no log", func(c *Config) { c.Log = nil }, "Log is required"},
		{"no applier", func(c *Config) { c.Applier = nil }, "Applier is required"},
		{"id 0 peer", func(c *Config) { c.Peers = []uint64{1, 0} }, "holds id 0"},
		{"duplicate peer", func(c *Config) { c.Peers = []uint64{1, 2, 1} }, "twice"},
		{"self not a peer", func(c *Config) { c.Peers = []uint64{2} }, "does not hold"},
		{"no peers on a new log", func(c *Config) { c.Peers = nil }, "Config.Peers is empty"},
		{"election tick", func(c *Config) { c.ElectionTick, c.HeartbeatTick = 2, 2 }, "must exceed"},
		{"negative tick", func(c *Config) { c.TickInterval = -time.Second }, "negative"},
		{"no transport", func(c *Config) { c.Peers = []uint64{1, 2, 3} }, "Transport is nil"},
		{"applied past the log", func(c *Config) { c.Applied = 5 }, "past the log's last entry"},
		{"joining founder", func(c *Config) { c.Join = true }, "Join is set"},
		{"join without transport", func(c *Config) { c.Join, c.Peers = true, []uint64{2} }, "Transport is nil"},
		{"join alone without transport", func(c *Config) { c.Join, c.Peers = true, nil }, "Transport is nil"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.change(&c)
			n, err := Start(c)
			if err == nil {
				stopNode(t, n)
				t.Fatal("Start succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want it to mention %q", err, tc.want)
			}
		})
	}
	// Once bootstrapped, the stored voters win over Peers: membership may
	// have changed since the first start.
	n := startNode(t, s, app, 0)
	stopNode(t, n)
	c := ok
	c.Peers, c.Applied, c.Applier = []uint64{1, 2}, app.appliedIndex(), newRecorder(t, app.appliedIndex())
	n, err := Start(c)
	if err != nil {
		t.Fatalf("Start with other peers: %v", err)
	}
	defer stopNode(t, n)
	if m := n.Membership(); !slices.Equal(m.Voters, []uint64{1}) {
		t.Fatalf("membership %+v after a start with other peers, want the stored voters [1]", m)
	}
}

// blockingApplier blocks in Apply until its ctx is cancelled, once armed.
type blockingApplier struct {
	*recorder
	armed   chan struct{} // closed: block
	blocked chan struct{} // closed when blocked
}

func (a *blockingApplier) Apply(ctx context.Context, ents []Entry) error {
	select {
	case <-a.armed:
		close(a.blocked)
		<-ctx.Done()
		return ctx.Err()
	default:
		return a.recorder.Apply(ctx, ents)
	}
}

// TestStopCancelsApply: Stop cancels the ctx of a running Apply, and an
// Apply that returns because of it makes a clean stop; a restart applies
// the entry again.
func TestStopCancelsApply(t *testing.T) {
	s := openStore(t, vfs.NewMem(), "db")
	app := &blockingApplier{recorder: newRecorder(t, 0), armed: make(chan struct{}), blocked: make(chan struct{})}
	n := startNode(t, s, app, 0)
	close(app.armed)
	ctx := testCtx(t)
	if err := n.Propose(ctx, []byte("x")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-app.blocked:
	case <-ctx.Done():
		t.Fatal("Apply was never called")
	}
	if err := n.Stop(ctx); err != nil {
		t.Fatalf("Stop during Apply: %v", err)
	}
	s.reopen()
	app2 := newRecorder(t, 1)
	startNode(t, s, app2, 1)
	app2.waitFor("the entry applied again", func() bool { return app2.applied >= 2 })
	if got := app2.data(); !slices.Equal(got, []string{"x"}) {
		t.Fatalf("applied after restart %q, want [x]", got)
	}
}

// TestConfChange: a committed conf change is applied to raft and recorded
// in the Log before the Applier sees its entry, and a restart comes back
// with the new membership. The RawNode is driven by hand, as the loop
// drives it, after the loop has stopped.
func TestConfChange(t *testing.T) {
	s := openStore(t, vfs.NewMem(), "db")
	app := newRecorder(t, 0)
	n := startNode(t, s, app, 0)
	stopNode(t, n)
	tr := &dropTransport{}
	n.cfg.Transport = tr
	var seen *pb.ConfState
	cc := &pb.ConfChange{Type: pb.ConfChangeAddLearnerNode.Enum(), NodeId: proto.Uint64(2)}
	if err := n.rn.ProposeConfChange(cc); err != nil {
		t.Fatal(err)
	}
	for n.rn.HasReady() {
		if err := n.handleReady(); err != nil {
			t.Fatal(err)
		}
		if seen == nil && len(app.entries) > 0 && app.entries[len(app.entries)-1].Type == EntryConfChange {
			_, seen, _ = s.log.InitialState()
		}
	}
	if seen == nil {
		t.Fatalf("no conf change applied: %+v", app.entries)
	}
	if !slices.Equal(seen.GetVoters(), []uint64{1}) || !slices.Equal(seen.GetLearners(), []uint64{2}) {
		t.Fatalf("ConfState when the Applier got the conf change: %v, want voters [1] learners [2]", seen)
	}
	if cs := n.rn.Status().Config.Learners; len(cs) != 1 {
		t.Fatalf("raft's learners %v after the conf change", cs)
	}

	applied := app.appliedIndex()
	s.reopen()
	if _, err := Start(Config{ID: 1, Log: s.log, Applied: applied, Applier: newRecorder(t, applied)}); err == nil || !strings.Contains(err.Error(), "Transport is nil") {
		t.Fatalf("Start without a Transport in a group of two: %v", err)
	}
	n2, err := Start(Config{ID: 1, Peers: []uint64{1}, Log: s.log, Applied: applied, Applier: newRecorder(t, applied), Transport: tr, SnapshotDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer stopNode(t, n2)
	if st := n2.Status(); st.Role != RoleLeader {
		t.Fatalf("sole voter with a learner: %+v, want leader", st)
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if !slices.Contains(tr.sent, pb.MsgApp) {
		t.Fatalf("the leader sent %v, want appends to its learner", tr.sent)
	}
}
