package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// waitTimeout bounds every wait, so that a bug fails instead of hanging.
const waitTimeout = 10 * time.Second

// waitUntil polls cond until it holds, failing the test after waitTimeout.
func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

type snapReport struct {
	id     uint64
	status raft.SnapshotStatus
}

// memRaft records what a Network hands it.
type memRaft struct {
	block chan struct{} // non-nil: Step waits for it to close, or for ctx

	mu          sync.Mutex
	steps       []*pb.Message
	received    []time.Time
	unreachable []uint64
	snaps       []snapReport
	states      []string // the snapshot states received
	noSnapshots bool     // OpenSnapshot fails
	stepCtxErrs int
}

func (f *memRaft) Step(ctx context.Context, m *pb.Message) error {
	if f.block != nil {
		select {
		case <-f.block:
		case <-ctx.Done():
			f.mu.Lock()
			f.stepCtxErrs++
			f.mu.Unlock()
			return ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.steps = append(f.steps, m)
	f.received = append(f.received, time.Now())
	return nil
}

func (f *memRaft) ReportUnreachable(id uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.unreachable = append(f.unreachable, id)
}

func (f *memRaft) ReportSnapshot(id uint64, status raft.SnapshotStatus) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.snaps = append(f.snaps, snapReport{id, status})
}

// OpenSnapshot serves, for any index, a state naming it.
func (f *memRaft) OpenSnapshot(index uint64) (io.ReadCloser, error) {
	if f.noSnapshots {
		return nil, errors.New("no snapshot")
	}
	return io.NopCloser(strings.NewReader(fmt.Sprint("state-", index))), nil
}

func (f *memRaft) ReceiveSnapshot(ctx context.Context, m *pb.Message, r io.Reader) error {
	state, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.states = append(f.states, string(state))
	f.mu.Unlock()
	return f.Step(ctx, m)
}

func (f *memRaft) stepCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.steps)
}

func (f *memRaft) unreachableCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.unreachable)
}

// indexes returns the Index of every message stepped, in order.
func (f *memRaft) indexes() []uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []uint64
	for _, m := range f.steps {
		out = append(out, m.GetIndex())
	}
	return out
}

// cluster adds and starts members 1..size on a new network.
func cluster(t *testing.T, seed uint64, size int) (*Network, []*Endpoint, []*memRaft) {
	t.Helper()
	n := NewNetwork(seed, nil)
	t.Cleanup(n.Close)
	eps := make([]*Endpoint, size+1)
	rafts := make([]*memRaft, size+1)
	for id := 1; id <= size; id++ {
		eps[id] = n.Add(uint64(id))
		rafts[id] = &memRaft{}
		eps[id].Start(rafts[id])
	}
	return n, eps, rafts
}

func msg(from, to, index uint64) *pb.Message {
	return &pb.Message{Type: pb.MsgApp.Enum(), From: proto.Uint64(from), To: proto.Uint64(to), Index: proto.Uint64(index)}
}

// sendN sends messages from→to with Index 1..count, one per Send.
func sendN(e *Endpoint, to uint64, count int) {
	for i := 1; i <= count; i++ {
		e.Send([]*pb.Message{msg(e.ID(), to, uint64(i))})
	}
}

func seq(count int) []uint64 {
	out := make([]uint64, count)
	for i := range out {
		out[i] = uint64(i + 1)
	}
	return out
}

// TestInOrder: messages on a link arrive in the order sent, all of them,
// even with random delays; the receiver gets copies.
func TestInOrder(t *testing.T) {
	n, eps, rafts := cluster(t, 1, 2)
	n.SetLink(1, 2, Link{MaxDelay: 2 * time.Millisecond})
	const count = 500
	m := msg(1, 2, 0)
	eps[1].Send([]*pb.Message{m})
	m.Index = proto.Uint64(99) // the network holds its own copy
	sendN(eps[1], 2, count)
	waitUntil(t, "every message", func() bool { return rafts[2].stepCount() == count+1 })
	if got := rafts[2].indexes(); !slices.Equal(got, append([]uint64{0}, seq(count)...)) {
		t.Fatalf("received indexes %v, want 0 then 1..%d in order", got, count)
	}
	if rafts[2].steps[0] == m {
		t.Fatal("the receiver got the sender's message, not a copy")
	}
	if c := rafts[1].unreachableCount(); c != 0 {
		t.Fatalf("%d unreachable reports on a perfect link", c)
	}
}

