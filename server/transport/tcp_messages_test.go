package transport

import (
	"encoding/binary"
	"slices"
	"strings"
	"testing"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
)

// TestTCPMessagesInOrder: between every pair of members, member messages
// of varied sizes (empty and the largest too) arrive, all and in order,
// with the sender's id, while raft messages flow on the same peers.
func TestTCPMessagesInOrder(t *testing.T) {
	const count = 500
	ms := make([]*member, 3)
	for i := range ms {
		ms[i] = newMember(t, uint64(i+1), TCPConfig{})
	}
	connectAll(ms...)
	ents := entries(2, 100)
	for i := uint64(1); i <= count; i++ {
		for _, a := range ms {
			for _, b := range ms {
				if a == b {
					continue
				}
				data := numbered(i, int(i%13)*50)
				if i == count {
					data = numbered(i, MaxMessageBytes-8)
				}
				if !a.tr.SendMessage(b.tr.cfg.ID, data) {
					t.Fatalf("SendMessage(%d) of message %d refused", b.tr.cfg.ID, i)
				}
				a.tr.Send([]*pb.Message{appMsg(a.tr.cfg.ID, b.tr.cfg.ID, i, ents)})
			}
		}
	}
	for _, b := range ms {
		for _, a := range ms {
			if a == b {
				continue
			}
			from := a.tr.cfg.ID
			waitUntil(t, "every member message", func() bool { return b.msgs.count(from) == count })
			if got := b.msgs.seqs(t, from); !slices.Equal(got, seq(count)) {
				t.Fatalf("member %d got %v from %d, want 1..%d in order", b.tr.cfg.ID, got, from, count)
			}
			waitUntil(t, "every raft message", func() bool { return len(b.raft.received(from)) == count })
			checkInOrder(t, b.raft, from, count)
		}
	}
	for _, m := range ms {
		if s := m.tr.Stats(); s.MessagesDropped != 0 || s.MessagesSent != 2*count || s.MessagesReceived != 2*count {
			t.Fatalf("member %d stats %+v, want %d sent and received, none dropped", m.tr.cfg.ID, s, 2*count)
		}
		if n := m.raft.unreachableCount(1) + m.raft.unreachableCount(2) + m.raft.unreachableCount(3); n != 0 {
			t.Fatalf("member %d got %d unreachable reports", m.tr.cfg.ID, n)
		}
	}
}

// TestTCPSendMessageRefused: what cannot be queued is refused at once and
// counted.
func TestTCPSendMessageRefused(t *testing.T) {
	b := newMember(t, 2, TCPConfig{})
	for _, tc := range []struct {
		name  string
		cfg   TCPConfig
		setup func(a *TCP)
		to    uint64
		data  []byte
	}{
		{"unknown peer", TCPConfig{}, func(*TCP) {}, 7, numbered(1, 0)},
		{"self", TCPConfig{}, func(*TCP) {}, 1, numbered(1, 0)},
		{"too large", TCPConfig{}, func(*TCP) {}, 2, make([]byte, MaxMessageBytes+1)},
		{"over MessageQueueBytes", TCPConfig{MessageQueueBytes: 16}, func(*TCP) {}, 2, numbered(1, 9)},
		{"removed peer", TCPConfig{}, func(a *TCP) { a.RemovePeer(2) }, 2, numbered(1, 0)},
		{"closed", TCPConfig{}, func(a *TCP) { a.Close() }, 2, numbered(1, 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newMember(t, 1, tc.cfg)
			a.tr.SetPeer(2, b.tr.Addr().String())
			tc.setup(a.tr)
			if a.tr.SendMessage(tc.to, tc.data) {
				t.Fatal("SendMessage accepted")
			}
			if got := a.tr.Stats().MessagesDropped; got != 1 {
				t.Fatalf("MessagesDropped = %d, want 1", got)
			}
		})
	}
}

