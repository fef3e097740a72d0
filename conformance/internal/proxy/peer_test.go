package proxy

import (
	"encoding/binary"
	"errors"
	"testing"
)

// handshake builds an arbor peer stream handshake as server/transport
// writes it.
func handshake(cluster, from, to uint64) []byte {
	h := make([]byte, PeerHandshakeBytes)
	copy(h, "ARBR")
	h[4] = 1 // version
	h[5] = 1 // raft stream
	binary.BigEndian.PutUint64(h[8:], cluster)
	binary.BigEndian.PutUint64(h[16:], from)
	binary.BigEndian.PutUint64(h[24:], to)
	return h
}

func TestPeerSource(t *testing.T) {
	badMagic := handshake(7, 2, 3)
	badMagic[0] = 'X'
	tests := []struct {
		name string
		head []byte
		want uint64
		ok   bool
	}{
		{"valid", handshake(7, 2, 3), 2, true},
		{"large id", handshake(7, 1<<63|5, 3), 1<<63 | 5, true},
		{"longer than the handshake", append(handshake(7, 4, 3), 0xff), 4, true},
		{"nil", nil, 0, false},
		{"short", handshake(7, 2, 3)[:31], 0, false},
		{"bad magic", badMagic, 0, false},
		{"from zero", handshake(7, 0, 3), 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := PeerSource(tt.head)
			if tt.ok != (err == nil) || got != tt.want {
				t.Fatalf("PeerSource = %d, %v; want %d, ok=%v", got, err, tt.want, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrBadHandshake) {
				t.Fatalf("error %v does not wrap ErrBadHandshake", err)
			}
		})
	}
}

func FuzzPeerSource(f *testing.F) {
	f.Add(handshake(7, 2, 3))
	f.Add(handshake(7, 0, 3))
	f.Add([]byte("ARBR"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, head []byte) {
		got, err := PeerSource(head)
		if err != nil {
			if got != 0 || !errors.Is(err, ErrBadHandshake) {
				t.Fatalf("PeerSource = %d, %v on error", got, err)
			}
			return
		}
		if len(head) < PeerHandshakeBytes || string(head[:4]) != "ARBR" || got == 0 ||
			got != binary.BigEndian.Uint64(head[16:24]) {
			t.Fatalf("PeerSource(%x) = %d, accepted", head, got)
		}
	})
}
