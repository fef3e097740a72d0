package raftlog

import (
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// MaxSnapshotDataBytes bounds Snapshot.Data: it is a descriptor of the
// streamed state, never the state itself.
const MaxSnapshotDataBytes = 64 << 10

// Log is a raft.Storage kept in Pebble. It is safe for concurrent use.
type Log struct {
	db *pebble.DB

	mu sync.Mutex
	st state // what is durably written, as last committed by this Log
}

// state is the part of the log kept in memory. It changes only after the
// batch that writes it has committed.
type state struct {
	offset     uint64 // index of the entry before the first kept (MemoryStorage's ents[0])
	offsetTerm uint64 // its term
	last       uint64 // index of the last entry; offset when the log is empty
	hardState  *pb.HardState
	confState  *pb.ConfState
	snapshot   *pb.Snapshot      // never nil; index 0 when there is none
	contexts   map[uint64][]byte // the members' contexts; never modified, replaced
	// tail caches the last entries appended, contiguous and ending at
	// last (fewer when the log was reopened, compacted or truncated), at
	// most maxTailEntries of them holding at most maxTailBytes of data:
	// raft reads back what it has just appended (the entries to apply
	// once committed, those to send to a follower), and reading them from
	// the tail saves a Pebble iterator and a decode per entry. The entries
	// are raft's, never modified.
	tail      []*pb.Entry
	tailBytes int // the sum of len(Data) over tail
	// The tail's bounds (tests make them small).
	maxTailEntries, maxTailBytes int
}

// The tail cache's default bounds.
const (
	defaultMaxTailEntries = 4096
	defaultMaxTailBytes   = 8 << 20
)

var _ raft.Storage = (*Log)(nil)

// Open loads the Raft log's metadata from db, which holds arbor's one store
// (internal/storage.Open). It reads and writes only keys under
// storage.PrefixRaft.
func Open(db *pebble.DB) (*Log, error) {
	st := state{
		snapshot: pb.EnsureSnapshot(nil), confState: pb.EnsureConfState(nil),
		maxTailEntries: defaultMaxTailEntries, maxTailBytes: defaultMaxTailBytes,
	}
	if v, ok, err := get(db, offsetKey); err != nil {
		return nil, err
	} else if ok {
		if st.offset, st.offsetTerm, err = decodeOffset(v); err != nil {
			return nil, err
		}
	}
	if v, ok, err := get(db, hardStateKey); err != nil {
		return nil, err
	} else if ok {
		st.hardState = new(pb.HardState)
		if err := proto.Unmarshal(v, st.hardState); err != nil {
			return nil, fmt.Errorf("raftlog: decode HardState: %w", err)
		}
	}
	if v, ok, err := get(db, confStateKey); err != nil {
		return nil, err
	} else if ok {
		st.confState = new(pb.ConfState)
		if err := proto.Unmarshal(v, st.confState); err != nil {
			return nil, fmt.Errorf("raftlog: decode ConfState: %w", err)
		}
		st.confState = pb.EnsureConfState(st.confState)
	}
	if v, ok, err := get(db, snapshotKey); err != nil {
		return nil, err
	} else if ok {
		st.snapshot = new(pb.Snapshot)
		if err := proto.Unmarshal(v, st.snapshot); err != nil {
			return nil, fmt.Errorf("raftlog: decode snapshot: %w", err)
		}
		st.snapshot = pb.EnsureSnapshot(st.snapshot)
	}

	if v, ok, err := get(db, contextsKey); err != nil {
		return nil, err
	} else if ok {
		if st.contexts, err = DecodeContexts(v); err != nil {
			return nil, fmt.Errorf("raftlog: decode member contexts: %w", err)
		}
	}

	// The first and last entry keys give the log's extent.
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: entriesLower, UpperBound: entriesUpper})
	if err != nil {
		return nil, fmt.Errorf("raftlog: open: %w", err)
	}
	defer it.Close()
	st.last = st.offset
	if it.First() {
		first, err := parseEntryKey(it.Key())
		if err != nil {
			return nil, err
		}
		if first != st.offset+1 {
			return nil, fmt.Errorf("raftlog: first entry %d does not follow the log offset %d", first, st.offset)
		}
		if !it.Last() {
			return nil, fmt.Errorf("raftlog: open: entries vanished: %w", it.Error())
		}
		if st.last, err = parseEntryKey(it.Key()); err != nil {
			return nil, err
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return nil, fmt.Errorf("raftlog: open: %w", err)
		}
		if _, err := decodeEntry(st.last, v); err != nil {
			return nil, err
		}
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("raftlog: open: %w", err)
	}
	return &Log{db: db, st: st}, nil
}

// InitialState implements raft.Storage. The HardState is nil until one has
// been saved; the ConfState is the last one given to SetConfState or
// installed by a snapshot.
func (l *Log) InitialState() (*pb.HardState, *pb.ConfState, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var hs *pb.HardState
	if l.st.hardState != nil {
		hs = proto.Clone(l.st.hardState).(*pb.HardState)
	}
	return hs, proto.Clone(l.st.confState).(*pb.ConfState), nil
}

