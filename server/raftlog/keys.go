package raftlog

import (
	"encoding/binary"
	"fmt"

	"github.com/arbor-coord/arbor/internal/storage"
)

// The layout of a log kept in the store, from before the log had files of
// its own; Open moves such a log out (migrate.go). The second byte of each
// key under storage.PrefixRaft:
const (
	kindEntry     byte = 'e'
	kindHardState byte = 'h'
	kindConfState byte = 'c'
	kindSnapshot  byte = 's'
	kindOffset    byte = 'o'
	kindContexts  byte = 'm'
)

var (
	hardStateKey = []byte{storage.PrefixRaft, kindHardState}
	confStateKey = []byte{storage.PrefixRaft, kindConfState}
	snapshotKey  = []byte{storage.PrefixRaft, kindSnapshot}
	offsetKey    = []byte{storage.PrefixRaft, kindOffset}
	contextsKey  = []byte{storage.PrefixRaft, kindContexts}
	// entriesLower and entriesUpper bound every entry key.
	entriesLower = []byte{storage.PrefixRaft, kindEntry}
	entriesUpper = []byte{storage.PrefixRaft, kindEntry + 1}
)

const entryKeyLen = 2 + 8

// entryKey returns the key of the entry at index.
func entryKey(index uint64) []byte {
	k := make([]byte, entryKeyLen)
	k[0], k[1] = storage.PrefixRaft, kindEntry
	binary.BigEndian.PutUint64(k[2:], index)
	return k
}

// parseEntryKey returns the index an entry key holds.
func parseEntryKey(k []byte) (uint64, error) {
	if len(k) != entryKeyLen || k[0] != storage.PrefixRaft || k[1] != kindEntry {
		return 0, fmt.Errorf("raftlog: malformed entry key %x", k)
	}
	return binary.BigEndian.Uint64(k[2:]), nil
}

func encodeOffset(index, term uint64) []byte {
	v := make([]byte, 16)
	binary.BigEndian.PutUint64(v, index)
	binary.BigEndian.PutUint64(v[8:], term)
	return v
}

func decodeOffset(v []byte) (index, term uint64, err error) {
	if len(v) != 16 {
		return 0, 0, fmt.Errorf("raftlog: malformed log offset %x", v)
	}
	return binary.BigEndian.Uint64(v), binary.BigEndian.Uint64(v[8:]), nil
}
