package transport

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

func snapMsg(from, to, index uint64) *pb.Message {
	return &pb.Message{
		Type: pb.MsgSnap.Enum(), From: proto.Uint64(from), To: proto.Uint64(to), Term: proto.Uint64(3),
		Snapshot: &pb.Snapshot{Metadata: &pb.SnapshotMetadata{Index: proto.Uint64(index), Term: proto.Uint64(2)}, Data: []byte{1}},
	}
}

// TestTCPSnapshot: a MsgSnap goes out with its state, which arrives whole
// (several chunks of it); the sender hears SnapshotFinish.
func TestTCPSnapshot(t *testing.T) {
	a, b := newMember(t, 1, TCPConfig{}), newMember(t, 2, TCPConfig{})
	connectAll(a, b)
	state := make([]byte, 3*snapshotChunkBytes+17)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range state {
		state[i] = byte(rng.Uint32())
	}
	a.raft.mu.Lock()
	a.raft.states[40] = state
	a.raft.mu.Unlock()
	a.tr.Send([]*pb.Message{snapMsg(1, 2, 40)})
	waitUntil(t, "SnapshotFinish", func() bool { return a.raft.snapDoneCount(2) == 1 })
	if n := a.raft.snapFailedCount(2); n != 0 {
		t.Fatalf("%d snapshot failures reported", n)
	}
	b.raft.mu.Lock()
	defer b.raft.mu.Unlock()
	if len(b.raft.snapshots) != 1 {
		t.Fatalf("received %d snapshots, want 1", len(b.raft.snapshots))
	}
	got := b.raft.snapshots[0]
	if !proto.Equal(got.msg, snapMsg(1, 2, 40)) {
		t.Fatalf("received %v", got.msg)
	}
	if !bytes.Equal(got.state, state) {
		t.Fatalf("received %d bytes of state, not the %d sent", len(got.state), len(state))
	}
	if len(b.raft.msgs) != 1 || b.raft.msgs[0].GetType() != pb.MsgSnap {
		t.Fatalf("stepped %v, want the MsgSnap", b.raft.msgs)
	}
}

// TestTCPSnapshotFailures: a receiver that refuses, and a snapshot whose
// state is gone, are reported SnapshotFailure; nothing is stepped.
func TestTCPSnapshotFailures(t *testing.T) {
	a, b := newMember(t, 1, TCPConfig{}), newMember(t, 2, TCPConfig{})
	connectAll(a, b)
	a.raft.mu.Lock()
	a.raft.states[40] = []byte("state")
	a.raft.mu.Unlock()
	b.raft.mu.Lock()
	b.raft.refuse = errors.New("disk full")
	b.raft.mu.Unlock()

	a.tr.Send([]*pb.Message{snapMsg(1, 2, 40)})
	waitUntil(t, "SnapshotFailure for a refused snapshot", func() bool { return a.raft.snapFailedCount(2) == 1 })
	a.tr.Send([]*pb.Message{snapMsg(1, 2, 41)}) // no state at 41
	waitUntil(t, "SnapshotFailure for a missing state", func() bool { return a.raft.snapFailedCount(2) == 2 })
	if n := a.raft.snapDoneCount(2); n != 0 {
		t.Fatalf("%d snapshots reported finished", n)
	}
	if n := b.raft.count(); n != 0 {
		t.Fatalf("the receiver stepped %d messages", n)
	}
	// The raft stream is unaffected.
	a.tr.Send([]*pb.Message{appMsg(1, 2, 7, nil)})
	waitUntil(t, "a MsgApp after the failed snapshots", func() bool { return b.raft.count() == 1 })
}

// TestTCPSnapshotPeerDown: a snapshot to a peer that does not answer fails.
func TestTCPSnapshotPeerDown(t *testing.T) {
	a, b := newMember(t, 1, TCPConfig{}), newMember(t, 2, TCPConfig{})
	connectAll(a, b)
	a.raft.mu.Lock()
	a.raft.states[40] = []byte("state")
	a.raft.mu.Unlock()
	// Open the raft stream first, so that Send does not drop for an
	// unreachable peer but tries the snapshot's own connection.
	a.tr.Send([]*pb.Message{appMsg(1, 2, 7, nil)})
	waitUntil(t, "the raft stream", func() bool { return b.raft.count() == 1 })
	b.tr.Close()
	waitUntil(t, "SnapshotFailure", func() bool {
		a.tr.Send([]*pb.Message{snapMsg(1, 2, 40)})
		return a.raft.snapFailedCount(2) > 0
	})
	if n := a.raft.snapDoneCount(2); n != 0 {
		t.Fatalf("%d snapshots reported finished", n)
	}
}

// TestNetworkSnapshot: the in-memory network streams the sender's state to
// the receiver; a sender without the state, or a partition, fails it.
func TestNetworkSnapshot(t *testing.T) {
	n, eps, rafts := cluster(t, 8, 3)
	eps[1].Send([]*pb.Message{snapMsg(1, 2, 40)})
	waitUntil(t, "SnapshotFinish", func() bool {
		rafts[1].mu.Lock()
		defer rafts[1].mu.Unlock()
		return len(rafts[1].snaps) == 1
	})
	rafts[2].mu.Lock()
	states := rafts[2].states
	rafts[2].mu.Unlock()
	if len(states) != 1 || states[0] != "state-40" {
		t.Fatalf("received states %q", states)
	}
	if got := rafts[1].snaps[0]; got != (snapReport{2, raft.SnapshotFinish}) {
		t.Fatalf("report %v", got)
	}

	rafts[3].noSnapshots = true // before it sends: no race
	eps[3].Send([]*pb.Message{snapMsg(3, 2, 40)})
	waitUntil(t, "SnapshotFailure without a state", func() bool {
		rafts[3].mu.Lock()
		defer rafts[3].mu.Unlock()
		return len(rafts[3].snaps) == 1
	})
	if got := rafts[3].snaps[0]; got != (snapReport{2, raft.SnapshotFailure}) {
		t.Fatalf("report %v", got)
	}

	n.Isolate(2)
	eps[1].Send([]*pb.Message{snapMsg(1, 2, 41)})
	waitUntil(t, "SnapshotFailure across a partition", func() bool {
		rafts[1].mu.Lock()
		defer rafts[1].mu.Unlock()
		return len(rafts[1].snaps) == 2
	})
	if got := rafts[1].snaps[1]; got != (snapReport{2, raft.SnapshotFailure}) {
		t.Fatalf("report %v", got)
	}
}
