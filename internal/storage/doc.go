// Package storage opens the one Pebble database a member keeps, with the
// options arbor is tuned and tested with, and records which key prefix
// belongs to which package.
//
// Keyspace (the first byte of every key):
//
//	's'  the replicated state, owned by package tree
//	'r'  the Raft log, HardState and ConfState, owned by server/raftlog
//	'm'  the member's own record (its id, its cluster's peer addresses),
//	     owned by package server
//
// A package never reads or writes another's prefix.
package storage
