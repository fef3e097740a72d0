// Package raftlog is arbor's raft.Storage: the Raft log, HardState,
// ConfState and snapshot metadata of one member, kept in the member's one
// Pebble database (internal/storage) under the key prefix
// storage.PrefixRaft ('r').
//
// A Log answers raft's reads exactly as raft.MemoryStorage does (same
// results, same errors, same size limiting), and its write methods mirror
// MemoryStorage's (Append via Save, SetHardState via Save, ApplySnapshot,
// CreateSnapshot, Compact), except that every write is durable when it
// returns. An oracle test drives both with the same random operations.
//
// # Key layout
//
// Every key starts with storage.PrefixRaft; the second byte says what it is:
//
//	'r' 'e' index(8 bytes, big-endian)  one log entry, a marshaled raftpb.Entry
//	'r' 'h'                             the HardState, a marshaled raftpb.HardState
//	'r' 'c'                             the current ConfState, a marshaled raftpb.ConfState
//	'r' 's'                             the latest snapshot's metadata and Data, a marshaled raftpb.Snapshot
//	'r' 'o'                             the log offset: index(8) term(8), big-endian, of the
//	                                    entry just before the first one kept (the compaction
//	                                    point, MemoryStorage's dummy entry ents[0])
//	'r' 'm'                             the contexts of the current members (opaque to this
//	                                    package; arbor's are peer addresses), AppendContexts'
//	                                    encoding; written in the same batch as the ConfState
//	                                    by SetMembership and SaveMembers
//
// Entry keys sort by index, so the log is one contiguous range and
// truncation and compaction are single range deletions. A missing key
// means its zero value: no HardState, an empty ConfState, no snapshot, and
// offset (0, 0), no member contexts.
//
// # Snapshots carry no state
//
// arbor's state lives in the same Pebble database (package tree) and is
// streamed to a lagging member beside the raft message, from a Pebble
// snapshot, so a raftpb.Snapshot here is metadata only: index, term,
// ConfState, plus Data, which is opaque to this package and bounded by
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
//     HardState in one synced batch (the group commit); writing an entry at
//     index i discards every persisted entry at index ≥ i. SaveBatch does the
//     same in a batch that may already hold the caller's own writes. For a
//     Ready that changes only the commit index (raft.MustSync is false),
//     SaveCommit records the HardState without an fsync instead; any later
//     write to the same database that survives a crash brings it along
//     (Pebble recovers its WAL as a prefix).
//  3. After applying a conf change, call SetConfState (or SetMembership,
//     with the members' contexts) with the ConfState that ApplyConfChange
//     returned, before the applied index that covers the conf change is
//     persisted, so a restart sees them together. A snapshot's ConfState
//     comes with the contexts its Data carries: SaveMembers records both
//     in the Ready's one batch.
//  4. To compact: CreateSnapshot(applied, confState, data), then
//     Compact(i) with i ≤ that snapshot's index and i ≤ the durably applied
//     index; keep a tail of entries so a slow follower catches up without a
//     snapshot. This package cannot know what is applied: never compacting
//     past it is the caller's job. (server/raftnode snapshots every
//     Config.SnapshotEntries applied entries and compacts to
//     Config.CatchUpEntries behind the snapshot; since Compact is a synced
//     write to the same WAL as the state's unsynced writes, everything
//     applied before it is durable with it.) To install a snapshot
//     received from a leader, pass it to Save with the Ready's entries and
//     HardState (one batch), and restore the state it describes before
//     applying what follows it. Compacting past the snapshot makes
//     Snapshot return raft.ErrSnapshotTemporarilyUnavailable until a newer
//     snapshot is created, since the old one could not bring a follower up to
//     the first kept entry.
//  5. If any method returns an error other than raft's sentinel errors, the
//     database is failing or corrupt: stop the member; the Log's in-memory
//     state still describes what was last durably written.
//
// Programmer errors (an append that leaves a gap, Entries past the last
// index, Compact past the last index) panic, as they do in MemoryStorage.
package raftlog
