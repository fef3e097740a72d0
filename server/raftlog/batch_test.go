package raftlog

import (
	"bytes"
	"errors"
	"testing"
	"time"

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

// TestSaveBatch checks that the caller's writes in the batch commit with
// the Log's, and that the Log leaves every key outside its prefix alone,
// even when it deletes whole ranges of entries.
func TestSaveBatch(t *testing.T) {
	h := newHarness(t, vfs.NewMem())
	others := [][]byte{{storage.PrefixState}, {storage.PrefixState, 0}, {'q', 0xff}, {storage.PrefixState, 'e', 0, 0, 0, 0, 0, 0, 0, 1}}
	for _, k := range others {
		if err := h.db.Set(k, []byte("theirs"), pebble.Sync); err != nil {
			t.Fatal(err)
		}
	}
	b := h.db.NewBatch()
	if err := b.Set([]byte{storage.PrefixState, 'x'}, []byte("applied"), nil); err != nil {
		t.Fatal(err)
	}
	hs := &pb.HardState{Term: proto.Uint64(2), Vote: proto.Uint64(1), Commit: proto.Uint64(3)}
	if err := h.log.SaveBatch(b, hs, entries(1, 10, 2), nil); err != nil {
		t.Fatal(err)
	}
	b.Close()
	others = append(others, []byte{storage.PrefixState, 'x'})

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
		want := []byte("theirs")
		if bytes.Equal(k, []byte{storage.PrefixState, 'x'}) {
			want = []byte("applied")
		}
		if !bytes.Equal(v, want) {
			t.Fatalf("key %q = %q, want %q", k, v, want)
		}
		closer.Close()
	}
	if first, _ := h.log.FirstIndex(); first != 16 {
		t.Fatalf("FirstIndex %d, want 16", first)
	}
	if got, _, _ := h.log.InitialState(); !proto.Equal(got, hs) {
		t.Fatalf("HardState %v, want %v", got, hs)
	}
}

// TestSaveCommit checks that SaveCommit records a commit-only HardState,
// refuses any other change, and that a crash which keeps a later unsynced
// write of the caller's also keeps the commit index: the applied index
// the caller writes after SaveCommit never outlives the commit it covers.
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
			// The applier's state batch, unsynced, with its applied index;
			// 8 KiB, so the WAL writes whole blocks a crash can keep.
			if err := h.db.Set([]byte{storage.PrefixState, 'a'}, append([]byte{byte(c)}, make([]byte, 8<<10)...), pebble.NoSync); err != nil {
				t.Fatal(err)
			}
		}
		if got, _, _ := h.log.InitialState(); got.GetCommit() != 10 {
			t.Fatalf("commit %d before the crash, want 10", got.GetCommit())
		}
		// Let Pebble's WAL flusher write (not sync) the tail, so the crash
		// has unsynced data to keep or lose; the property holds either way.
		time.Sleep(2 * time.Millisecond)
		h.crash(seed)
		got, _, err := h.log.InitialState()
		if err != nil {
			t.Fatal(err)
		}
		applied := uint64(0)
		if v, closer, err := h.db.Get([]byte{storage.PrefixState, 'a'}); err == nil {
			applied = uint64(v[0])
			closer.Close()
		} else if !errors.Is(err, pebble.ErrNotFound) {
			t.Fatal(err)
		}
		if got.GetTerm() != 2 || got.GetVote() != 1 || got.GetCommit() < applied {
			t.Fatalf("seed %d: after a crash HardState %v with applied %d", seed, got, applied)
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
