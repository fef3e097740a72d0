package transport

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/arbor-coord/arbor/internal/freeport"
)

// fakeRaft records what a transport hands it.
type fakeRaft struct {
	mu sync.Mutex
	// block, if not nil, makes Step wait until it is closed (or ctx ends).
	block       chan struct{}
	msgs        []*pb.Message
	unreachable map[uint64]int
	snapFailed  map[uint64]int
	snapDone    map[uint64]int
	// states are the snapshot states OpenSnapshot serves, by index.
	states map[uint64][]byte
	// refuse, if set, is what ReceiveSnapshot returns after reading the
	// state.
	refuse error
	// snapshots are the MsgSnaps received, with their states.
	snapshots []receivedSnapshot
}

type receivedSnapshot struct {
	msg   *pb.Message
	state []byte
}

func newFakeRaft() *fakeRaft {
	return &fakeRaft{unreachable: make(map[uint64]int), snapFailed: make(map[uint64]int),
		snapDone: make(map[uint64]int), states: make(map[uint64][]byte)}
}

func (f *fakeRaft) OpenSnapshot(index uint64) (io.ReadCloser, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.states[index]
	if !ok {
		return nil, fmt.Errorf("no snapshot at index %d", index)
	}
	return io.NopCloser(bytes.NewReader(s)), nil
}

func (f *fakeRaft) ReceiveSnapshot(ctx context.Context, m *pb.Message, r io.Reader) error {
	state, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	f.mu.Lock()
	refuse := f.refuse
	if refuse == nil {
		f.snapshots = append(f.snapshots, receivedSnapshot{m, state})
	}
	f.mu.Unlock()
	if refuse != nil {
		return refuse
	}
	return f.Step(ctx, m)
}

func (f *fakeRaft) Step(ctx context.Context, m *pb.Message) error {
	f.mu.Lock()
	block := f.block
	f.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	f.mu.Lock()
	f.msgs = append(f.msgs, m)
	f.mu.Unlock()
	return nil
}

// setBlock makes Step wait until the returned func is called.
func (f *fakeRaft) setBlock() (unblock func()) {
	c := make(chan struct{})
	f.mu.Lock()
	f.block = c
	f.mu.Unlock()
	return func() { close(c) }
}

func (f *fakeRaft) ReportUnreachable(id uint64) {
	f.mu.Lock()
	f.unreachable[id]++
	f.mu.Unlock()
}

func (f *fakeRaft) ReportSnapshot(id uint64, status raft.SnapshotStatus) {
	f.mu.Lock()
	if status == raft.SnapshotFailure {
		f.snapFailed[id]++
	} else {
		f.snapDone[id]++
	}
	f.mu.Unlock()
}

// received returns the messages from peer from, in arrival order.
func (f *fakeRaft) received(from uint64) []*pb.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*pb.Message
	for _, m := range f.msgs {
		if m.GetFrom() == from {
			out = append(out, m)
		}
	}
	return out
}

func (f *fakeRaft) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.msgs)
}

func (f *fakeRaft) unreachableCount(id uint64) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.unreachable[id]
}

func (f *fakeRaft) snapDoneCount(id uint64) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.snapDone[id]
}

func (f *fakeRaft) snapFailedCount(id uint64) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.snapFailed[id]
}

// logBuffer collects log lines from several goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// member is one transport under test with its fake raft and the member
// messages it received.
type member struct {
	tr   *TCP
	raft *fakeRaft
	msgs *msgRecorder
	logs *logBuffer
}

