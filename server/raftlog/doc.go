// Package raftlog is arbor's raft.Storage: the Raft log, HardState,
// ConfState, snapshot metadata and member contexts of one member, kept in
// segment files of their own (package wal), in a directory beside the
// member's Pebble store.
//
// A Log answers raft's reads exactly as raft.MemoryStorage does (same
// results, same errors, same size limiting), and its write methods mirror
// MemoryStorage's (Append via Save, SetHardState via Save, ApplySnapshot,
// CreateSnapshot, Compact), except that every write but SaveCommit's is
// durable when it returns. An oracle test drives both with the same
// random operations, with reopens and crashes between them.
//
// # Why not in Pebble
//
// A Raft entry needs one write and one sync. Kept in Pebble, as it was
// until December 2026, each entry also went into a memtable, a flushed
// table and a compaction before its deletion dropped it, and the store's
// WAL grew as it was written, which makes each fdatasync cost more
// (docs/BENCHMARKS.md, "Writes: what the fsyncs cost"). The state stays
// in Pebble, without a WAL of Pebble's own: the synced log is the
// durability point, and a restart applies again what the store had not
// flushed.
//
// # Records
//
// Each WAL record is one byte of kind and a payload:
//
//	'c'  a checkpoint: offset, its term and the last index (8 bytes each,
//	     big-endian), flags, the HardState (if any), the ConfState, the
//	     snapshot and the member contexts (if any), each a uvarint length
//	     and marshaled bytes. It opens every segment, so that a segment and
//	     those after it are enough to rebuild the log.
//	'e'  one marshaled raftpb.Entry; an entry at index i discards those at
//	     index ≥ i
//	'h'  a marshaled raftpb.HardState
//	'f'  a marshaled raftpb.ConfState
//	'i'  a marshaled raftpb.Snapshot installed (received from a leader):
//	     the log starts again after it, and its ConfState is current
//	's'  a marshaled raftpb.Snapshot created here: metadata only
//	'm'  the member contexts, AppendContexts' encoding
//	'o'  index(8) term(8): the new compaction point
//
// Open replays the records into the same in-memory state the writes
// keep. The entries themselves stay in the files: the Log keeps where
// each is and its term, and reads it back when raft asks for one that is
// not in the cache of the last entries appended. Once a compaction (or an
// installed snapshot) leaves a segment with no entry after the compaction
// point, the segment is released.
//
// A store written before the log had files of its own holds it under the
// key prefix storage.PrefixRaft (keys.go has that layout): Open moves it
// into the files once, then deletes the keys.
//
// # Snapshots carry no state
//
// arbor's state lives in the Pebble store (package tree) and is streamed
// to a lagging member beside the raft message, from a Pebble snapshot, so
// a raftpb.Snapshot here is metadata only: index, term, ConfState, plus
// Data, which is opaque to this package and bounded by
// MaxSnapshotDataBytes. arbor's raftnode puts into Data only the small
// descriptor the receiver needs to fetch and check the streamed state
// (format version, source member); never the state itself.
//
// # The caller's contract
//
//  1. One goroutine (server/raftnode's Ready loop) writes; raft reads on the
//     same goroutine. A Log is nevertheless safe for concurrent use: a mutex
//     serialises every method.
//  2. For each Ready, call Save(rd.HardState, rd.Entries, rd.Snapshot) before
//     sending rd.Messages (a leader may send its MsgApps first) and before
//     Advance. Save writes the snapshot, then the entries, then the
//     HardState and syncs them together (the group commit); writing an
//     entry at index i discards every persisted entry at index ≥ i. For a
//     Ready that changes only the commit index (raft.MustSync is false),
//     SaveCommit records the HardState without an fsync; the next synced
//     write brings it to disk. Until then a crash may keep the state the
//     caller applied and lose the commit index: on a restart, raise the
//     commit index to the applied index (raftnode.Start does).
//  3. After applying a conf change, call SetConfState (or SetMembership,
//     with the members' contexts) with the ConfState that ApplyConfChange
//     returned, before the applied index that covers the conf change is
//     written to the store: both are synced when they return, so a
//     restart never sees the applied index without the ConfState. A
//     snapshot's ConfState comes with the contexts its Data carries:
//     SaveMembers records both with the Ready's writes.
//  4. To compact: CreateSnapshot(applied, confState, data), then
//     Compact(i) with i ≤ that snapshot's index and i ≤ the index applied
//     to the store and made durable there; keep a tail of entries so a
//     slow follower catches up without a snapshot. The store has no
//     write-ahead log of its own (internal/storage): the entries after
//     its last flush are the only copy of the state they produced. This
//     package cannot know what is applied or flushed: never compacting
//     past it is the caller's job. (server/raftnode snapshots every
//     Config.SnapshotEntries applied entries, has the Applier flush the
//     store, and once that flush is done compacts to
//     Config.CatchUpEntries behind the snapshot.) To install a snapshot
//     received from a leader, pass it to Save with the Ready's entries and
//     HardState, and restore the state it describes before applying what
//     follows it. Compacting past the snapshot makes Snapshot return
//     raft.ErrSnapshotTemporarilyUnavailable until a newer snapshot is
//     created, since the old one could not bring a follower up to the
//     first kept entry.
//  5. If any method returns an error other than raft's sentinel errors,
//     the files are failing or corrupt: stop the member; the Log's
//     in-memory state still describes what was last durably written.
//  6. Close the Log when done; it keeps no hold on the store.
//
// Programmer errors (an append that leaves a gap, Entries past the last
// index, Compact past the last index) panic, as they do in MemoryStorage.
package raftlog
