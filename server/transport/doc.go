// Package transport carries raft messages between the members of an arbor
// cluster. It implements raftnode.Transport on the sending side and hands
// what it receives to a Raft (a *raftnode.Node) on the other. It also
// carries member messages: small application messages between members,
// outside raft (a follower's batch of touched sessions for the leader,
// say), handed to the function given to Handle.
//
// Two implementations share the contract below:
//
//   - TCP (tcp.go, tcp_messages.go, tcp_snapshot.go): each member
//     listens on its peer address; for each peer it keeps one outbound
//     stream for raft messages and one for member messages, each with a
//     bounded queue and redialled with backoff, so that a slow or dead
//     peer never blocks the Ready loop or the sender of a member message;
//     a MsgSnap and its state go on a connection of their own.
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
//  5. SendMessage never blocks either. It reports false for a member
//     message dropped at once (unknown or unreachable peer, full queue,
//     more than MaxMessageBytes); true promises nothing about delivery.
//     A member message is never reported to Raft: the application
//     retries what matters.
//  6. Member messages from one member to another arrive in the order
//     sent, or not at all (as 2), independently of raft messages. The
//     handler gets them one at a time per sending member, on a goroutine
//     of the transport; one received before Handle was called is dropped.
//  7. A MsgSnap carries only the snapshot's metadata; the state goes beside
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

// MaxMessageBytes bounds the data of one member message (SendMessage).
const MaxMessageBytes = 1 << 20

// Transport is what a member needs of its peer transport. *TCP and
// *Endpoint implement it.
type Transport interface {
	// Send is raftnode.Transport's: hand raft messages to peers, never
	// blocking.
	Send(msgs []*pb.Message)
	// SendMessage queues data (a member message, at most MaxMessageBytes)
	// for member to, without blocking. It reports false if the message
	// was dropped at once (unknown peer, queue full, too large); true says
	// nothing about delivery. Messages to one peer arrive in the order
	// sent, or not at all. data may be kept; the caller must not modify
	// it.
	SendMessage(to uint64, data []byte) bool
	// Handle sets the function that receives member messages from peers.
	// Call it before Start. h is called on the transport's goroutines, one
	// message at a time per sending peer; it must not block for long. h
	// may keep data.
	Handle(h func(from uint64, data []byte))
	// Start starts delivering received raft messages to r (and member
	// messages to the handler).
	Start(r Raft)
	// Close stops the transport and waits for its goroutines.
	Close() error
}

var (
	_ Transport = (*TCP)(nil)
	_ Transport = (*Endpoint)(nil)
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
