package raftlog

import (
	"maps"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

func equalContexts(a, b map[uint64][]byte) bool {
	return maps.EqualFunc(a, b, func(x, y []byte) bool { return string(x) == string(y) })
}

// TestContexts: the member contexts are written with the ConfState (by
// SetMembership, and by SaveMembers with a snapshot), survive a reopen,
// and only members keep one.
func TestContexts(t *testing.T) {
	h := newHarness(t, vfs.NewMem())
	if got := h.log.Contexts(); got != nil {
		t.Fatalf("a new Log has contexts %v", got)
	}
	boot := &pb.Snapshot{Metadata: &pb.SnapshotMetadata{ConfState: &pb.ConfState{Voters: []uint64{1, 2}}}}
	if err := h.log.SaveMembers(nil, nil, boot, map[uint64][]byte{1: []byte("a:1"), 2: []byte("b:2"), 9: []byte("not a member")}); err != nil {
		t.Fatal(err)
	}
	want := map[uint64][]byte{1: []byte("a:1"), 2: []byte("b:2")}
	if got := h.log.Contexts(); !equalContexts(got, want) {
		t.Fatalf("after bootstrap %v, want %v", got, want)
	}
	if _, cs, _ := h.log.InitialState(); len(cs.GetVoters()) != 2 {
		t.Fatalf("bootstrap ConfState %v", cs)
	}
	if err := h.log.Save(nil, entries(1, 5, 1), nil); err != nil {
		t.Fatal(err)
	}
	// Member 2 leaves, 3 joins as a learner.
	want = map[uint64][]byte{1: []byte("a:1"), 3: []byte("c:3")}
	if err := h.log.SetMembership(&pb.ConfState{Voters: []uint64{1}, Learners: []uint64{3}}, map[uint64][]byte{1: []byte("a:1"), 2: []byte("b:2"), 3: []byte("c:3")}); err != nil {
		t.Fatal(err)
	}
	h.reopen()
	if got := h.log.Contexts(); !equalContexts(got, want) {
		t.Fatalf("after reopen %v, want %v", got, want)
	}
	// A snapshot from the leader replaces them with its own.
	snap := &pb.Snapshot{Metadata: &pb.SnapshotMetadata{Index: proto.Uint64(10), Term: proto.Uint64(2), ConfState: &pb.ConfState{Voters: []uint64{1, 4}}}}
	want = map[uint64][]byte{1: []byte("a:1"), 4: []byte("d:4")}
	if err := h.log.SaveMembers(nil, nil, snap, want); err != nil {
		t.Fatal(err)
	}
	h.reopen()
	if got := h.log.Contexts(); !equalContexts(got, want) {
		t.Fatalf("after a snapshot %v, want %v", got, want)
	}
	// SetConfState leaves them alone.
	if err := h.log.SetConfState(&pb.ConfState{Voters: []uint64{1, 4}}); err != nil {
		t.Fatal(err)
	}
	if got := h.log.Contexts(); !equalContexts(got, want) {
		t.Fatalf("after SetConfState %v, want %v", got, want)
	}
}

func TestDecodeContextsRefuses(t *testing.T) {
	good := AppendContexts(nil, map[uint64][]byte{1: []byte("x"), 7: []byte("yz")})
	if m, err := DecodeContexts(good); err != nil || len(m) != 2 {
		t.Fatalf("DecodeContexts(good) = %v, %v", m, err)
	}
	for name, b := range map[string][]byte{
		"empty":          {},
		"truncated":      good[:len(good)-1],
		"trailing":       append(append([]byte{}, good...), 0),
		"huge count":     {0xff, 0xff, 0xff, 0xff, 0x0f},
		"out of order":   {2, 7, 1, 'a', 1, 1, 'b'},
		"id 0":           {1, 0, 1, 'a'},
		"empty context":  {1, 1, 0},
		"length too big": {1, 1, 9, 'a'},
	} {
		if m, err := DecodeContexts(b); err == nil {
			t.Errorf("%s: DecodeContexts(% x) = %v, want an error", name, b, m)
		}
	}
}

func FuzzDecodeContexts(f *testing.F) {
	f.Add(AppendContexts(nil, map[uint64][]byte{1: []byte("127.0.0.1:7281"), 2: []byte("h:2")}))
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeContexts(b)
		if err != nil {
			return
		}
		if again := AppendContexts(nil, m); string(again) != string(b) {
			t.Fatalf("re-encoding % x gives % x", b, again)
		}
	})
}
