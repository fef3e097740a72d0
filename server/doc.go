// Package server is the composition root of an arbor member: it opens the
// store, the state machine (tree) and the Raft log, runs the Raft node,
// and turns client requests into proposals and reads.
//
// It is being built (issue 3). What exists is the write path's core:
//
//  1. propose: a tree.Command gets a request id (member id and a sequence
//     that starts at a random point, so an old proposal that commits after
//     a restart can never wake a new request) and the time, is encoded and
//     proposed to Raft, and its caller waits on the request id;
//  2. apply: committed entries are decoded and applied to the tree in one
//     run per Ready; for each result, its watch events are handed on first
//     and only then is its waiter released, so a client always sees a watch
//     event before the response that reflects the change (DESIGN.md, write
//     path, step 5).
//
// Beside them: the leader's session duty (sessions: create, resume, close,
// and the expiry of silent sessions), and appliedIndex, on which a read
// waits until the member has applied the zxid it must not read behind.
// A replica bundles one member's Pebble database, tree, Raft log and node.
package server
