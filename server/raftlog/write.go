package raftlog

import (
	"fmt"
	"slices"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// A write builds the next state and the records that take the WAL there;
// nothing reaches the WAL until every check has passed, so a refused
// write (an old snapshot, contexts too large) leaves no trace.
type write struct {
	next    state
	recs    [][]byte    // written first, in order
	entries []*pb.Entry // then one record each
	hs      *pb.HardState
}

func (l *Log) newWrite() *write { return &write{next: l.st} }

// commit appends w's records, syncs them if sync, and makes w's state the
// Log's. On an error the WAL may hold part of the records: the member must
// stop (contract, item 5).
func (l *Log) commit(w *write, sync bool) error {
	if l.wal.Full() {
		if err := rotate(l.wal, &l.st); err != nil {
			return fmt.Errorf("raftlog: %w", err)
		}
	}
	for _, rec := range w.recs {
		if _, err := l.wal.Append(rec); err != nil {
			return fmt.Errorf("raftlog: %w", err)
		}
	}
	// Entries and the HardState are encoded straight into the WAL's buffer.
	first := uint64(0)
	if len(w.entries) > 0 {
		first = w.entries[0].GetIndex() - w.next.offset - 1
	}
	for i, e := range w.entries {
		at, err := l.wal.AppendFunc(messageRecord(recEntry, e))
		if err != nil {
			return fmt.Errorf("raftlog: entry %d: %w", e.GetIndex(), err)
		}
		w.next.pos[first+uint64(i)].at = at
	}
	if w.hs != nil {
		if _, err := l.wal.AppendFunc(messageRecord(recHardState, w.hs)); err != nil {
			return fmt.Errorf("raftlog: HardState: %w", err)
		}
		w.next.hardState = w.hs
	}
	if sync {
		if err := l.wal.Sync(); err != nil {
			return fmt.Errorf("raftlog: %w", err)
		}
	}
	l.st = w.next
	return nil
}

// release lets the WAL drop the segments that hold nothing the log still
// needs: every entry after the compaction point is in the segment of the
// first of them or later, and each segment starts with a checkpoint.
func (l *Log) release() error {
	segs := l.wal.Segments()
	keep := segs[len(segs)-1]
	if len(l.st.pos) > 0 {
		keep = l.st.pos[0].at.Segment
	}
	if err := l.wal.Release(keep); err != nil {
		return fmt.Errorf("raftlog: %w", err)
	}
	return nil
}

// Save persists one Ready's snapshot, entries and HardState, in that
// order, and syncs them (the group commit).
//
//   - snap, if non-nil with a non-zero index, is installed as by
//     ApplySnapshot (raft.ErrSnapOutOfDate, with nothing written, if it is
//     not newer than the current snapshot).
//   - entries are appended as by raft.MemoryStorage.Append: entries at or
//     below the compaction point are skipped, and writing index i discards
//     every persisted entry at index ≥ i. They must be contiguous and start
//     at most one past the last index, or Save panics.
//   - hs, if non-nil, replaces the HardState.
//
// The in-memory view changes only once the records are synced.
func (l *Log) Save(hs *pb.HardState, entries []*pb.Entry, snap *pb.Snapshot) error {
	return l.save(hs, entries, snap, nil, false)
}

// save is Save; with withContexts, it also records contexts, after the
// snapshot's ConfState, and installs a snapshot at index 0.
func (l *Log) save(hs *pb.HardState, entries []*pb.Entry, snap *pb.Snapshot, contexts map[uint64][]byte, withContexts bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.newWrite()
	installed := false
	if snap != nil && (snap.GetMetadata().GetIndex() != 0 || withContexts) {
		if err := w.installSnapshot(snap); err != nil {
			return err
		}
		installed = true
	}
	if withContexts {
		if err := w.setContexts(contexts); err != nil {
			return err
		}
	}
	w.appendEntries(entries)
	if hs != nil {
		w.hs = proto.Clone(hs).(*pb.HardState)
	}
	if err := l.commit(w, true); err != nil {
		return err
	}
	if installed {
		return l.release()
	}
	return nil
}

// SaveCommit records hs, a HardState that differs from the stored one in
// its commit index alone (a Ready for which raft.MustSync is false),
// without an fsync: the commit index is volatile in Raft (a lost one is
// learned again), and the record is durable with the next synced write.
// A crash may so keep the state a caller applied up to the new commit
// index and lose the record; raftnode raises the commit index to the
// applied index when it restarts. It panics if hs changes the term or
// the vote, or lowers the commit index.
func (l *Log) SaveCommit(hs *pb.HardState) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	old := l.st.hardState
	if hs.GetTerm() != old.GetTerm() || hs.GetVote() != old.GetVote() || hs.GetCommit() < old.GetCommit() {
		panic(fmt.Sprintf("raftlog: SaveCommit(%v) over %v changes more than the commit index", hs, old))
	}
	w := l.newWrite()
	w.hs = proto.Clone(hs).(*pb.HardState)
	return l.commit(w, false)
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
	w := l.newWrite()
	if err := w.installSnapshot(snap); err != nil {
		return err
	}
	if err := l.commit(w, true); err != nil {
		return err
	}
	return l.release()
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
	w := l.newWrite()
	if err := w.setSnapshot(recSnapshot, snap); err != nil {
		return nil, err
	}
	if err := l.commit(w, true); err != nil {
		return nil, err
	}
	return proto.Clone(snap).(*pb.Snapshot), nil
}

