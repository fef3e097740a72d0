package tree

import (
	"encoding/binary"
	"strings"

	"github.com/arbor-coord/arbor/internal/storage"
)

// Key layout (all under storage.PrefixState, see doc.go):
//
//	s n <parent> 0x00 <base>   a node; the root is "sn" alone, a top-level
//	                            node has an empty <parent>. The children of
//	                            a node are one contiguous sorted range.
//	s e <session> <path>       the ephemeral index: session owns path
//	s s <session>              a session record, with its watermark and
//	                            one unacknowledged write result inline
//	s x <path>                 the reap index: containers and TTL nodes
//	s w <session> <seq>        a recorded write result that found the
//	                            record's inline slot taken (exactly-once)
//	s m a                      the applied index
//	s 0x00                     the marker of an import in progress (not state)
//
// Session ids are stored big-endian with the sign bit flipped, so the byte
// order of keys is the numeric order of ids.
const (
	kindNode      = 'n'
	kindEphemeral = 'e'
	kindSession   = 's'
	kindReap      = 'x'
	kindMeta      = 'm'
	kindResult    = 'w'
)

const pState = storage.PrefixState

// stateLower and stateUpper bound the replicated state: everything the
// digest covers and a snapshot carries.
func stateLower() []byte   { return []byte{pState, 1} }
func stateUpper() []byte   { return []byte{pState + 1} }
func appliedKey() []byte   { return []byte{pState, kindMeta, 'a'} }
func importMarker() []byte { return []byte{pState, 0} }

// parentKeyPart returns the part of a child's key that names its parent p:
// "" for the root, p otherwise.
func parentKeyPart(p string) string {
	if p == "/" {
		return ""
	}
	return p
}

// nodeKey appends the key of node path p to dst.
func nodeKey(dst []byte, p string) []byte {
	dst = append(dst, pState, kindNode)
	if p == "/" {
		return dst
	}
	i := strings.LastIndexByte(p, '/')
	dst = append(dst, p[:i]...)
	dst = append(dst, 0)
	return append(dst, p[i+1:]...)
}

// childrenBounds returns the key range holding the children of p.
func childrenBounds(p string) (lower, upper []byte) {
	lower = append([]byte{pState, kindNode}, parentKeyPart(p)...)
	upper = append(append([]byte(nil), lower...), 1)
	lower = append(lower, 0)
	return lower, upper
}

// deepBounds returns the key range holding the descendants of p below its
// children (grandchildren and further).
func deepBounds(p string) (lower, upper []byte) {
	lower = append([]byte{pState, kindNode}, parentKeyPart(p)...)
	upper = append(append([]byte(nil), lower...), '/'+1)
	lower = append(lower, '/')
	return lower, upper
}

func appendSessionID(dst []byte, id int64) []byte {
	return binary.BigEndian.AppendUint64(dst, uint64(id)^(1<<63))
}

func sessionIDFrom(b []byte) int64 {
	return int64(binary.BigEndian.Uint64(b) ^ (1 << 63))
}

func sessionKey(id int64) []byte { return appendSessionKey(nil, id) }

// appendSessionKey appends the key of a session's record to dst.
func appendSessionKey(dst []byte, id int64) []byte {
	return appendSessionID(append(dst, pState, kindSession), id)
}

func ephemeralPrefix(id int64) []byte {
	return appendSessionID([]byte{pState, kindEphemeral}, id)
}

func ephemeralKey(id int64, p string) []byte {
	return append(ephemeralPrefix(id), p...)
}

func reapKey(p string) []byte {
	return append([]byte{pState, kindReap}, p...)
}

// prefixUpper returns the smallest key greater than every key with prefix
// p, or nil if there is none.
func prefixUpper(p []byte) []byte {
	u := append([]byte(nil), p...)
	for i := len(u) - 1; i >= 0; i-- {
		if u[i] != 0xff {
			u[i]++
			return u[:i+1]
		}
	}
	return nil
}

func resultPrefix(id int64) []byte {
	return appendSessionID([]byte{pState, kindResult}, id)
}

func resultKey(id int64, seq uint64) []byte { return appendResultKey(nil, id, seq) }

// appendResultKey appends the key of a session's recorded result to dst.
func appendResultKey(dst []byte, id int64, seq uint64) []byte {
	dst = appendSessionID(append(dst, pState, kindResult), id)
	return binary.BigEndian.AppendUint64(dst, seq)
}
