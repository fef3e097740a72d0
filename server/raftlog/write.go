package raftlog

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Save persists one Ready's snapshot, entries and HardState, in that order,
// in one synced Pebble batch; see SaveBatch.
func (l *Log) Save(hs *pb.HardState, entries []*pb.Entry, snap *pb.Snapshot) error {
	b := l.db.NewBatch()
	defer b.Close()
	return l.SaveBatch(b, hs, entries, snap)
}

// SaveBatch adds one Ready's writes to b, which may already hold the
// caller's own writes, and commits b synced; the caller still closes b.
//
//   - snap, if non-nil with a non-zero index, is installed as by
//     ApplySnapshot (raft.ErrSnapOutOfDate, with nothing written, if it is
//     not newer than the current snapshot).
//   - entries are appended as by raft.MemoryStorage.Append: entries at or
//     below the compaction point are skipped, and writing index i discards
//     every persisted entry at index ≥ i. They must be contiguous and start
//     at most one past the last index, or SaveBatch panics.
//   - hs, if non-nil, replaces the HardState.
//
// The in-memory view changes only once the batch has committed. On an error
// nothing is committed and b may hold part of the writes: discard it.
func (l *Log) SaveBatch(b *pebble.Batch, hs *pb.HardState, entries []*pb.Entry, snap *pb.Snapshot) error {
	return l.saveBatch(b, hs, entries, snap, nil, false)
}

// saveBatch is SaveBatch; with withContexts, it also records contexts,
// after the snapshot's ConfState, and installs a snapshot at index 0.
func (l *Log) saveBatch(b *pebble.Batch, hs *pb.HardState, entries []*pb.Entry, snap *pb.Snapshot, contexts map[uint64][]byte, withContexts bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	next := l.st
	if snap != nil && (snap.GetMetadata().GetIndex() != 0 || withContexts) {
		if err := applySnapshot(b, &next, snap); err != nil {
			return err
		}
	}
	if withContexts {
		if err := setContexts(b, &next, contexts); err != nil {
			return err
		}
	}
	if err := appendEntries(b, &next, entries); err != nil {
		return err
	}
	if hs != nil {
		hs = proto.Clone(hs).(*pb.HardState)
		v, err := proto.Marshal(hs)
		if err != nil {
			return fmt.Errorf("raftlog: encode HardState: %w", err)
		}
		if err := b.Set(hardStateKey, v, nil); err != nil {
			return fmt.Errorf("raftlog: save: %w", err)
		}
		next.hardState = hs
	}
	return l.commit(b, next)
}

// SaveCommit records hs, a HardState that differs from the stored one in
// its commit index alone (a Ready for which raft.MustSync is false),
// without an fsync. This is safe because the commit index is volatile in
// Raft (a lost one is learned again), and because the member's one Pebble
// WAL is recovered as a prefix: any later write that survives a crash (the
// applier's state and applied index, or the next synced Save) brings this
// one with it, so a durable applied index never exceeds the durable commit
// index. It panics if hs changes the term or the vote, or lowers the
// commit index.
func (l *Log) SaveCommit(hs *pb.HardState) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	old := l.st.hardState
	if hs.GetTerm() != old.GetTerm() || hs.GetVote() != old.GetVote() || hs.GetCommit() < old.GetCommit() {
		panic(fmt.Sprintf("raftlog: SaveCommit(%v) over %v changes more than the commit index", hs, old))
	}
	hs = proto.Clone(hs).(*pb.HardState)
	v, err := proto.Marshal(hs)
	if err != nil {
		return fmt.Errorf("raftlog: encode HardState: %w", err)
	}
	if err := l.db.Set(hardStateKey, v, pebble.NoSync); err != nil {
		return fmt.Errorf("raftlog: save commit: %w", err)
	}
	l.st.hardState = hs
	return nil
}

// ApplySnapshot installs a snapshot received from the leader, as
// raft.MemoryStorage.ApplySnapshot does: the whole log is discarded, the
// snapshot's index and term become the compaction point and its ConfState
// the current one. It returns raft.ErrSnapOutOfDate if a snapshot with a
// non-zero index is already installed and snap is not newer. A snapshot
// with index 0 and only a ConfState bootstraps a new member.
func (l *Log) ApplySnapshot(snap *pb.Snapshot) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.db.NewBatch()
	defer b.Close()
	next := l.st
	if err := applySnapshot(b, &next, snap); err != nil {
		return err
	}
	return l.commit(b, next)
}