// newMember starts a transport for id on a loopback port, with cfg's other
// fields as given (ClusterID 1 unless set).
func newMember(t testing.TB, id uint64, cfg TCPConfig) *member {
	t.Helper()
	cfg.ID = id
	if cfg.ClusterID == 0 {
		cfg.ClusterID = 1
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	logs := &logBuffer{}
	cfg.Logger = logs.logger()
	tr, err := NewTCP(cfg)
	if err != nil {
		t.Fatalf("NewTCP(%d): %v", id, err)
	}
	t.Cleanup(func() { tr.Close() })
	r := newFakeRaft()
	msgs := newMsgRecorder()
	tr.Handle(msgs.handle)
	tr.Start(r)
	return &member{tr: tr, raft: r, msgs: msgs, logs: logs}
}

func connectAll(ms ...*member) {
	for _, a := range ms {
		for _, b := range ms {
			if a != b {
				a.tr.SetPeer(b.tr.cfg.ID, b.tr.Addr().String())
			}
		}
	}
}

// appMsg is a MsgApp from -> to at index carrying ents.
func appMsg(from, to, index uint64, ents []*pb.Entry) *pb.Message {
	return &pb.Message{
		Type:    pb.MsgApp.Enum(),
		From:    proto.Uint64(from),
		To:      proto.Uint64(to),
		Term:    proto.Uint64(1),
		Index:   proto.Uint64(index),
		Entries: ents,
	}
}

func entries(n, sizeBytes int) []*pb.Entry {
	ents := make([]*pb.Entry, n)
	for i := range ents {
		ents[i] = &pb.Entry{Term: proto.Uint64(1), Index: proto.Uint64(uint64(i + 1)), Data: bytes.Repeat([]byte{byte(i)}, sizeBytes)}
	}
	return ents
}

// checkInOrder checks that r got want messages from from, with indexes
// 1..want in order.
func checkInOrder(t *testing.T, r *fakeRaft, from uint64, want int) {
	t.Helper()
	got := r.received(from)
	if len(got) != want {
		t.Fatalf("got %d messages from %d, want %d", len(got), from, want)
	}
	for i, m := range got {
		if m.GetIndex() != uint64(i+1) {
			t.Fatalf("message %d from %d has index %d: out of order", i, from, m.GetIndex())
		}
	}
}

func TestTCPDeliveryInOrder(t *testing.T) {
	for _, n := range []int{2, 3} {
		t.Run(string(rune('0'+n))+"members", func(t *testing.T) {
			const perPeer = 2000
			ms := make([]*member, n)
			for i := range ms {
				ms[i] = newMember(t, uint64(i+1), TCPConfig{QueueMessages: perPeer})
			}
			connectAll(ms...)
			// One slice of entries shared by the messages to every peer,
			// as raft does: the writers encode it concurrently.
			ents := entries(3, 100)
			for idx := uint64(1); idx <= perPeer; idx += 50 {
				for _, a := range ms {
					var batch []*pb.Message
					for i := idx; i < idx+50; i++ {
						for _, b := range ms {
							if a != b {
								batch = append(batch, appMsg(a.tr.cfg.ID, b.tr.cfg.ID, i, ents))
							}
						}
					}
					a.tr.Send(batch)
				}
			}
			for _, b := range ms {
				waitUntil(t, "delivery", func() bool { return b.raft.count() >= (n-1)*perPeer })
			}
			for _, b := range ms {
				for _, a := range ms {
					if a != b {
						checkInOrder(t, b.raft, a.tr.cfg.ID, perPeer)
					}
				}
				if got := b.raft.received(ms[0].tr.cfg.ID); b != ms[0] && !proto.Equal(got[0].GetEntries()[2], ents[2]) {
					t.Fatalf("entry arrived as %v, want %v", got[0].GetEntries()[2], ents[2])
				}
			}
		})
	}
}

// ports hands out addresses below the ephemeral range, so that no dial
// takes one before its listener starts.
var ports freeport.Picker

// freeAddr returns a loopback address nothing listens on (now).
func freeAddr(t *testing.T) string {
	t.Helper()
	addr, err := ports.Addr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

func TestTCPPeerDown(t *testing.T) {
	const queue = 64
	addr2 := freeAddr(t)
	a := newMember(t, 1, TCPConfig{QueueMessages: queue, MaxBackoff: 50 * time.Millisecond, Peers: map[uint64]string{2: addr2}})

	// Send to the dead peer: every call returns at once, the peer is
	// reported, and the queue never holds more than its bound.
	start := time.Now()
	ents := entries(1, 100)
	for i := range 2000 {
		a.tr.Send([]*pb.Message{appMsg(1, 2, uint64(i+1), ents)})
		if i%100 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	if d := time.Since(start); d > waitTimeout {
		t.Fatalf("2000 Sends to a dead peer took %v", d)
	}
	waitUntil(t, "ReportUnreachable(2)", func() bool { return a.raft.unreachableCount(2) > 0 })
	a.tr.mu.RLock()
	if n := len(a.tr.peers[2].queue); n > queue {
		t.Fatalf("queue holds %d messages, bound %d", n, queue)
	}
	a.tr.mu.RUnlock()
	if !strings.Contains(a.logs.String(), "cannot open stream to peer") {
		t.Errorf("the failed dial was not logged:\n%s", a.logs)
	}

	// The peer comes up on its address: messages sent from then on arrive.
	b := newMember(t, 2, TCPConfig{Listen: addr2})
	idx := uint64(100000)
	waitUntil(t, "delivery after the peer came up", func() bool {
		idx++
		a.tr.Send([]*pb.Message{appMsg(1, 2, idx, ents)})
		return b.raft.count() > 0
	})
	got := b.raft.received(1)
	for i := 1; i < len(got); i++ {
		if got[i].GetIndex() <= got[i-1].GetIndex() {
			t.Fatalf("out of order after reconnect: %d then %d", got[i-1].GetIndex(), got[i].GetIndex())
		}
	}
}

func TestTCPQueueFull(t *testing.T) {
	const queue = 8
	b := newMember(t, 2, TCPConfig{})
	unblock := b.raft.setBlock()
	// Step blocks on b, so a's writer blocks once the socket buffers are
	// full; then its queue fills and Send drops. The write timeout is long
	// so that it is the queue, not the timeout, that drops.
	a := newMember(t, 1, TCPConfig{QueueMessages: queue, WriteTimeout: time.Minute})
	a.tr.SetPeer(2, b.tr.Addr().String())

	ents := entries(16, 1024)
	batch := make([]*pb.Message, 16)
	for i := 0; i < 100000 && a.raft.unreachableCount(2) == 0; i++ {
		for j := range batch {
			batch[j] = appMsg(1, 2, uint64(i*len(batch)+j+1), ents)
		}
		a.tr.Send(batch)
		if i%64 == 0 {
			time.Sleep(time.Millisecond) // let the reporter run
		}
	}
	waitUntil(t, "ReportUnreachable(2) on a full queue", func() bool { return a.raft.unreachableCount(2) > 0 })
	a.tr.mu.RLock()
	if n := len(a.tr.peers[2].queue); n > queue {
		t.Fatalf("queue holds %d messages, bound %d", n, queue)
	}
	a.tr.mu.RUnlock()
	if a.raft.snapFailedCount(2) != 0 {
		t.Fatalf("snapshot failure reported with no MsgSnap sent")
	}

	// A MsgSnap does not use the queue (it gets its own connection,
	// tcp_snapshot.go); this one has no state to send, so it is reported
	// as a failed snapshot all the same.
	snap := &pb.Message{Type: pb.MsgSnap.Enum(), From: proto.Uint64(1), To: proto.Uint64(2), Snapshot: &pb.Snapshot{}}
	waitUntil(t, "ReportSnapshot(2, failure)", func() bool {
		a.tr.Send(append(batch, snap))
		return a.raft.snapFailedCount(2) > 0
	})
	unblock()
}

func TestTCPSendToUnknownPeer(t *testing.T) {
	a := newMember(t, 1, TCPConfig{})
	a.tr.Send([]*pb.Message{
		appMsg(1, 7, 1, nil),
		{Type: pb.MsgSnap.Enum(), From: proto.Uint64(1), To: proto.Uint64(7)},
	})
	waitUntil(t, "reports for an unknown peer", func() bool {
		return a.raft.unreachableCount(7) > 0 && a.raft.snapFailedCount(7) > 0
	})
}

func TestTCPRefusedHandshakes(t *testing.T) {
	b := newMember(t, 2, TCPConfig{ClusterID: 1})
	for _, tc := range []struct {
		name      string
		cluster   uint64
		to        uint64 // the id the dialer believes b has
		wantLocal string // in the dialer's log
		wantB     string // in b's log
	}{
		{"wrong cluster", 99, 2, "cluster id mismatch", "cluster id 0x63, want 0x1"},
		{"wrong to", 1, 3, "stream addressed to another member id", "stream addressed to member 3, this is 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newMember(t, 1, TCPConfig{ClusterID: tc.cluster, MaxBackoff: 50 * time.Millisecond})
			a.tr.SetPeer(tc.to, b.tr.Addr().String())
			waitUntil(t, "the refusal logged at both ends", func() bool {
				a.tr.Send([]*pb.Message{appMsg(1, tc.to, 1, nil)})
				return strings.Contains(a.logs.String(), tc.wantLocal) && strings.Contains(b.logs.String(), tc.wantB)
			})
			waitUntil(t, "ReportUnreachable", func() bool { return a.raft.unreachableCount(tc.to) > 0 })
			if n := b.raft.count(); n != 0 {
				t.Fatalf("refused stream delivered %d messages", n)
			}
		})
	}
}

// rawDial opens a stream to tr by hand, from the byte format documented at
// handshakeBytes, and returns the status byte the acceptor answers.
func rawDial(t *testing.T, tr *TCP, hdr []byte) (net.Conn, byte) {
	t.Helper()
	c, err := net.Dial("tcp", tr.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(waitTimeout))
	if _, err := c.Write(hdr); err != nil {
		t.Fatal(err)
	}
	var status [1]byte
	if _, err := io.ReadFull(c, status[:]); err != nil {
		t.Fatalf("read status: %v", err)
	}
	return c, status[0]
}

func rawHeader(cluster, from, to uint64) []byte {
	hdr := []byte{'A', 'R', 'B', 'R', 1, 1, 0, 0}
	hdr = binary.BigEndian.AppendUint64(hdr, cluster)
	hdr = binary.BigEndian.AppendUint64(hdr, from)
	hdr = binary.BigEndian.AppendUint64(hdr, to)
	return hdr
}

// expectClosed fails unless the acceptor closes c.
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(waitTimeout))
	var b [1]byte
	if n, err := c.Read(b[:]); err == nil {
		t.Fatalf("stream not closed: read %d bytes", n)
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("stream not closed")
	}
}

