package transport

import (
	"bytes"
	"encoding/binary"
	"slices"
	"sync"
	"testing"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
)

// msgRecorder records the member messages a transport hands its handler,
// and notices two calls at once for one sender.
type msgRecorder struct {
	mu        sync.Mutex
	block     chan struct{} // non-nil: the handler waits for it to close
	got       map[uint64][][]byte
	inHandler map[uint64]bool
	overlap   bool
}

func newMsgRecorder() *msgRecorder {
	return &msgRecorder{got: make(map[uint64][][]byte), inHandler: make(map[uint64]bool)}
}

func (r *msgRecorder) handle(from uint64, data []byte) {
	r.mu.Lock()
	if r.inHandler[from] {
		r.overlap = true
	}
	r.inHandler[from] = true
	block := r.block
	r.mu.Unlock()
	if block != nil {
		<-block
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got[from] = append(r.got[from], data)
	r.inHandler[from] = false
}

// setBlock makes the handler wait until the returned func is called.
func (r *msgRecorder) setBlock() (unblock func()) {
	c := make(chan struct{})
	r.mu.Lock()
	r.block = c
	r.mu.Unlock()
	return sync.OnceFunc(func() { close(c) })
}

// count returns how many messages came from member from.
func (r *msgRecorder) count(from uint64) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got[from])
}

// seqs returns the numbers (see numbered) of the messages from from, in
// arrival order, and fails if the handler ever overlapped itself.
func (r *msgRecorder) seqs(t *testing.T, from uint64) []uint64 {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.overlap {
		t.Fatal("the handler ran twice at once for one sender")
	}
	var out []uint64
	for _, data := range r.got[from] {
		out = append(out, binary.BigEndian.Uint64(data))
	}
	return out
}

// numbered is a member message carrying i, padded to 8+pad bytes.
func numbered(i uint64, pad int) []byte {
	return append(binary.BigEndian.AppendUint64(nil, i), bytes.Repeat([]byte{byte(i)}, pad)...)
}

// checkIncreasing fails unless seqs is strictly increasing.
func checkIncreasing(t *testing.T, seqs []uint64) {
	t.Helper()
	for i := 1; i < len(seqs); i++ {
		if seqs[i] <= seqs[i-1] {
			t.Fatalf("member messages out of order: %d then %d", seqs[i-1], seqs[i])
		}
	}
}

// messageCluster adds members 1..size to a new network, each with a
// recorder as its handler, and starts them.
func messageCluster(t *testing.T, seed uint64, size int) (*Network, []*Endpoint, []*memRaft, []*msgRecorder) {
	t.Helper()
	n := NewNetwork(seed, nil)
	t.Cleanup(n.Close)
	eps := make([]*Endpoint, size+1)
	rafts := make([]*memRaft, size+1)
	recs := make([]*msgRecorder, size+1)
	for id := 1; id <= size; id++ {
		eps[id], rafts[id], recs[id] = n.Add(uint64(id)), &memRaft{}, newMsgRecorder()
		eps[id].Handle(recs[id].handle)
		eps[id].Start(rafts[id])
	}
	return n, eps, rafts, recs
}

// TestMemMessagesInOrder: member messages on a delaying link arrive, all
// and in order, interleaved with raft messages that do too; the receiver
// gets a copy of the data.
func TestMemMessagesInOrder(t *testing.T) {
	n, eps, rafts, recs := messageCluster(t, 21, 2)
	n.SetLink(1, 2, Link{MaxDelay: 2 * time.Millisecond})
	const count = 300
	sent := numbered(1, 4)
	for i := uint64(1); i <= count; i++ {
		data := numbered(i, int(i%7))
		if i == 1 {
			data = sent
		}
		if !eps[1].SendMessage(2, data) {
			t.Fatalf("SendMessage %d refused on a perfect link", i)
		}
		eps[1].Send([]*pb.Message{msg(1, 2, i)})
	}
	sent[0] = 0xff // the network holds its own copy
	waitUntil(t, "every message", func() bool { return recs[2].count(1) == count && rafts[2].stepCount() == count })
	if got := recs[2].seqs(t, 1); !slices.Equal(got, seq(count)) {
		t.Fatalf("member messages %v, want 1..%d in order", got, count)
	}
	if got := rafts[2].indexes(); !slices.Equal(got, seq(count)) {
		t.Fatalf("raft messages %v, want 1..%d in order", got, count)
	}
	if c := rafts[1].unreachableCount(); c != 0 {
		t.Fatalf("%d unreachable reports on a perfect link", c)
	}
}

