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
