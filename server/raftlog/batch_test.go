package raftlog

import (
	"bytes"
	"errors"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/arbor-coord/arbor/internal/storage"
)

func entries(from, to, term uint64) []*pb.Entry {
	var ents []*pb.Entry
	for i := from; i <= to; i++ {
		ents = append(ents, &pb.Entry{Index: proto.Uint64(i), Term: proto.Uint64(term), Data: []byte("d")})
	}
	return ents
}

// TestStoreKeysUntouched checks that the Log leaves the member's store
// alone, and that a refused write leaves the log as it was.
func TestStoreKeysUntouched(t *testing.T) {
	h := newHarness(t, vfs.NewMem())
	others := [][]byte{{storage.PrefixState}, {storage.PrefixState, 0}, {'q', 0xff}, {storage.PrefixState, 'e', 0, 0, 0, 0, 0, 0, 0, 1}}
	for _, k := range others {
		if err := h.db.Set(k, []byte("theirs"), pebble.NoSync); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.db.Flush(); err != nil { // the store has no WAL
		t.Fatal(err)
	}
	hs := &pb.HardState{Term: proto.Uint64(2), Vote: proto.Uint64(1), Commit: proto.Uint64(3)}
	if err := h.log.Save(hs, entries(1, 10, 2), nil); err != nil {
		t.Fatal(err)
	}

	// A refused snapshot writes nothing, not even the entries beside it.
	if err := h.log.ApplySnapshot(&pb.Snapshot{Metadata: &pb.SnapshotMetadata{Index: proto.Uint64(5), Term: proto.Uint64(2)}}); err != nil {
		t.Fatal(err)
	}
	old := &pb.Snapshot{Metadata: &pb.SnapshotMetadata{Index: proto.Uint64(4), Term: proto.Uint64(2)}}
	if err := h.log.Save(nil, entries(5, 7, 3), old); !errors.Is(err, raft.ErrSnapOutOfDate) {
		t.Fatalf("Save with an old snapshot: %v, want ErrSnapOutOfDate", err)
	}
	if last, _ := h.log.LastIndex(); last != 5 {
		t.Fatalf("LastIndex %d after a refused Save, want 5", last)
	}
	if err := h.log.Save(nil, entries(6, 20, 3), nil); err != nil {
		t.Fatal(err)
	}
	if err := h.log.Compact(15); err != nil {
		t.Fatal(err)
	}
	big := &pb.Snapshot{Data: make([]byte, MaxSnapshotDataBytes+1), Metadata: &pb.SnapshotMetadata{Index: proto.Uint64(30), Term: proto.Uint64(4)}}
	if err := h.log.ApplySnapshot(big); err == nil {
		t.Fatal("a snapshot over MaxSnapshotDataBytes was accepted")
	}
	h.reopen()
	for _, k := range others {
		v, closer, err := h.db.Get(k)
		if err != nil {
			t.Fatalf("key %q: %v", k, err)
		}
		if !bytes.Equal(v, []byte("theirs")) {
			t.Fatalf("key %q = %q, want %q", k, v, "theirs")
		}
		closer.Close()
	}
	if first, _ := h.log.FirstIndex(); first != 16 {
		t.Fatalf("FirstIndex %d, want 16", first)
	}
	if last, _ := h.log.LastIndex(); last != 20 {
		t.Fatalf("LastIndex %d, want 20", last)
	}
	if got, _, _ := h.log.InitialState(); !proto.Equal(got, hs) {
		t.Fatalf("HardState %v, want %v", got, hs)
	}
}

// TestSaveCommit checks that SaveCommit records a commit-only HardState
// without a sync, that a crash keeps the term and the vote whatever it
// does to the commit index, that the next synced write makes it durable,
// and that SaveCommit refuses any other change.
func TestSaveCommit(t *testing.T) {
	hs := func(term, vote, commit uint64) *pb.HardState {
		return &pb.HardState{Term: proto.Uint64(term), Vote: proto.Uint64(vote), Commit: proto.Uint64(commit)}
	}
	for seed := int64(50); seed <= 100; seed++ { // seed%101 is the percentage of unsynced data kept
		h := newHarness(t, vfs.NewCrashableMem())
		if err := h.log.Save(hs(2, 1, 0), entries(1, 10, 2), nil); err != nil {
			t.Fatal(err)
		}
		for c := uint64(1); c <= 10; c++ {
			if err := h.log.SaveCommit(hs(2, 1, c)); err != nil {
				t.Fatal(err)
			}
		}
		if got, _, _ := h.log.InitialState(); got.GetCommit() != 10 {
			t.Fatalf("commit %d before the crash, want 10", got.GetCommit())
		}
		h.crash(seed)
		got, _, err := h.log.InitialState()
		if err != nil {
			t.Fatal(err)
		}
		if got.GetTerm() != 2 || got.GetVote() != 1 || got.GetCommit() > 10 {
			t.Fatalf("seed %d: after a crash HardState %v", seed, got)
		}
		if err := h.log.SaveCommit(hs(2, 1, 10)); err != nil {
			t.Fatal(err)
		}
		if err := h.log.Save(nil, entries(11, 11, 2), nil); err != nil {
			t.Fatal(err)
		}
		h.crash(seed)
		if got, _, _ := h.log.InitialState(); !proto.Equal(got, hs(2, 1, 10)) {
			t.Fatalf("seed %d: after a synced write and a crash HardState %v, want commit 10", seed, got)
		}
	}

	h := newHarness(t, vfs.NewMem())
	if err := h.log.Save(hs(2, 1, 3), entries(1, 5, 2), nil); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []*pb.HardState{hs(3, 1, 4), hs(2, 2, 4), hs(2, 1, 2)} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("SaveCommit(%v) over %v did not panic", bad, hs(2, 1, 3))
				}
			}()
			h.log.SaveCommit(bad)
		}()
	}
	if err := h.log.SaveCommit(hs(2, 1, 5)); err != nil {
		t.Fatal(err)
	}
	h.reopen()
	if got, _, _ := h.log.InitialState(); !proto.Equal(got, hs(2, 1, 5)) {
		t.Fatalf("after reopen HardState %v, want commit 5", got)
	}
}