// TestTCPMessagesReconnect: a peer that goes down and comes back on its
// address gets the messages sent after it is back, in order.
func TestTCPMessagesReconnect(t *testing.T) {
	addr := freeAddr(t)
	a := newMember(t, 1, TCPConfig{MaxBackoff: 50 * time.Millisecond, Peers: map[uint64]string{2: addr}})
	i := uint64(0)
	sendUntil := func(what string, done func() bool) {
		t.Helper()
		waitUntil(t, what, func() bool {
			i++
			a.tr.SendMessage(2, numbered(i, 0))
			return done()
		})
	}
	b := newMember(t, 2, TCPConfig{Listen: addr})
	sendUntil("delivery to the first incarnation", func() bool { return b.msgs.count(1) > 0 })
	if err := b.tr.Close(); err != nil {
		t.Fatal(err)
	}
	sendUntil("the stream to fail", func() bool { return a.tr.Stats().MessagesDropped > 0 })

	b2 := newMember(t, 2, TCPConfig{Listen: addr})
	sendUntil("delivery to the restarted peer", func() bool { return b2.msgs.count(1) >= 3 })
	checkIncreasing(t, b.msgs.seqs(t, 1))
	got := b2.msgs.seqs(t, 1)
	checkIncreasing(t, got)
	if last := b.msgs.seqs(t, 1); got[0] <= last[len(last)-1] {
		t.Fatalf("restarted peer got message %d, sent before the first incarnation's last, %d", got[0], last[len(last)-1])
	}
}

// TestTCPSendMessageNeverBlocks: SendMessage returns, a bounded number of
// times, to a peer that is down and to one whose handler is stuck (so that
// it stops reading its stream); past the queue it refuses.
func TestTCPSendMessageNeverBlocks(t *testing.T) {
	const sends = 10000
	stuck := newMember(t, 3, TCPConfig{})
	unblock := stuck.msgs.setBlock()
	defer unblock() // before the transports close: Close waits for the handler
	for _, tc := range []struct {
		name string
		addr func(t *testing.T) string
	}{
		{"peer down", freeAddr},
		{"handler stuck", func(*testing.T) string { return stuck.tr.Addr().String() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newMember(t, 1, TCPConfig{QueueMessages: 64, MessageQueueBytes: 64 << 10, WriteTimeout: time.Minute})
			a.tr.SetPeer(3, tc.addr(t))
			done := make(chan int)
			go func() {
				refused := 0
				data := numbered(1, 4<<10)
				for range sends {
					if !a.tr.SendMessage(3, data) {
						refused++
					}
				}
				done <- refused
			}()
			select {
			case refused := <-done:
				if refused == 0 {
					t.Fatalf("%d sends of 4KiB, none refused", sends)
				}
			case <-time.After(waitTimeout):
				t.Fatal("SendMessage blocked")
			}
		})
	}
}

// TestTCPMessagesBadInbound: an inbound member-message frame over
// MaxMessageBytes closes its stream (logged); one without a handler is
// dropped and counted; a good frame is handed over with the handshake's
// sender.
func TestTCPMessagesBadInbound(t *testing.T) {
	b := newMember(t, 2, TCPConfig{})
	msgHeader := func() []byte {
		hdr := rawHeader(1, 3, 2)
		hdr[5] = streamMessages
		return hdr
	}
	t.Run("oversized", func(t *testing.T) {
		c, status := rawDial(t, b.tr, msgHeader())
		if status != statusOK {
			t.Fatalf("valid handshake answered %d", status)
		}
		if _, err := c.Write(binary.AppendUvarint(nil, MaxMessageBytes+1)); err != nil {
			t.Fatal(err)
		}
		expectClosed(t, c)
		waitUntil(t, "the reason logged", func() bool { return strings.Contains(b.logs.String(), "exceeds MaxMessageBytes") })
	})
	t.Run("good", func(t *testing.T) {
		c, status := rawDial(t, b.tr, msgHeader())
		if status != statusOK {
			t.Fatalf("valid handshake answered %d", status)
		}
		if _, err := c.Write(appendMessageFrame(nil, numbered(42, 3))); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "delivery", func() bool { return b.msgs.count(3) == 1 })
		if got := b.msgs.seqs(t, 3); !slices.Equal(got, []uint64{42}) {
			t.Fatalf("got %v, want [42]", got)
		}
		if n := b.raft.count(); n != 0 {
			t.Fatalf("a member message reached raft (%d messages)", n)
		}
	})
	t.Run("no handler", func(t *testing.T) {
		b.tr.Handle(nil)
		c, status := rawDial(t, b.tr, msgHeader())
		if status != statusOK {
			t.Fatalf("valid handshake answered %d", status)
		}
		if _, err := c.Write(appendMessageFrame(nil, numbered(43, 0))); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "the drop counted", func() bool { return b.tr.Stats().MessagesDropped == 1 })
	})
}
