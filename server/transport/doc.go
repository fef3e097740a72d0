// Package transport carries raft messages between the members of an arbor
// cluster. It implements raftnode.Transport on the sending side and hands
// what it receives to a Raft (a *raftnode.Node) on the other.
//
// Two implementations share the contract below:
//
//   - TCP (tcp.go): each member listens on its peer address; for each peer
//     it keeps one outbound stream with a bounded queue, redialled with
//     backoff, so that a slow or dead peer never blocks the Ready loop.
//   - Network (mem.go): an in-memory network for tests, which can drop,
//     delay, reorder and partition messages between chosen members.
//
// # The contract
//
//  1. Send never blocks. A message that cannot be queued (the peer's
//     queue is full, the peer is unknown or unreachable) is dropped, and
//     the peer is reported unreachable to the sender's Raft: raft
//     retransmits what matters.
//  2. Messages from one member to another arrive in the order sent, or not
//     at all (the in-memory network breaks this only when told to reorder).
//  3. Every message received goes to Raft.Step with a context that ends
//     when the transport closes; a Step error is logged, not retried.
//  4. Close stops every goroutine the transport started and waits for
//     them.
package transport

import (
	"context"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
)

// Raft is the receiving member's raft node, as a transport sees it;
// *raftnode.Node implements it.
type Raft interface {
	// Step hands a message from a peer to raft. It may wait (for ctx)
	// when the node's queue is full.
	Step(ctx context.Context, m *pb.Message) error
	// ReportUnreachable tells raft that a message to peer id was lost, so
	// that the leader stops pipelining appends to it until it answers.
	ReportUnreachable(id uint64)
	// ReportSnapshot tells raft how sending a snapshot to peer id ended.
	ReportSnapshot(id uint64, status raft.SnapshotStatus)
}
