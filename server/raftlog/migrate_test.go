package raftlog

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/arbor-coord/arbor/internal/storage"
)

// writePebbleLog writes a log in the layout of a store from before the
// log had files of its own (keys.go): compacted to 5, entries 6 to 20, a
// HardState, a ConfState, a snapshot at 5 and member contexts.
// openOldStore opens the store in dir as arbor did before the Raft log
// had files of its own: with Pebble's WAL, so what writePebbleLog writes
// is, after Close, in that WAL only, which the store opened without one
// must replay.
func openOldStore(t *testing.T, fs vfs.FS) *pebble.DB {
	t.Helper()
	db, err := pebble.Open("db", &pebble.Options{FS: fs, FormatMajorVersion: storage.FormatMajorVersion})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func writePebbleLog(t *testing.T, db *pebble.DB) (hs *pb.HardState, cs *pb.ConfState, snap *pb.Snapshot, ents []*pb.Entry) {
	t.Helper()
	b := db.NewBatch()
	defer b.Close()
	set := func(k []byte, m proto.Message) {
		v, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Set(k, v, nil); err != nil {
			t.Fatal(err)
		}
	}
	hs = &pb.HardState{Term: proto.Uint64(3), Vote: proto.Uint64(1), Commit: proto.Uint64(18)}
	cs = pb.EnsureConfState(&pb.ConfState{Voters: []uint64{1, 2, 3}})
	snap = pb.EnsureSnapshot(&pb.Snapshot{Data: []byte("descriptor"), Metadata: &pb.SnapshotMetadata{Index: proto.Uint64(5), Term: proto.Uint64(2), ConfState: cs}})
	set(hardStateKey, hs)
	set(confStateKey, cs)
	set(snapshotKey, snap)
	if err := b.Set(offsetKey, encodeOffset(5, 2), nil); err != nil {
		t.Fatal(err)
	}
	if err := b.Set(contextsKey, AppendContexts(nil, map[uint64][]byte{1: []byte("a:1"), 2: []byte("b:2")}), nil); err != nil {
		t.Fatal(err)
	}
	for i := uint64(6); i <= 20; i++ {
		e := &pb.Entry{Index: proto.Uint64(i), Term: proto.Uint64(2 + i/15), Data: []byte{byte(i)}}
		set(entryKey(i), e)
		ents = append(ents, e)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		t.Fatal(err)
	}
	return hs, cs, snap, ents
}

// TestMoveFromPebble opens a Log on a store that holds an old-layout log:
// Open moves it into segment files and deletes the keys, and the log
// reads the same before and after a reopen. A move that ended before the
// keys were deleted is finished on the next Open.
func TestMoveFromPebble(t *testing.T) {
	fs := vfs.NewMem()
	db := openOldStore(t, fs)
	hs, cs, snap, ents := writePebbleLog(t, db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	h := &harness{t: t, fs: fs, logger: slog.New(slog.NewTextHandler(&logged, nil))}
	check := func(when string) {
		t.Helper()
		l := h.log
		gotHS, gotCS, _ := l.InitialState()
		if !proto.Equal(gotHS, hs) || !proto.Equal(gotCS, cs) {
			t.Fatalf("%s: InitialState %v %v, want %v %v", when, gotHS, gotCS, hs, cs)
		}
		if got, _ := l.Snapshot(); !proto.Equal(got, snap) {
			t.Fatalf("%s: Snapshot %v, want %v", when, got, snap)
		}
		first, _ := l.FirstIndex()
		last, _ := l.LastIndex()
		if first != 6 || last != 20 {
			t.Fatalf("%s: log [%d, %d], want [6, 20]", when, first, last)
		}
		got, err := l.Entries(6, 21, 1<<20)
		if err != nil || len(got) != len(ents) {
			t.Fatalf("%s: Entries: %d, %v", when, len(got), err)
		}
		for i := range got {
			if !proto.Equal(got[i], ents[i]) {
				t.Fatalf("%s: entry %v, want %v", when, got[i], ents[i])
			}
		}
		if c := l.Contexts(); len(c) != 2 || string(c[2]) != "b:2" {
			t.Fatalf("%s: contexts %v", when, c)
		}
		it, err := h.db.NewIter(&pebble.IterOptions{LowerBound: []byte{storage.PrefixRaft}, UpperBound: []byte{storage.PrefixRaft + 1}})
		if err != nil {
			t.Fatal(err)
		}
		defer it.Close()
		if it.First() {
			t.Fatalf("%s: the store still holds log key %q", when, it.Key())
		}
	}
	h.open()
	t.Cleanup(h.close)
	check("after the move")
	if !strings.Contains(logged.String(), "moved the raft log out of the store") || !strings.Contains(logged.String(), "last=20") {
		t.Fatalf("the move was not logged as it should be: %q", logged.String())
	}
	logged.Reset()
	h.reopen()
	check("after a reopen")
	if logged.Len() != 0 {
		t.Fatalf("a reopen logged %q", logged.String())
	}

	// The keys of an old log back in the store beside the segment files,
	// as a crash before their deletion leaves them: the files win.
	h.close()
	db = openOldStore(t, fs)
	writePebbleLog(t, db)
	if err := db.Set(hardStateKey, []byte("not read"), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	db.Close()
	h.open()
	check("after a move whose deletion had not finished")
}