// TestReorder: on a reordering link all messages arrive, not all in order.
func TestReorder(t *testing.T) {
	n, eps, rafts := cluster(t, 2, 2)
	n.SetLink(1, 2, Link{MaxDelay: 5 * time.Millisecond, Reorder: true})
	const count = 200
	sendN(eps[1], 2, count)
	waitUntil(t, "every message", func() bool { return rafts[2].stepCount() == count })
	got := rafts[2].indexes()
	if slices.IsSorted(got) {
		t.Fatal("a reordering link delivered 200 messages in order")
	}
	slices.Sort(got)
	if !slices.Equal(got, seq(count)) {
		t.Fatalf("received %v, want each of 1..%d once", got, count)
	}
}

// TestDelay: a message is not delivered before its link's MinDelay.
func TestDelay(t *testing.T) {
	n, eps, rafts := cluster(t, 3, 2)
	const delay = 30 * time.Millisecond
	n.SetLink(1, 2, Link{MinDelay: delay, MaxDelay: delay + 10*time.Millisecond})
	sent := time.Now()
	sendN(eps[1], 2, 3)
	waitUntil(t, "the messages", func() bool { return rafts[2].stepCount() == 3 })
	for i, at := range rafts[2].received {
		if d := at.Sub(sent); d < delay {
			t.Fatalf("message %d delivered after %v, before the link's delay %v", i, d, delay)
		}
	}
	// The reverse link has no delay: it is not held up.
	eps[2].Send([]*pb.Message{msg(2, 1, 1)})
	waitUntil(t, "the reply", func() bool { return rafts[1].stepCount() == 1 })
}

// TestDropRate: a link with Drop p loses about p of its messages, and every
// loss is reported unreachable to the sender.
func TestDropRate(t *testing.T) {
	n, eps, rafts := cluster(t, 4, 2)
	n.SetLink(1, 2, Link{Drop: 0.3})
	const count, batch = 2000, 100 // a batch fits in the queue
	for i := 0; i < count; i += batch {
		for j := range batch {
			eps[1].Send([]*pb.Message{msg(1, 2, uint64(i+j+1))})
		}
		waitUntil(t, "the surviving messages", func() bool {
			return rafts[2].stepCount()+rafts[1].unreachableCount() == i+batch
		})
	}
	lost := rafts[1].unreachableCount()
	if frac := float64(lost) / count; frac < 0.25 || frac > 0.35 {
		t.Fatalf("lost %d of %d (%.2f), want about 0.3", lost, count, frac)
	}
	if !slices.IsSorted(rafts[2].indexes()) {
		t.Fatal("a lossy link reordered messages")
	}
	rafts[1].mu.Lock()
	defer rafts[1].mu.Unlock()
	for _, id := range rafts[1].unreachable {
		if id != 2 {
			t.Fatalf("unreachable report for %d, want 2", id)
		}
	}
}

