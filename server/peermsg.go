package server

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Peer messages are what members tell each other outside Raft, as the
// transport's member messages. Each starts with a kind byte:
//
//	peerTouches: uvarint count, then count uvarint session ids — the
//	             sessions a member heard from, sent to the leader
//
// A member ignores (and logs) a kind it does not know, so that a newer
// member can add kinds during a rolling upgrade.
const (
	peerTouches byte = 1
)

// maxTouchesPerMessage keeps a touches message well under the transport's
// message limit (an id takes at most 10 bytes as a uvarint).
const maxTouchesPerMessage = 50_000

var errBadPeerMessage = errors.New("malformed peer message")

// appendTouches appends a touches message holding ids to b.
func appendTouches(b []byte, ids []int64) []byte {
	b = append(b, peerTouches)
	b = binary.AppendUvarint(b, uint64(len(ids)))
	for _, id := range ids {
		b = binary.AppendUvarint(b, uint64(id))
	}
	return b
}

// decodeTouches decodes the body of a touches message (after its kind).
func decodeTouches(b []byte) ([]int64, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > maxTouchesPerMessage || n > uint64(len(b)-k) {
		return nil, fmt.Errorf("%w: touches count", errBadPeerMessage)
	}
	b = b[k:]
	ids := make([]int64, 0, n)
	for range n {
		id, k := binary.Uvarint(b)
		if k <= 0 || id == 0 || id > 1<<63-1 {
			return nil, fmt.Errorf("%w: session id", errBadPeerMessage)
		}
		ids = append(ids, int64(id))
		b = b[k:]
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the last id", errBadPeerMessage, len(b))
	}
	return ids, nil
}

// sendTouches forwards touched session ids to the leader, in as many
// messages as needed. It reports whether the transport took them all.
func (r *replica) sendTouches(leader uint64, ids []int64) bool {
	ok := true
	for len(ids) > 0 {
		n := min(len(ids), maxTouchesPerMessage)
		ok = r.transport.SendMessage(leader, appendTouches(nil, ids[:n])) && ok
		ids = ids[n:]
	}
	return ok
}

// handlePeerMessage is the transport's handler of member messages.
func (r *replica) handlePeerMessage(from uint64, data []byte) {
	if len(data) == 0 {
		r.logger.Warn("empty peer message", "from", from)
		return
	}
	switch data[0] {
	case peerTouches:
		ids, err := decodeTouches(data[1:])
		if err != nil {
			r.logger.Warn("peer message refused", "from", from, "err", err)
			return
		}
		if s := r.sm.sessions.Load(); s != nil {
			s.touchedElsewhere(ids)
		}
	default:
		r.logger.Warn("peer message of an unknown kind ignored", "from", from, "kind", data[0])
	}
}