// Compact discards every entry at or below compactIndex, which becomes the
// compaction point: FirstIndex becomes compactIndex+1 and Term(compactIndex)
// stays answerable. It returns raft.ErrCompacted if compactIndex is already
// compacted and panics if it is past LastIndex. The caller must not
// compact past the state it has made durable (applied and flushed to the
// member's store), nor past the latest snapshot: the entries dropped are
// the only other copy of that state.
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
	w := l.newWrite()
	w.recs = append(w.recs, compactRecord(compactIndex, term))
	w.next.pos = w.next.pos[compactIndex-w.next.offset:]
	w.next.offset, w.next.offsetTerm = compactIndex, term
	w.next.trimTail(compactIndex)
	if err := l.commit(w, true); err != nil {
		return err
	}
	return l.release()
}

// SetConfState records the ConfState returned by raft's ApplyConfChange;
// InitialState returns it after a restart. It is written synced. It
// leaves the member contexts as they are: SetMembership records both.
func (l *Log) SetConfState(cs *pb.ConfState) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.newWrite()
	if err := w.setConfState(cs); err != nil {
		return err
	}
	return l.commit(w, true)
}

// installSnapshot adds the records that install snap.
func (w *write) installSnapshot(snap *pb.Snapshot) error {
	snap = cloneSnapshot(snap)
	cur, idx := w.next.snapshot.GetMetadata().GetIndex(), snap.GetMetadata().GetIndex()
	if cur != 0 && cur >= idx {
		return raft.ErrSnapOutOfDate
	}
	if err := w.setSnapshot(recInstall, snap); err != nil {
		return err
	}
	w.next.confState = cloneConfState(snap.GetMetadata().GetConfState())
	w.next.offset, w.next.offsetTerm, w.next.last = idx, snap.GetMetadata().GetTerm(), idx
	w.next.pos = nil
	w.next.tail, w.next.tailBytes = nil, 0
	return nil
}

// appendEntries adds entries as MemoryStorage.Append does.
func (w *write) appendEntries(entries []*pb.Entry) {
	if len(entries) == 0 {
		return
	}
	for i := 1; i < len(entries); i++ {
		if entries[i].GetIndex() != entries[0].GetIndex()+uint64(i) {
			panic(fmt.Sprintf("raftlog: entries not contiguous: %d at position %d after %d",
				entries[i].GetIndex(), i, entries[0].GetIndex()))
		}
	}
	next := &w.next
	first := next.offset + 1
	last := entries[0].GetIndex() + uint64(len(entries)) - 1
	if last < first {
		return // all compacted
	}
	if first > entries[0].GetIndex() {
		entries = entries[first-entries[0].GetIndex():]
	}
	if entries[0].GetIndex() > next.last+1 {
		panic(fmt.Sprintf("raftlog: missing log entry [last: %d, append at: %d]", next.last, entries[0].GetIndex()))
	}
	// Writing index i discards every entry at index ≥ i. Clip then, so
	// that appending cannot overwrite what the current state still holds.
	pos := next.pos
	if k := entries[0].GetIndex() - first; k < uint64(len(pos)) {
		pos = slices.Clip(pos[:k])
	}
	for _, e := range entries {
		pos = append(pos, entryPos{term: e.GetTerm()}) // at: set by commit
	}
	next.pos = pos
	next.last = last
	next.appendTail(entries)
	w.entries = entries
}

func (w *write) setSnapshot(kind byte, snap *pb.Snapshot) error {
	if n := len(snap.GetData()); n > MaxSnapshotDataBytes {
		return fmt.Errorf("raftlog: snapshot data is %d bytes, more than MaxSnapshotDataBytes (%d)", n, MaxSnapshotDataBytes)
	}
	rec, err := marshalRecord(kind, snap)
	if err != nil {
		return err
	}
	w.recs = append(w.recs, rec)
	w.next.snapshot = snap
	return nil
}

func (w *write) setConfState(cs *pb.ConfState) error {
	cs = cloneConfState(cs)
	rec, err := marshalRecord(recConfState, cs)
	if err != nil {
		return err
	}
	w.recs = append(w.recs, rec)
	w.next.confState = cs
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