// Entries implements raft.Storage: the entries in [lo, hi), at most maxSize
// bytes of them (as proto.Size counts) but at least one. It returns
// raft.ErrCompacted if lo ≤ the compaction point and raft.ErrUnavailable if
// the log holds no entries; it panics if hi > LastIndex()+1.
func (l *Log) Entries(lo, hi, maxSize uint64) ([]*pb.Entry, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if lo <= l.st.offset {
		return nil, raft.ErrCompacted
	}
	if hi > l.st.last+1 {
		panic(fmt.Sprintf("raftlog: entries' hi(%d) is out of bound lastindex(%d)", hi, l.st.last))
	}
	if l.st.last == l.st.offset {
		return nil, raft.ErrUnavailable
	}
	if lo > hi {
		panic(fmt.Sprintf("raftlog: entries' lo(%d) > hi(%d)", lo, hi))
	}
	if lo == hi {
		return []*pb.Entry{}, nil
	}
	if t := l.st.tail; len(t) > 0 && lo >= t[0].GetIndex() {
		src := t[lo-t[0].GetIndex() : hi-t[0].GetIndex()]
		var size uint64
		for i, e := range src {
			size += uint64(proto.Size(e))
			if i > 0 && size > maxSize {
				src = src[:i]
				break
			}
		}
		return slices.Clone(src), nil // raft may append to what it gets
	}
	ents := make([]*pb.Entry, 0, min(hi-lo, 64))
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: entryKey(lo), UpperBound: entryKey(hi)})
	if err != nil {
		return nil, fmt.Errorf("raftlog: entries: %w", err)
	}
	defer it.Close()
	var size uint64
	want := lo
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			return nil, fmt.Errorf("raftlog: entries: %w", err)
		}
		if got, err := parseEntryKey(it.Key()); err != nil {
			return nil, err
		} else if got != want {
			return nil, fmt.Errorf("raftlog: entry %d missing (found %d)", want, got)
		}
		e, err := decodeEntry(want, v)
		if err != nil {
			return nil, err
		}
		size += uint64(proto.Size(e))
		if len(ents) > 0 && size > maxSize {
			return ents, nil
		}
		ents = append(ents, e)
		want++
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("raftlog: entries: %w", err)
	}
	if want != hi {
		return nil, fmt.Errorf("raftlog: entry %d missing (log ends early)", want)
	}
	return ents, nil
}

// Term implements raft.Storage: the term of entry i, for i in
// [FirstIndex()-1, LastIndex()]; raft.ErrCompacted below that range and
// raft.ErrUnavailable above it.
func (l *Log) Term(i uint64) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.term(i)
}

func (l *Log) term(i uint64) (uint64, error) {
	switch {
	case i < l.st.offset:
		return 0, raft.ErrCompacted
	case i > l.st.last:
		return 0, raft.ErrUnavailable
	case i == l.st.offset:
		return l.st.offsetTerm, nil
	}
	if t := l.st.tail; len(t) > 0 && i >= t[0].GetIndex() {
		return t[i-t[0].GetIndex()].GetTerm(), nil
	}
	v, ok, err := get(l.db, entryKey(i))
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, fmt.Errorf("raftlog: entry %d missing", i)
	}
	e, err := decodeEntry(i, v)
	if err != nil {
		return 0, err
	}
	return e.GetTerm(), nil
}

// LastIndex implements raft.Storage.
func (l *Log) LastIndex() (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.st.last, nil
}

// FirstIndex implements raft.Storage: one past the compaction point.
func (l *Log) FirstIndex() (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.st.offset + 1, nil
}

// Snapshot implements raft.Storage: the latest snapshot's metadata and
// Data (an empty snapshot if there is none and the log was never
// compacted). It returns raft.ErrSnapshotTemporarilyUnavailable when the log
// was compacted past the latest snapshot, which could then not bring a
// follower up to FirstIndex.
func (l *Log) Snapshot() (*pb.Snapshot, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.st.snapshot.GetMetadata().GetIndex() < l.st.offset {
		return nil, raft.ErrSnapshotTemporarilyUnavailable
	}
	return proto.Clone(l.st.snapshot).(*pb.Snapshot), nil
}

func decodeEntry(index uint64, v []byte) (*pb.Entry, error) {
	e := new(pb.Entry)
	if err := proto.Unmarshal(v, e); err != nil {
		return nil, fmt.Errorf("raftlog: decode entry %d: %w", index, err)
	}
	if e.GetIndex() != index {
		return nil, fmt.Errorf("raftlog: entry at key %d holds index %d", index, e.GetIndex())
	}
	return e, nil
}

// get returns a copy of the value at key, and whether there is one.
func get(db *pebble.DB, key []byte) ([]byte, bool, error) {
	v, closer, err := db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("raftlog: get %q: %w", key, err)
	}
	defer closer.Close()
	return append([]byte(nil), v...), true, nil
}

// appendTail updates st's tail cache for entries, contiguous and starting
// at most one past the tail's end, appended.
func (st *state) appendTail(entries []*pb.Entry) {
	tail, tailBytes := st.tail, st.tailBytes
	start := entries[0].GetIndex()
	if len(tail) > 0 {
		t0 := tail[0].GetIndex()
		switch n := int(start - t0); {
		case start <= t0 || n > len(tail):
			tail, tailBytes = nil, 0
		case n < len(tail):
			// Writing index start discards the entries from it on. Clip,
			// so that appending cannot overwrite what the current state's
			// tail still holds.
			tail = slices.Clip(tail[:n])
			tailBytes = dataBytes(tail)
		}
	}
	st.tail = append(tail, entries...)
	st.tailBytes = tailBytes + dataBytes(entries)
	st.trimTail(0)
}

// trimTail drops from the front of st's tail cache the entries at or below
// index, and those past the cache's bounds.
func (st *state) trimTail(index uint64) {
	for len(st.tail) > 0 && (st.tail[0].GetIndex() <= index || len(st.tail) > st.maxTailEntries || st.tailBytes > st.maxTailBytes) {
		st.tailBytes -= len(st.tail[0].GetData())
		st.tail = st.tail[1:]
	}
	if len(st.tail) == 0 {
		st.tail, st.tailBytes = nil, 0
	}
}

func dataBytes(ents []*pb.Entry) int {
	n := 0
	for _, e := range ents {
		n += len(e.GetData())
	}
	return n
}
