// Package wal is an append-only log of opaque records kept in segment
// files: the durable medium of a member's Raft log (server/raftlog).
//
// It exists because a Raft entry needs to be written once and synced,
// nothing more; kept in Pebble, each entry was also inserted into a
// memtable, flushed to a table and compacted before its deletion dropped
// it. A segment is also written over space that was zero-filled ahead of
// time (or that a released segment held), because on these machines an
// fdatasync that must also record a file's growth costs about twice the
// CPU and latency of one that does not (docs/BENCHMARKS.md).
//
// # Format
//
// A log is a directory of segments named by their sequence number
// (%016x.wal), numbered from 1 without gaps, plus spare files
// (spare-N) waiting to become segments: zero-filled ones, and released
// segments kept to be written over. The first file a WAL zero-fills is
// 1 MiB, each next one twice the one before, up to Options.SegmentBytes
// (16 MiB by default), so a log that sees little writing fills little;
// the next is filled on a goroutine of its own while the current one is
// written. A segment is a run of records, each a 17-byte header and its
// payload:
//
//	crc32c(4) | length(4) | segment sequence(8) | kind(1) | payload(length)
//
// all integers little-endian, the CRC (Castagnoli) covering the rest of
// the header and the payload. Kind 1 is a caller's record, kind 2 ends a
// segment. The segment's own sequence number in every header means that a
// record left over from a file's earlier life as another segment never
// reads as valid.
//
// # Recovery
//
// Open reads every segment in order and hands each record to the caller.
// A segment other than the last must close with an end record: one that
// does not is damage, and Open fails with ErrCorrupt rather than lose
// what followed. The last segment ends at its first record that does not
// check out (a write torn by a crash, or the zeroes past the end); Rotate
// then closes it with an end record at that point, so that whatever
// stale bytes lie beyond it are never read again, and writing goes on in
// a new segment.
//
// # The caller's contract
//
//  1. One goroutine at a time calls a WAL's methods.
//  2. After Open, call Rotate before the first Append: it starts the
//     segment appends go to, with the caller's first record in it
//     (server/raftlog writes a checkpoint of its metadata there, so that
//     a segment and those after it are enough to rebuild the log).
//  3. Append buffers a record; Sync writes what is buffered and syncs it.
//     A record is durable once a Sync that followed its Append returned.
//  4. Call Rotate again when Full says so, and Release with the lowest
//     segment still needed once older segments hold nothing the caller
//     needs; released files are kept as spares and written over.
package wal