func TestTCPBadInbound(t *testing.T) {
	b := newMember(t, 2, TCPConfig{MaxFrameBytes: 1024})
	a := newMember(t, 1, TCPConfig{})
	a.tr.SetPeer(2, b.tr.Addr().String())
	idx := uint64(0)
	// stillWorks checks that a's own stream to b still delivers.
	stillWorks := func() {
		t.Helper()
		want := len(b.raft.received(1)) + 1
		idx++
		a.tr.Send([]*pb.Message{appMsg(1, 2, idx, nil)})
		waitUntil(t, "delivery on the good stream", func() bool { return len(b.raft.received(1)) >= want })
	}
	stillWorks()

	frame := func(m *pb.Message) []byte {
		data, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return append(binary.AppendUvarint(nil, uint64(len(data))), data...)
	}
	for _, tc := range []struct {
		name    string
		payload []byte
		wantLog string
	}{
		{"oversized", binary.AppendUvarint(nil, 1025), "exceeds MaxFrameBytes"},
		{"garbage", []byte{5, 0xff, 0xff, 0xff, 0xff, 0xff}, "decode frame"},
		{"bad varint", bytes.Repeat([]byte{0xff}, 11), "read frame length"},
		{"wrong to", frame(appMsg(3, 1, 1, nil)), "addressed to 1 on a stream to 2"},
		{"wrong from", frame(appMsg(4, 2, 1, nil)), "from 4 on a stream from 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, status := rawDial(t, b.tr, rawHeader(1, 3, 2))
			if status != 0 {
				t.Fatalf("valid handshake answered %d", status)
			}
			if _, err := c.Write(tc.payload); err != nil {
				t.Fatal(err)
			}
			expectClosed(t, c)
			waitUntil(t, "the reason logged", func() bool { return strings.Contains(b.logs.String(), tc.wantLog) })
			if n := len(b.raft.received(3)); n != 0 {
				t.Fatalf("bad stream delivered %d messages", n)
			}
			stillWorks()
		})
	}

	t.Run("garbage handshake", func(t *testing.T) {
		c, status := rawDial(t, b.tr, bytes.Repeat([]byte("GET / HTTP/1.1\r\n"), 2))
		if status != statusBadMagic {
			t.Fatalf("garbage handshake answered %d, want %d", status, statusBadMagic)
		}
		expectClosed(t, c)
		waitUntil(t, "the refusal logged", func() bool { return strings.Contains(b.logs.String(), "bad magic or version") })
		stillWorks()
	})
	t.Run("unknown kind", func(t *testing.T) {
		hdr := rawHeader(1, 3, 2)
		hdr[5] = 9
		c, status := rawDial(t, b.tr, hdr)
		if status != statusBadKind {
			t.Fatalf("unknown kind answered %d, want %d", status, statusBadKind)
		}
		expectClosed(t, c)
	})
	t.Run("good raw stream", func(t *testing.T) {
		c, status := rawDial(t, b.tr, rawHeader(1, 3, 2))
		if status != 0 {
			t.Fatalf("valid handshake answered %d", status)
		}
		if _, err := c.Write(frame(appMsg(3, 2, 42, entries(1, 10)))); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "delivery from the raw stream", func() bool { return len(b.raft.received(3)) == 1 })
		if got := b.raft.received(3)[0].GetIndex(); got != 42 {
			t.Fatalf("got index %d, want 42", got)
		}
	})
}

