package transport

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// MemQueueLimit bounds the messages queued in a Network for one member
// (sent, not yet handed to its Raft or handler), raft and member messages
// together; past it Send and SendMessage drop, as a full TCP queue does.
const MemQueueLimit = 1024

// memReorderWindow is how long a message on a reordering link without a
// delay range may be held, so that later messages can overtake it.
const memReorderWindow = time.Millisecond

// Link describes the faults of one directed link of a Network. The zero
// Link is a perfect link: no loss, no delay, in order.
type Link struct {
	// Drop is the probability, in [0, 1], that a message is lost. A lost
	// message is reported unreachable to its sender, as every drop is.
	Drop float64
	// MinDelay and MaxDelay bound the delay of each message, drawn
	// uniformly; MaxDelay 0 means exactly MinDelay. Without Reorder a
	// message is never delivered before an earlier one on its link, so a
	// long delay holds up the messages behind it.
	MinDelay, MaxDelay time.Duration
	// Reorder lets a message overtake earlier ones on its link: each
	// message gets its own delay (with MaxDelay 0, up to 1ms).
	Reorder bool
}

type linkKey struct{ from, to uint64 }

// Network is an in-memory network between the members of a cluster in one
// process, for tests. It keeps the contract of the package (Send never
// blocks, per-link order unless told to reorder, Step with a ctx ended by
// Close) and can partition members, isolate one, and drop, delay and
// reorder messages per directed link. Member messages (SendMessage) share
// the queues, the faults and the order of raft messages on each link, but
// a lost one is never reported to Raft.
//
// A MsgSnap is delivered with its state: on the receiver's delivery
// goroutine, the state opened by the sender's Raft.OpenSnapshot is handed
// to the receiver's Raft.ReceiveSnapshot, and the stream breaks if the two
// are parted (a partition, a crash) while it runs.
//
// A message is checked twice: when it is sent (the destination attached
// and reachable, the queue not full, the link's drop draw) and when it is
// delivered (both ends still attached and reachable), so that a partition
// or a crash also loses the messages in flight. Every lost message is
// reported to its sender's Raft: ReportUnreachable, and for a MsgSnap
// also ReportSnapshot(SnapshotFailure); a delivered MsgSnap is reported
// SnapshotFinish once ReceiveSnapshot accepted it.
//
// The random draws (drops, delays) come from one generator seeded by
// NewNetwork, in the order of the Sends; members on several goroutines make
// that order vary, so a seed replays the faults' distribution, not an
// exact schedule. Delays use the wall clock. All methods are safe for
// concurrent use.
type Network struct {
	logger *slog.Logger

	mu        sync.Mutex
	rng       *rand.Rand
	endpoints map[uint64]*Endpoint // the current attachment of each id
	groups    map[uint64]int       // nil: no partition
	isolated  map[uint64]bool
	links     map[linkKey]Link
	seq       uint64
	closed    bool
}

// NewNetwork returns an empty network whose random faults are drawn from a
// generator seeded with seed. A nil logger discards.
func NewNetwork(seed uint64, logger *slog.Logger) *Network {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Network{
		logger:    logger,
		rng:       rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		endpoints: make(map[uint64]*Endpoint),
		isolated:  make(map[uint64]bool),
		links:     make(map[linkKey]Link),
	}
}