// TestPartition: messages cross no partition boundary, a member in no
// group and an isolated member reach nobody, and Heal restores it all.
func TestPartition(t *testing.T) {
	n, eps, rafts := cluster(t, 5, 4)
	n.Partition([]uint64{1, 2}, []uint64{3})
	for _, to := range []uint64{2, 3, 4} {
		eps[1].Send([]*pb.Message{msg(1, to, 1)})
	}
	eps[3].Send([]*pb.Message{msg(3, 1, 1)})
	eps[4].Send([]*pb.Message{msg(4, 3, 1)})
	waitUntil(t, "1→2", func() bool { return rafts[2].stepCount() == 1 })
	rafts[1].mu.Lock()
	if got := rafts[1].unreachable; !slices.Equal(got, []uint64{3, 4}) {
		t.Errorf("1's unreachable reports %v, want [3 4]", got)
	}
	rafts[1].mu.Unlock()
	if rafts[3].unreachableCount() != 1 || rafts[4].unreachableCount() != 1 {
		t.Error("3→1 or 4→3 not reported unreachable")
	}

	n.Heal()
	n.Isolate(2)
	eps[1].Send([]*pb.Message{msg(1, 2, 2), msg(1, 3, 2)})
	eps[2].Send([]*pb.Message{msg(2, 4, 2)})
	waitUntil(t, "1→3 after Heal", func() bool { return rafts[3].stepCount() == 1 })

	n.Heal()
	eps[1].Send([]*pb.Message{msg(1, 2, 3)})
	eps[2].Send([]*pb.Message{msg(2, 4, 3)})
	waitUntil(t, "1→2 and 2→4 after Heal", func() bool { return rafts[2].stepCount() == 2 && rafts[4].stepCount() == 1 })
	if got := rafts[2].indexes(); !slices.Equal(got, []uint64{1, 3}) {
		t.Fatalf("2 received %v, want [1 3]: message 2 was sent while it was isolated", got)
	}
	if got := rafts[4].indexes(); !slices.Equal(got, []uint64{3}) {
		t.Fatalf("4 received %v, want [3]", got)
	}
}

// TestInFlightLost: a partition made while messages are delayed on a link
// loses them, and the sender hears of it.
func TestInFlightLost(t *testing.T) {
	n, eps, rafts := cluster(t, 6, 2)
	n.SetLink(1, 2, Link{MinDelay: 50 * time.Millisecond})
	sendN(eps[1], 2, 5)
	n.Isolate(2)
	waitUntil(t, "the losses reported", func() bool { return rafts[1].unreachableCount() == 5 })
	n.Heal()
	eps[1].Send([]*pb.Message{msg(1, 2, 6)})
	waitUntil(t, "a message after Heal", func() bool { return rafts[2].stepCount() == 1 })
	if got := rafts[2].indexes(); !slices.Equal(got, []uint64{6}) {
		t.Fatalf("received %v, want only [6]", got)
	}
}

// TestSnapshotReports: a delivered MsgSnap is reported finished to its
// sender, a lost one failed (and unreachable).
func TestSnapshotReports(t *testing.T) {
	n, eps, rafts := cluster(t, 7, 3)
	snap := func(to uint64) *pb.Message {
		return &pb.Message{Type: pb.MsgSnap.Enum(), From: proto.Uint64(1), To: proto.Uint64(to)}
	}
	n.Isolate(3)
	eps[1].Send([]*pb.Message{snap(2), snap(3)})
	waitUntil(t, "two snapshot reports", func() bool {
		rafts[1].mu.Lock()
		defer rafts[1].mu.Unlock()
		return len(rafts[1].snaps) == 2
	})
	rafts[1].mu.Lock()
	defer rafts[1].mu.Unlock()
	got := rafts[1].snaps
	slices.SortFunc(got, func(a, b snapReport) int { return int(a.id) - int(b.id) })
	if want := []snapReport{{2, raft.SnapshotFinish}, {3, raft.SnapshotFailure}}; !slices.Equal(got, want) {
		t.Fatalf("snapshot reports %v, want %v", got, want)
	}
	if !slices.Equal(rafts[1].unreachable, []uint64{3}) {
		t.Fatalf("unreachable reports %v, want [3]", rafts[1].unreachable)
	}
}

// TestSendNeverBlocks: with the receiver stuck in Step, Send goes on,
// dropping past the queue limit and reporting each loss.
func TestSendNeverBlocks(t *testing.T) {
	n := NewNetwork(8, nil)
	defer n.Close()
	sender, stuck := &memRaft{}, &memRaft{block: make(chan struct{})}
	e1, e2 := n.Add(1), n.Add(2)
	e1.Start(sender)
	e2.Start(stuck)
	const count = 3 * MemQueueLimit
	done := make(chan struct{})
	go func() {
		defer close(done)
		sendN(e1, 2, count)
	}()
	select {
	case <-done:
	case <-time.After(waitTimeout):
		t.Fatal("Send blocked on a stuck receiver")
	}
	// One message may be in Step, MemQueueLimit queued.
	if lost := sender.unreachableCount(); lost < count-MemQueueLimit-1 {
		t.Fatalf("%d losses reported, want at least %d", lost, count-MemQueueLimit-1)
	}
	close(stuck.block)
	waitUntil(t, "the queued messages", func() bool { return stuck.stepCount()+sender.unreachableCount() == count })
	if !slices.IsSorted(stuck.indexes()) {
		t.Fatal("messages out of order")
	}
}

