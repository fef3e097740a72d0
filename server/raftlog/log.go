package raftlog

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/arbor-coord/arbor/server/raftlog/wal"
)

// MaxSnapshotDataBytes bounds Snapshot.Data: it is a descriptor of the
// streamed state, never the state itself.
const MaxSnapshotDataBytes = 64 << 10

// Log is a raft.Storage kept in segment files (package wal). It is safe
// for concurrent use.
type Log struct {
	mu  sync.Mutex
	wal *wal.WAL
	st  state // what is durably written, as last committed by this Log
}

// state is the part of the log kept in memory. It changes only after the
// records that write it are synced (but SaveCommit's, which is appended
// unsynced).
type state struct {
	offset     uint64 // index of the entry before the first kept (MemoryStorage's ents[0])
	offsetTerm uint64 // its term
	last       uint64 // index of the last entry; offset when the log is empty
	hardState  *pb.HardState
	confState  *pb.ConfState
	snapshot   *pb.Snapshot      // never nil; index 0 when there is none
	contexts   map[uint64][]byte // the members' contexts; never modified, replaced
	// pos holds where each entry after offset is in the WAL, and its
	// term: pos[i] is entry offset+1+i. Entries are read back from
	// there when the tail does not hold them.
	pos []entryPos
	// tail caches the last entries appended, contiguous and ending at
	// last (fewer when the log was reopened, compacted or truncated), at
	// most maxTailEntries of them holding at most maxTailBytes of data:
	// raft reads back what it has just appended (the entries to apply
	// once committed, those to send to a follower), and reading them from
	// the tail saves a read and a decode per entry. The entries are
	// raft's, never modified.
	tail      []*pb.Entry
	tailBytes int // the sum of len(Data) over tail
	// The tail's bounds (tests make them small).
	maxTailEntries, maxTailBytes int
}

type entryPos struct {
	at   wal.Pos
	term uint64
}

// The tail cache's default bounds.
const (
	defaultMaxTailEntries = 4096
	defaultMaxTailBytes   = 8 << 20
)

var _ raft.Storage = (*Log)(nil)

// Options configures Open.
type Options struct {
	// FS is the filesystem of Dir; nil means the operating system's.
	FS vfs.FS
	// SegmentBytes is the largest size of a segment file (see
	// wal.Options); 0 means wal.DefaultSegmentBytes.
	SegmentBytes int64
	// Logger hears of a log moved out of an old store; nil discards.
	Logger *slog.Logger
}

// Open opens (creating if needed) the Raft log kept in segment files in
// dir. db is the member's store (internal/storage.Open), from which Open
// moves the log of a store written before the log had files of its own (a
// log kept under storage.PrefixRaft), once; the Log keeps no hold on it.
func Open(db *pebble.DB, dir string, opts Options) (*Log, error) {
	fs := opts.FS
	if fs == nil {
		fs = vfs.Default
	}
	wopts := wal.Options{FS: fs, SegmentBytes: opts.SegmentBytes}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := moveFromPebble(db, fs, dir, wopts, logger); err != nil {
		return nil, err
	}
	r := newReplayer()
	w, err := wal.Open(dir, wopts, r.record)
	if err != nil {
		return nil, fmt.Errorf("raftlog: open %s: %w", dir, err)
	}
	st, err := r.finish()
	if err == nil {
		st.maxTailEntries, st.maxTailBytes = defaultMaxTailEntries, defaultMaxTailBytes
		err = rotate(w, &st)
	}
	if err != nil {
		return nil, errors.Join(fmt.Errorf("raftlog: open %s: %w", dir, err), w.Close())
	}
	return &Log{wal: w, st: st}, nil
}

// rotate starts the WAL's next segment with a checkpoint of st.
func rotate(w *wal.WAL, st *state) error {
	cp, err := checkpointRecord(st)
	if err != nil {
		return err
	}
	if err := w.Rotate(cp); err != nil {
		return err
	}
	return w.Sync()
}

// Close syncs what SaveCommit left unsynced and closes the Log's files.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.wal.Sync()
	if err = errors.Join(err, l.wal.Close()); err != nil {
		return fmt.Errorf("raftlog: close: %w", err)
	}
	return nil
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
	var size uint64
	for i := lo; i < hi; i++ {
		e, err := l.read(i)
		if err != nil {
			return nil, err
		}
		size += uint64(proto.Size(e))
		if len(ents) > 0 && size > maxSize {
			break
		}
		ents = append(ents, e)
	}
	return ents, nil
}

// read reads entry i, which the log holds, from the WAL.
func (l *Log) read(i uint64) (*pb.Entry, error) {
	p := l.st.pos[i-l.st.offset-1].at
	rec, err := l.wal.ReadAt(p)
	if err != nil {
		return nil, fmt.Errorf("raftlog: entry %d: %w", i, err)
	}
	if len(rec) == 0 || rec[0] != recEntry {
		return nil, fmt.Errorf("raftlog: entry %d: %w: not an entry record at segment %d offset %d", i, errBadRecord, p.Segment, p.Offset)
	}
	e := new(pb.Entry)
	if err := proto.Unmarshal(rec[1:], e); err != nil {
		return nil, fmt.Errorf("raftlog: decode entry %d: %w", i, err)
	}
	if e.GetIndex() != i {
		return nil, fmt.Errorf("raftlog: the record of entry %d holds entry %d", i, e.GetIndex())
	}
	return e, nil
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
	return l.st.pos[i-l.st.offset-1].term, nil
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