// CreateSnapshot records the metadata of a snapshot at index i (which must
// be in [FirstIndex()-1, LastIndex()]), with ConfState cs (nil keeps the
// previous snapshot's) and Data data, as raft.MemoryStorage.CreateSnapshot
// does, and returns it. It returns raft.ErrSnapOutOfDate if i is not newer
// than the current snapshot. It does not change the current ConfState: use
// SetConfState for that.
func (l *Log) CreateSnapshot(i uint64, cs *pb.ConfState, data []byte) (*pb.Snapshot, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if i <= l.st.snapshot.GetMetadata().GetIndex() {
		return nil, raft.ErrSnapOutOfDate
	}
	if i > l.st.last || i < l.st.offset {
		panic(fmt.Sprintf("raftlog: snapshot %d is out of bound [%d, %d]", i, l.st.offset, l.st.last))
	}
	term, err := l.term(i)
	if err != nil {
		return nil, err
	}
	snap := proto.Clone(l.st.snapshot).(*pb.Snapshot)
	snap.Metadata.Index = proto.Uint64(i)
	snap.Metadata.Term = proto.Uint64(term)
	if cs != nil {
		snap.Metadata.ConfState = cloneConfState(cs)
	}
	snap.Data = append([]byte(nil), data...)
	b := l.db.NewBatch()
	defer b.Close()
	next := l.st
	if err := setSnapshot(b, &next, snap); err != nil {
		return nil, err
	}
	if err := l.commit(b, next); err != nil {
		return nil, err
	}
	return proto.Clone(snap).(*pb.Snapshot), nil
}

// Compact discards every entry at or below compactIndex, which becomes the
// compaction point: FirstIndex becomes compactIndex+1 and Term(compactIndex)
// stays answerable. It returns raft.ErrCompacted if compactIndex is already
// compacted and panics if it is past LastIndex. The caller must not compact
// past the durably applied index nor past the latest snapshot.
func (l *Log) Compact(compactIndex uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if compactIndex <= l.st.offset {
		return raft.ErrCompacted
	}
	if compactIndex > l.st.last {
		panic(fmt.Sprintf("raftlog: compact %d is out of bound lastindex(%d)", compactIndex, l.st.last))
	}
	term, err := l.term(compactIndex)
	if err != nil {
		return err
	}
	b := l.db.NewBatch()
	defer b.Close()
	if err := b.DeleteRange(entriesLower, entryKeyEnd(compactIndex), nil); err != nil {
		return fmt.Errorf("raftlog: compact: %w", err)
	}
	if err := b.Set(offsetKey, encodeOffset(compactIndex, term), nil); err != nil {
		return fmt.Errorf("raftlog: compact: %w", err)
	}
	next := l.st
	next.offset, next.offsetTerm = compactIndex, term
	next.trimTail(compactIndex)
	return l.commit(b, next)
}

// SetConfState records the ConfState returned by raft's ApplyConfChange;
// InitialState returns it after a restart. It is written synced. It
// leaves the member contexts as they are: SetMembership records both.
func (l *Log) SetConfState(cs *pb.ConfState) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.db.NewBatch()
	defer b.Close()
	next := l.st
	if err := setConfState(b, &next, cs); err != nil {
		return err
	}
	return l.commit(b, next)
}

// commit commits b synced and, once it is durable, makes next the
// in-memory view.
func (l *Log) commit(b *pebble.Batch, next state) error {
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("raftlog: commit: %w", err)
	}
	l.st = next
	return nil
}

