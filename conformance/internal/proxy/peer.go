package proxy

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// PeerHandshakeBytes is the length of the handshake that starts every arbor
// peer stream: set Config.PeekBytes to it when Config.Identify is
// PeerSource.
const PeerHandshakeBytes = 32

// peerMagic starts every arbor peer stream.
const peerMagic = "ARBR"

// ErrBadHandshake reports bytes that are not the start of an arbor peer
// stream.
var ErrBadHandshake = errors.New("proxy: not an arbor peer stream handshake")

// PeerSource returns the raft id of the member that dialled an arbor peer
// stream, read from the stream's handshake, for use as Config.Identify.
//
// The handshake is defined, and documented, in server/transport/tcp.go
// ("The stream handshake"); this package may not import server/..., so the
// layout is restated here and must follow it:
//
//	offset size  field
//	0      4     magic "ARBR"
//	4      1     version
//	5      1     stream kind
//	6      2     reserved
//	8      8     cluster id, big-endian uint64
//	16     8     from: the dialer's raft id, big-endian uint64, non-zero
//	24     8     to: the acceptor's raft id, big-endian uint64
//
// PeerSource checks the length, the magic and that from is not zero, and
// nothing else: the member on the other side judges the rest. Its errors
// wrap ErrBadHandshake.
func PeerSource(head []byte) (uint64, error) {
	if len(head) < PeerHandshakeBytes {
		return 0, fmt.Errorf("%w: %d bytes, want %d", ErrBadHandshake, len(head), PeerHandshakeBytes)
	}
	if string(head[:4]) != peerMagic {
		return 0, fmt.Errorf("%w: magic %q, want %q", ErrBadHandshake, head[:4], peerMagic)
	}
	from := binary.BigEndian.Uint64(head[16:24])
	if from == 0 {
		return 0, fmt.Errorf("%w: from is zero", ErrBadHandshake)
	}
	return from, nil
}
