// Package storage opens the one Pebble database a member keeps, with the
// options arbor is tuned and tested with, and records which key prefix
// belongs to which package.
//
// Keyspace (the first byte of every key):
//
//	's'  the replicated state, owned by package tree
//	'r'  the Raft log of a store written before the log had files of its
//	     own (server/raftlog moves it out on the first open, then deletes it)
//	'm'  the member's own record (its id, its cluster's peer addresses),
//	     owned by package server
//
// A package never reads or writes another's prefix.
package storage