// TestMemMessagesFaults: SendMessage refuses what cannot be queued, a
// partition or isolation loses member messages (in flight too) without a
// report to raft, and Heal restores delivery.
func TestMemMessagesFaults(t *testing.T) {
	n, eps, rafts, recs := messageCluster(t, 22, 3)
	for _, tc := range []struct {
		name   string
		fault  func()
		from   uint64
		to     uint64
		data   []byte
		wantOK bool
	}{
		{"unknown member", func() {}, 1, 9, numbered(1, 0), false},
		{"too large", func() {}, 1, 2, make([]byte, MaxMessageBytes+1), false},
		{"largest", func() {}, 1, 2, numbered(1, MaxMessageBytes-8), true},
		{"partitioned", func() { n.Partition([]uint64{1}, []uint64{2, 3}) }, 1, 2, numbered(2, 0), false},
		{"same side of a partition", func() { n.Partition([]uint64{1}, []uint64{2, 3}) }, 3, 2, numbered(1, 0), true},
		{"isolated", func() { n.Isolate(2) }, 3, 2, numbered(2, 0), false},
		{"lossy link", func() { n.SetLink(3, 2, Link{Drop: 1}) }, 3, 2, numbered(3, 0), false},
		{"healed", func() {}, 1, 2, numbered(4, 0), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n.Heal()
			tc.fault()
			var before int
			if tc.wantOK {
				before = recs[tc.to].count(tc.from)
			}
			if ok := eps[tc.from].SendMessage(tc.to, tc.data); ok != tc.wantOK {
				t.Fatalf("SendMessage = %v, want %v", ok, tc.wantOK)
			}
			if tc.wantOK {
				waitUntil(t, "delivery", func() bool { return recs[tc.to].count(tc.from) == before+1 })
			}
		})
	}

	// Lost in flight: delayed, then the receiver is isolated.
	n.Heal()
	n.SetLink(1, 3, Link{MinDelay: 30 * time.Millisecond})
	if !eps[1].SendMessage(3, numbered(1, 0)) {
		t.Fatal("SendMessage refused on a delaying link")
	}
	n.Isolate(3)
	waitUntil(t, "the message in flight to be taken off 3's queue", func() bool {
		n.mu.Lock()
		defer n.mu.Unlock()
		return len(eps[3].queue) == 0
	})
	n.Heal()
	if !eps[1].SendMessage(3, numbered(2, 0)) {
		t.Fatal("SendMessage refused after Heal")
	}
	waitUntil(t, "delivery after Heal", func() bool { return recs[3].count(1) == 1 })
	if got := recs[3].seqs(t, 1); !slices.Equal(got, []uint64{2}) {
		t.Fatalf("3 received %v, want only [2]", got)
	}
	for id := 1; id <= 3; id++ {
		if c := rafts[id].unreachableCount(); c != 0 {
			t.Fatalf("member %d got %d unreachable reports for member messages", id, c)
		}
	}

	// A closed Endpoint sends nothing and receives nothing.
	eps[2].Close()
	if eps[2].SendMessage(1, numbered(1, 0)) || eps[1].SendMessage(2, numbered(5, 0)) {
		t.Fatal("SendMessage from or to a closed Endpoint accepted")
	}
}