// Add attaches member id to the network and returns its Endpoint, which
// implements raftnode.Transport. Messages addressed to id queue (bounded)
// until Start. An id may be added again after its Endpoint is closed (a
// restarted member); adding an id that is attached panics.
func (n *Network) Add(id uint64) *Endpoint {
	if id == 0 {
		panic("transport: member id 0")
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &Endpoint{net: n, id: id, wake: make(chan struct{}, 1), ctx: ctx, cancel: cancel, lastAt: make(map[uint64]time.Time)}
	n.mu.Lock()
	defer n.mu.Unlock()
	if old := n.endpoints[id]; old != nil && !old.closed {
		panic(fmt.Sprintf("transport: member %d is already attached", id))
	}
	if n.closed {
		e.closed = true
		cancel()
	}
	n.endpoints[id] = e
	return e
}

// Partition splits the network: messages between members of different
// groups are dropped, and a member in no group is isolated. It replaces
// the previous partition; isolation (Isolate) and link faults stay.
func (n *Network) Partition(groups ...[]uint64) {
	g := make(map[uint64]int)
	for i, grp := range groups {
		for _, id := range grp {
			if _, ok := g[id]; ok {
				panic(fmt.Sprintf("transport: member %d is in two groups of a partition", id))
			}
			g[id] = i
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.groups = g
}

// Isolate cuts member id off from every other member until Heal.
func (n *Network) Isolate(id uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.isolated[id] = true
}

// Heal removes partitions, isolations and link faults.
func (n *Network) Heal() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.groups = nil
	clear(n.isolated)
	clear(n.links)
}

// SetLink sets the faults of the directed link from one member to another
// (the zero Link removes them). It panics on a Link out of range.
func (n *Network) SetLink(from, to uint64, l Link) {
	if l.Drop < 0 || l.Drop > 1 || l.MinDelay < 0 || (l.MaxDelay != 0 && l.MaxDelay < l.MinDelay) {
		panic(fmt.Sprintf("transport: bad Link %+v", l))
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if l == (Link{}) {
		delete(n.links, linkKey{from, to})
		return
	}
	n.links[linkKey{from, to}] = l
}

// Close detaches every member and waits for the delivery goroutines to
// stop. Sends after Close are dropped.
func (n *Network) Close() {
	n.mu.Lock()
	n.closed = true
	eps := make([]*Endpoint, 0, len(n.endpoints))
	for _, e := range n.endpoints {
		eps = append(eps, e)
	}
	n.mu.Unlock()
	for _, e := range eps {
		e.Close()
	}
}

// reachable reports whether a message from one member to another passes
// the partition and isolations. n.mu is held.
func (n *Network) reachable(from, to uint64) bool {
	if n.isolated[from] || n.isolated[to] {
		return false
	}
	if n.groups == nil {
		return true
	}
	gf, okf := n.groups[from]
	gt, okt := n.groups[to]
	return okf && okt && gf == gt
}

// deliverAt draws when a message sent now by src on link k is delivered.
// n.mu is held.
func (n *Network) deliverAt(src *Endpoint, k linkKey, l Link, now time.Time) time.Time {
	d := l.MinDelay
	switch {
	case l.MaxDelay > l.MinDelay:
		d += time.Duration(n.rng.Int64N(int64(l.MaxDelay-l.MinDelay) + 1))
	case l.Reorder && l.MaxDelay == 0:
		d += time.Duration(n.rng.Int64N(int64(memReorderWindow) + 1))
	}
	at := now.Add(d)
	if !l.Reorder {
		if last := src.lastAt[k.to]; at.Before(last) {
			at = last
		}
		src.lastAt[k.to] = at
	}
	return at
}

// Endpoint is one member's attachment to a Network. It implements
// Transport: it delivers the raft messages addressed to its member to the
// Raft given to Start, and its member messages to the function given to
// Handle.
type Endpoint struct {
	net  *Network
	id   uint64
	wake chan struct{} // capacity 1: a message was queued
	ctx  context.Context
	// cancel ends ctx, the ctx of every Step; Close calls it.
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// Guarded by net.mu.
	raft    Raft
	handler func(from uint64, data []byte)
	queue   envelopes
	closed  bool
	started bool
	// lastAt is the latest delivery time of a message sent to each peer:
	// on an in-order link a message is not delivered before it. A new
	// Endpoint for the same id starts afresh, as a new connection would.
	lastAt map[uint64]time.Time
}

// envelope is a message in flight to an Endpoint: a raft message, or a
// member message if msg is nil.
type envelope struct {
	msg  *pb.Message
	data []byte // a member message's
	src  *Endpoint
	at   time.Time // when it may be delivered
	seq  uint64    // send order, to break ties in at
}

// envelopes is a min-heap on (at, seq).
type envelopes []*envelope

func (h envelopes) Len() int { return len(h) }
func (h envelopes) Less(i, j int) bool {
	if !h[i].at.Equal(h[j].at) {
		return h[i].at.Before(h[j].at)
	}
	return h[i].seq < h[j].seq
}
func (h envelopes) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *envelopes) Push(x any)   { *h = append(*h, x.(*envelope)) }
func (h *envelopes) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}

// ID returns the member id the Endpoint was added with.
func (e *Endpoint) ID() uint64 { return e.id }

// Send queues a copy of each message for its destination and returns
// without blocking. A message that cannot be queued (destination unknown,
// closed or unreachable, its queue full, or lost to the link's Drop) is
// reported to this member's Raft (once Start has given one). Messages sent
// by a closed Endpoint vanish without a report.
func (e *Endpoint) Send(msgs []*pb.Message) {
	n := e.net
	var lost []*pb.Message
	n.mu.Lock()
	if e.closed {
		n.mu.Unlock()
		return
	}
	now := time.Now()
	for _, m := range msgs {
		if !n.enqueue(e, m.GetTo(), now, func() *envelope { return &envelope{msg: proto.Clone(m).(*pb.Message)} }) {
			lost = append(lost, m)
		}
	}
	r := e.raft
	n.mu.Unlock()
	for _, m := range lost {
		n.logger.Debug("message dropped", "type", m.GetType(), "from", e.id, "to", m.GetTo())
		reportLost(r, m)
	}
}

// SendMessage queues a copy of data, a member message, for member to and
// returns without blocking. It reports false if the message cannot be
// queued: data longer than MaxMessageBytes, the destination unknown,
// closed or unreachable, its queue full, lost to the link's Drop, or this
// Endpoint closed. A member message lost in flight is dropped silently.
func (e *Endpoint) SendMessage(to uint64, data []byte) bool {
	if len(data) > MaxMessageBytes {
		return false
	}
	n := e.net
	n.mu.Lock()
	defer n.mu.Unlock()
	if e.closed {
		return false
	}
	return n.enqueue(e, to, time.Now(), func() *envelope { return &envelope{data: slices.Clone(data)} })
}

// Handle sets the function that receives the member messages addressed
// to this member; nil drops them. Call it before Start: a message
// delivered before is dropped. h is called on the delivery goroutine, one
// message at a time; it must not block for long, since the raft messages
// to this member wait for it. h may keep data.
func (e *Endpoint) Handle(h func(from uint64, data []byte)) {
	e.net.mu.Lock()
	defer e.net.mu.Unlock()
	e.handler = h
}

// enqueue queues the envelope newEnv makes for member to, from src, unless
// the destination is unknown, closed or unreachable, its queue is full, or
// the link's Drop draw loses it; it reports whether it did. n.mu is held.
func (n *Network) enqueue(src *Endpoint, to uint64, now time.Time, newEnv func() *envelope) bool {
	dst := n.endpoints[to]
	k := linkKey{src.id, to}
	l := n.links[k]
	if dst == nil || dst.closed || !n.reachable(src.id, to) || len(dst.queue) >= MemQueueLimit ||
		(l.Drop > 0 && n.rng.Float64() < l.Drop) {
		return false
	}
	env := newEnv()
	n.seq++
	env.src, env.at, env.seq = src, n.deliverAt(src, k, l, now), n.seq
	heap.Push(&dst.queue, env)
	select {
	case dst.wake <- struct{}{}:
	default:
	}
	return true
}

// reportLost tells the sender's raft (nil: none yet) that m was lost.
func reportLost(r Raft, m *pb.Message) {
	if r == nil {
		return
	}
	r.ReportUnreachable(m.GetTo())
	if m.GetType() == pb.MsgSnap {
		r.ReportSnapshot(m.GetTo(), raft.SnapshotFailure)
	}
}

// Start begins delivering the messages addressed to this member, in
// delivery-time order, from one goroutine: raft messages to r.Step, member
// messages to the handler. It sends this member's drop reports to r. It panics if called twice; on a closed
// Endpoint it does nothing.
func (e *Endpoint) Start(r Raft) {
	n := e.net
	n.mu.Lock()
	defer n.mu.Unlock()
	if e.started {
		panic(fmt.Sprintf("transport: Endpoint %d started twice", e.id))
	}
	e.started = true
	if e.closed {
		return
	}
	e.raft = r
	e.wg.Add(1)
	go e.deliver()
}

// Close detaches the member, as a crash does: the messages queued for it
// and those it sent that are still in flight are dropped, and so is
// everything sent to or by it from now on. It cancels the ctx of a running
// Step and waits for the delivery goroutine to stop. Close may be called
// more than once; it always returns nil.
func (e *Endpoint) Close() error {
	n := e.net
	n.mu.Lock()
	e.closed = true
	clear(e.queue)
	e.queue = nil
	for _, dst := range n.endpoints {
		// Remove what e sent that is in flight: it is lost, and must not
		// take a place in the queue.
		kept := slices.DeleteFunc(dst.queue, func(env *envelope) bool { return env.src == e })
		if len(kept) != len(dst.queue) {
			dst.queue = kept
			heap.Init(&dst.queue)
		}
	}
	n.mu.Unlock()
	e.cancel()
	e.wg.Wait()
	return nil
}

// deliver is the Endpoint's delivery goroutine.
func (e *Endpoint) deliver() {
	defer e.wg.Done()
	n := e.net
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for e.ctx.Err() == nil {
		n.mu.Lock()
		var (
			next     *envelope
			wait     time.Duration
			ok       bool
			srcRaft  Raft
			dstRaft  = e.raft
			handler  = e.handler
			haveWait bool
		)
		if len(e.queue) > 0 {
			if d := time.Until(e.queue[0].at); d > 0 {
				wait, haveWait = d, true
			} else {
				next = heap.Pop(&e.queue).(*envelope)
				ok = !next.src.closed && n.reachable(next.src.id, e.id)
				if !next.src.closed {
					srcRaft = next.src.raft
				}
			}
		}
		n.mu.Unlock()

		if next != nil && next.msg == nil {
			switch {
			case !ok:
				n.logger.Debug("member message lost in flight", "from", next.src.id, "to", e.id)
			case handler == nil:
				n.logger.Debug("member message dropped: no handler", "from", next.src.id, "to", e.id)
			default:
				handler(next.src.id, next.data)
			}
			continue
		}
		if next != nil {
			if !ok {
				n.logger.Debug("message lost in flight", "type", next.msg.GetType(), "from", next.src.id, "to", e.id)
				reportLost(srcRaft, next.msg)
				continue
			}
			if next.msg.GetType() == pb.MsgSnap {
				e.deliverSnapshot(next, srcRaft, dstRaft)
				continue
			}
			if err := dstRaft.Step(e.ctx, next.msg); err != nil {
				n.logger.Debug("step failed", "type", next.msg.GetType(), "from", next.src.id, "to", e.id, "err", err)
			} else if next.msg.GetType() == pb.MsgSnap && srcRaft != nil {
				srcRaft.ReportSnapshot(e.id, raft.SnapshotFinish)
			}
			continue
		}
		if haveWait {
			timer.Reset(wait)
		}
		select {
		case <-e.ctx.Done():
		case <-e.wake:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// deliverSnapshot streams the state of the MsgSnap in env from its
// sender's Raft to dst and reports the outcome to the sender. It runs on
// the receiver's delivery goroutine, as a TCP snapshot runs on its own
// connection.
func (e *Endpoint) deliverSnapshot(env *envelope, src, dst Raft) {
	n, m := e.net, env.msg
	if src == nil {
		return // the sender never started: there is no one to report to
	}
	err := func() error {
		rc, err := src.OpenSnapshot(m.GetSnapshot().GetMetadata().GetIndex())
		if err != nil {
			return err
		}
		defer rc.Close()
		return dst.ReceiveSnapshot(e.ctx, m, &memSnapshotReader{r: rc, net: n, src: env.src, dst: e})
	}()
	if err != nil {
		n.logger.Debug("snapshot failed", "from", env.src.id, "to", e.id, "err", err)
		src.ReportSnapshot(e.id, raft.SnapshotFailure)
		return
	}
	src.ReportSnapshot(e.id, raft.SnapshotFinish)
}

// errMemSnapshotCut breaks a snapshot stream whose ends were parted.
var errMemSnapshotCut = errors.New("transport: snapshot stream cut: the members were parted")

// memSnapshotReader is a snapshot's state in flight on a Network: each
// Read fails once the sender is closed or the two members are parted.
type memSnapshotReader struct {
	r        io.Reader
	net      *Network
	src, dst *Endpoint
}

func (r *memSnapshotReader) Read(p []byte) (int, error) {
	r.net.mu.Lock()
	ok := !r.src.closed && !r.dst.closed && r.net.reachable(r.src.id, r.dst.id)
	r.net.mu.Unlock()
	if !ok {
		return 0, errMemSnapshotCut
	}
	return r.r.Read(p)
}
