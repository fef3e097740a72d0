// Package transport carries raft messages between the members of an arbor
// cluster. It implements raftnode.Transport on the sending side and hands
// what it receives to a Raft (a *raftnode.Node) on the other.
//
// Two implementations share the contract below:
//
//   - TCP (tcp.go): each member listens on its peer address; for each peer
//     it keeps one outbound stream with a bounded queue, redialled with
//     backoff, so that a slow or dead peer never blocks the Ready loop; a
//     MsgSnap and its state go on a connection of their own
//     (tcp_snapshot.go).
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
//  5. A MsgSnap carries only the snapshot's metadata; the state goes beside
//     it. The sender's transport opens the state with Raft.OpenSnapshot
//     for the snapshot's index and hands the message and the stream to the
//     receiver's Raft.ReceiveSnapshot; it reports SnapshotFinish to the
//     sender's Raft once ReceiveSnapshot returned nil, and SnapshotFailure
//     on any error (the checkpoint gone, the peer unreachable, the stream
//     cut, the receiver refusing). Every MsgSnap handed to Send gets
//     exactly one of the two. At most one snapshot is in flight to a peer;
//     a second one is reported failed at once.
package transport

import (
	"context"
	"io"

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
	// OpenSnapshot returns the state of this member's snapshot at index,
	// as a stream to send beside a MsgSnap, or an error if that snapshot's
	// state is no longer held (a newer one replaced it). The caller closes
	// the reader, also when it stops reading early.
	OpenSnapshot(index uint64) (io.ReadCloser, error)
	// ReceiveSnapshot takes a MsgSnap from a peer with the state streamed
	// beside it: it stores r durably, reading it to EOF, then steps m. A
	// nil error means the snapshot was received whole (the receiver's
	// raft may still ignore it, if it is stale).
	ReceiveSnapshot(ctx context.Context, m *pb.Message, r io.Reader) error
}