func TestTCPNewerInboundReplacesOlder(t *testing.T) {
	b := newMember(t, 2, TCPConfig{})
	old, status := rawDial(t, b.tr, rawHeader(1, 3, 2))
	if status != 0 {
		t.Fatalf("status %d", status)
	}
	newer, status := rawDial(t, b.tr, rawHeader(1, 3, 2))
	if status != 0 {
		t.Fatalf("status %d", status)
	}
	expectClosed(t, old)
	data, err := proto.Marshal(appMsg(3, 2, 7, nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newer.Write(append(binary.AppendUvarint(nil, uint64(len(data))), data...)); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "delivery on the newer stream", func() bool { return len(b.raft.received(3)) == 1 })
}

func TestTCPSetPeerAndRemovePeer(t *testing.T) {
	a := newMember(t, 1, TCPConfig{})
	b := newMember(t, 2, TCPConfig{})
	bMoved := newMember(t, 2, TCPConfig{}) // member 2 after a move
	a.tr.SetPeer(2, b.tr.Addr().String())
	a.tr.Send([]*pb.Message{appMsg(1, 2, 1, nil)})
	waitUntil(t, "delivery to the first address", func() bool { return b.raft.count() == 1 })

	a.tr.SetPeer(2, bMoved.tr.Addr().String())
	a.tr.Send([]*pb.Message{appMsg(1, 2, 2, nil)})
	waitUntil(t, "delivery to the new address", func() bool { return bMoved.raft.count() == 1 })
	if n := b.raft.count(); n != 1 {
		t.Fatalf("the old address got %d messages after the move", n)
	}

	a.tr.RemovePeer(2)
	a.tr.mu.RLock()
	_, still := a.tr.peers[2]
	a.tr.mu.RUnlock()
	if still {
		t.Fatal("peer 2 still known after RemovePeer")
	}
	before := a.raft.unreachableCount(2)
	a.tr.Send([]*pb.Message{appMsg(1, 2, 3, nil)})
	waitUntil(t, "ReportUnreachable after RemovePeer", func() bool { return a.raft.unreachableCount(2) > before })
	// Member 2 learns of nothing more. (Give a stray stream a moment.)
	time.Sleep(20 * time.Millisecond)
	if b.raft.count() != 1 || bMoved.raft.count() != 1 {
		t.Fatalf("messages arrived after RemovePeer: %d, %d", b.raft.count(), bMoved.raft.count())
	}
}

func TestTCPConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  TCPConfig
		want string
	}{
		{"zero id", TCPConfig{ClusterID: 1, Listen: "127.0.0.1:0"}, "ID must be non-zero"},
		{"zero cluster", TCPConfig{ID: 1, Listen: "127.0.0.1:0"}, "ClusterID must be non-zero"},
		{"no listen address", TCPConfig{ID: 1, ClusterID: 1, Peers: map[uint64]string{2: "127.0.0.1:1"}}, "no address for ID 1"},
		{"bad listen address", TCPConfig{ID: 1, ClusterID: 1, Listen: "localhost"}, "TCPConfig.Listen: bad address"},
		{"bad peer address", TCPConfig{ID: 1, ClusterID: 1, Listen: "127.0.0.1:0", Peers: map[uint64]string{2: "x:y:z"}}, "Peers[2]: bad address"},
		{"zero peer id", TCPConfig{ID: 1, ClusterID: 1, Listen: "127.0.0.1:0", Peers: map[uint64]string{0: "127.0.0.1:1"}}, "Peers holds id 0"},
		{"negative queue", TCPConfig{ID: 1, ClusterID: 1, Listen: "127.0.0.1:0", QueueMessages: -1}, "QueueMessages -1 is negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := NewTCP(tc.cfg)
			if err == nil {
				tr.Close()
				t.Fatalf("NewTCP succeeded, want an error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewTCP: %v, want an error containing %q", err, tc.want)
			}
		})
	}

	// Listen may come from Peers[ID].
	addr := freeAddr(t)
	tr, err := NewTCP(TCPConfig{ID: 1, ClusterID: 1, Peers: map[uint64]string{1: addr}})
	if err != nil {
		t.Fatalf("NewTCP with Listen from Peers: %v", err)
	}
	defer tr.Close()
	if got := tr.Addr().String(); got != addr {
		t.Fatalf("listening on %s, want %s", got, addr)
	}
	if len(tr.peers) != 0 {
		t.Fatalf("own entry in Peers is dialled: %v", tr.peers)
	}
}

func TestTCPCloseStopsGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		ms := make([]*member, 3)
		for i := range ms {
			ms[i] = newMember(t, uint64(i+1), TCPConfig{})
		}
		connectAll(ms...)
		// A peer that is down, a raw inbound stream mid-handshake and a
		// Step that blocks: Close must end all of them.
		ms[0].tr.SetPeer(9, freeAddr(t))
		ms[2].raft.setBlock()
		half, err := net.Dial("tcp", ms[1].tr.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer half.Close()
		half.Write([]byte("ARB"))
		for i := range ms {
			for j := range ms {
				if i != j {
					ms[i].tr.Send([]*pb.Message{appMsg(uint64(i+1), uint64(j+1), 1, nil)})
				}
			}
		}
		waitUntil(t, "delivery", func() bool { return ms[0].raft.count() == 2 && ms[1].raft.count() == 2 })
		for _, m := range ms {
			if err := m.tr.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if err := m.tr.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
			// Send and Start after Close neither panic nor block.
			m.tr.Send([]*pb.Message{appMsg(1, 2, 2, nil), appMsg(1, 9, 2, nil)})
			m.tr.SetPeer(5, "127.0.0.1:1")
			m.tr.RemovePeer(2)
			m.tr.Start(newFakeRaft())
		}
	}()
	waitUntil(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
}