// applySnapshot adds to b the writes that install snap, and updates next.
func applySnapshot(b *pebble.Batch, next *state, snap *pb.Snapshot) error {
	snap = cloneSnapshot(snap)
	cur, idx := next.snapshot.GetMetadata().GetIndex(), snap.GetMetadata().GetIndex()
	if cur != 0 && cur >= idx {
		return raft.ErrSnapOutOfDate
	}
	if err := setSnapshot(b, next, snap); err != nil {
		return err
	}
	if err := setConfState(b, next, snap.GetMetadata().GetConfState()); err != nil {
		return err
	}
	if next.last > next.offset {
		if err := b.DeleteRange(entriesLower, entryKeyEnd(next.last), nil); err != nil {
			return fmt.Errorf("raftlog: apply snapshot: %w", err)
		}
	}
	term := snap.GetMetadata().GetTerm()
	if err := b.Set(offsetKey, encodeOffset(idx, term), nil); err != nil {
		return fmt.Errorf("raftlog: apply snapshot: %w", err)
	}
	next.offset, next.offsetTerm, next.last = idx, term, idx
	next.tail, next.tailBytes = nil, 0
	return nil
}

// appendEntries adds to b the writes that append entries as
// MemoryStorage.Append does, and updates next.
func appendEntries(b *pebble.Batch, next *state, entries []*pb.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	for i := 1; i < len(entries); i++ {
		if entries[i].GetIndex() != entries[0].GetIndex()+uint64(i) {
			panic(fmt.Sprintf("raftlog: entries not contiguous: %d at position %d after %d",
				entries[i].GetIndex(), i, entries[0].GetIndex()))
		}
	}
	first := next.offset + 1
	last := entries[0].GetIndex() + uint64(len(entries)) - 1
	if last < first {
		return nil // all compacted
	}
	if first > entries[0].GetIndex() {
		entries = entries[first-entries[0].GetIndex():]
	}
	if entries[0].GetIndex() > next.last+1 {
		panic(fmt.Sprintf("raftlog: missing log entry [last: %d, append at: %d]", next.last, entries[0].GetIndex()))
	}
	var buf []byte
	for _, e := range entries {
		var err error
		buf, err = proto.MarshalOptions{}.MarshalAppend(buf[:0], e)
		if err != nil {
			return fmt.Errorf("raftlog: encode entry %d: %w", e.GetIndex(), err)
		}
		// Set copies key and value into the batch, so buf can be reused.
		if err := b.Set(entryKey(e.GetIndex()), buf, nil); err != nil {
			return fmt.Errorf("raftlog: append: %w", err)
		}
	}
	if last < next.last {
		// Writing index i discards every persisted entry at index ≥ i.
		if err := b.DeleteRange(entryKey(last+1), entryKeyEnd(next.last), nil); err != nil {
			return fmt.Errorf("raftlog: append: %w", err)
		}
	}
	next.last = last
	next.appendTail(entries)
	return nil
}

func setSnapshot(b *pebble.Batch, next *state, snap *pb.Snapshot) error {
	if n := len(snap.GetData()); n > MaxSnapshotDataBytes {
		return fmt.Errorf("raftlog: snapshot data is %d bytes, more than MaxSnapshotDataBytes (%d)", n, MaxSnapshotDataBytes)
	}
	v, err := proto.Marshal(snap)
	if err != nil {
		return fmt.Errorf("raftlog: encode snapshot: %w", err)
	}
	if err := b.Set(snapshotKey, v, nil); err != nil {
		return fmt.Errorf("raftlog: snapshot: %w", err)
	}
	next.snapshot = snap
	return nil
}

func setConfState(b *pebble.Batch, next *state, cs *pb.ConfState) error {
	cs = cloneConfState(cs)
	v, err := proto.Marshal(cs)
	if err != nil {
		return fmt.Errorf("raftlog: encode ConfState: %w", err)
	}
	if err := b.Set(confStateKey, v, nil); err != nil {
		return fmt.Errorf("raftlog: ConfState: %w", err)
	}
	next.confState = cs
	return nil
}

// cloneConfState returns a deep copy of cs with every field present, as
// MemoryStorage returns it; nil gives an empty ConfState. cs is not changed.
func cloneConfState(cs *pb.ConfState) *pb.ConfState {
	if cs == nil {
		return pb.EnsureConfState(nil)
	}
	return pb.EnsureConfState(proto.Clone(cs).(*pb.ConfState))
}

// cloneSnapshot returns a deep copy of snap with every field present; snap
// is not changed.
func cloneSnapshot(snap *pb.Snapshot) *pb.Snapshot {
	if snap == nil {
		return pb.EnsureSnapshot(nil)
	}
	return pb.EnsureSnapshot(proto.Clone(snap).(*pb.Snapshot))
}