// TestCloseEndpoint: Close cancels a running Step, drops what is queued
// for the member and what it sent that is still in flight; a new Endpoint
// for the same id (a restart) gets only what is sent after it is added.
func TestCloseEndpoint(t *testing.T) {
	n := NewNetwork(9, nil)
	defer n.Close()
	r1, stuck := &memRaft{}, &memRaft{block: make(chan struct{})}
	e1, e2 := n.Add(1), n.Add(2)
	e1.Start(r1)
	e2.Start(stuck)
	sendN(e1, 2, 3)
	waitUntil(t, "Step to be called", func() bool {
		n.mu.Lock()
		defer n.mu.Unlock()
		return len(e2.queue) == 2
	})
	n.SetLink(2, 1, Link{MinDelay: time.Hour})
	e2.Send([]*pb.Message{msg(2, 1, 1)}) // in flight when 2 crashes
	closed := make(chan struct{})
	go func() { e2.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(waitTimeout):
		t.Fatal("Close did not end a blocked Step")
	}
	stuck.mu.Lock()
	ctxErrs := stuck.stepCtxErrs
	stuck.mu.Unlock()
	if ctxErrs != 1 {
		t.Fatalf("%d Steps saw their ctx end, want 1", ctxErrs)
	}
	e1.Send([]*pb.Message{msg(1, 2, 4)})
	e2.Send([]*pb.Message{msg(2, 1, 2)}) // a crashed member sends nothing
	if got := r1.unreachableCount(); got != 1 {
		t.Fatalf("%d unreachable reports, want 1 (4 to the closed member)", got)
	}
	n.Heal()

	r2 := &memRaft{}
	e2b := n.Add(2)
	e2b.Start(r2)
	e1.Send([]*pb.Message{msg(1, 2, 5)})
	e2b.Send([]*pb.Message{msg(2, 1, 3)})
	waitUntil(t, "delivery to and from the restarted member", func() bool { return r2.stepCount() == 1 && r1.stepCount() == 1 })
	if got := r2.indexes(); !slices.Equal(got, []uint64{5}) {
		t.Fatalf("restarted member received %v, want [5]", got)
	}
	if got := r1.indexes(); !slices.Equal(got, []uint64{3}) {
		t.Fatalf("1 received %v, want only [3] from the new incarnation", got)
	}
}

// TestAddAttachedPanics: an id cannot be attached twice at once.
func TestAddAttachedPanics(t *testing.T) {
	n := NewNetwork(10, nil)
	defer n.Close()
	n.Add(1)
	defer func() {
		if recover() == nil {
			t.Fatal("adding an attached id did not panic")
		}
	}()
	n.Add(1)
}

// TestCloseStopsGoroutines: Network.Close stops every delivery goroutine,
// including one blocked in Step, and later Sends are dropped.
func TestCloseStopsGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	n := NewNetwork(11, nil)
	rafts := []*memRaft{{}, {block: make(chan struct{})}, {}}
	var eps []*Endpoint
	for i, r := range rafts {
		e := n.Add(uint64(i + 1))
		e.Start(r)
		eps = append(eps, e)
	}
	n.SetLink(1, 3, Link{MinDelay: time.Hour})
	sendN(eps[0], 2, 10)
	sendN(eps[0], 3, 10)
	done := make(chan struct{})
	go func() { n.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(waitTimeout):
		t.Fatal("Close did not return")
	}
	waitUntil(t, "the goroutines to exit", func() bool { return runtime.NumGoroutine() <= before })
	eps[0].Send([]*pb.Message{msg(1, 3, 11)})
	if e := n.Add(4); !e.closed {
		t.Fatal("Add after Close gave an open Endpoint")
	}
	if rafts[2].stepCount() != 0 {
		t.Fatal("a message was delivered after Close")
	}
}