// countingRaft counts the messages it is handed.
type countingRaft struct {
	n           atomic.Int64
	unreachable atomic.Int64
}

func (c *countingRaft) Step(context.Context, *pb.Message) error { c.n.Add(1); return nil }
func (c *countingRaft) ReportUnreachable(uint64)                { c.unreachable.Add(1) }
func (c *countingRaft) ReportSnapshot(uint64, raft.SnapshotStatus) {
}
func (c *countingRaft) OpenSnapshot(uint64) (io.ReadCloser, error) {
	return nil, errors.New("no snapshots")
}
func (c *countingRaft) ReceiveSnapshot(context.Context, *pb.Message, io.Reader) error {
	return errors.New("no snapshots")
}

// BenchmarkTCPSend measures messages per second from one transport to
// another: MsgApps of one 100-byte entry, sent in batches of 64 with at
// most half a queue in flight, so that nothing is dropped.
func BenchmarkTCPSend(b *testing.B) {
	const batch, queue = 64, 4096
	newTr := func(id uint64, r Raft) *TCP {
		tr, err := NewTCP(TCPConfig{ID: id, ClusterID: 1, Listen: "127.0.0.1:0", QueueMessages: queue})
		if err != nil {
			b.Fatal(err)
		}
		tr.Start(r)
		return tr
	}
	var ra, rb countingRaft
	a := newTr(1, &ra)
	defer a.Close()
	rcv := newTr(2, &rb)
	defer rcv.Close()
	a.SetPeer(2, rcv.Addr().String())
	ents := entries(1, 100)
	msgs := make([]*pb.Message, batch)

	b.ResetTimer()
	start := time.Now()
	sent := 0
	for sent < b.N {
		for sent-int(rb.n.Load()) > queue/2 {
			runtime.Gosched()
		}
		n := min(batch, b.N-sent)
		for i := range n {
			msgs[i] = appMsg(1, 2, uint64(sent+i+1), ents)
		}
		a.Send(msgs[:n])
		sent += n
	}
	deadline := time.Now().Add(waitTimeout)
	for int(rb.n.Load()) < b.N && ra.unreachable.Load() == 0 && time.Now().Before(deadline) {
		runtime.Gosched()
	}
	elapsed := time.Since(start)
	b.StopTimer()
	if got := rb.n.Load(); int(got) != b.N {
		b.Fatalf("delivered %d of %d (unreachable reports: %d)", got, b.N, ra.unreachable.Load())
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
}

func TestTCPWriteTimeoutRedials(t *testing.T) {
	// A peer that answers a raft stream's handshake and then never reads
	// (and refuses the member-message stream).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 16)
	go func() {
		for len(accepted) < cap(accepted) {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			var hdr [handshakeBytes]byte
			io.ReadFull(c, hdr[:])
			if hdr[5] != streamRaft {
				c.Write([]byte{statusBadKind})
				c.Close()
				continue
			}
			c.Write([]byte{statusOK})
			accepted <- c
		}
	}()
	defer func() {
		for {
			select {
			case c := <-accepted:
				c.Close()
			default:
				return
			}
		}
	}()

	a := newMember(t, 1, TCPConfig{WriteTimeout: 100 * time.Millisecond, QueueMessages: 64})
	a.tr.SetPeer(2, ln.Addr().String())
	ents := entries(16, 1024)
	var first net.Conn
	waitUntil(t, "a second stream after the write timeout", func() bool {
		a.tr.Send([]*pb.Message{appMsg(1, 2, 1, ents), appMsg(1, 2, 2, ents)})
		select {
		case c := <-accepted:
			if first == nil {
				first = c
				return false
			}
			c.Close()
			return true
		default:
			return false
		}
	})
	first.Close()
	if !strings.Contains(a.logs.String(), "i/o timeout") {
		t.Fatalf("the write timeout was not logged:\n%s", a.logs)
	}
}
