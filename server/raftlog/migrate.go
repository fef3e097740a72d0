package raftlog

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/arbor-coord/arbor/internal/storage"
	"github.com/arbor-coord/arbor/server/raftlog/wal"
)

// The log of a store written before the log had files of its own was kept
// in the store under storage.PrefixRaft (keys.go has the layout).
// moveFromPebble moves it into a new WAL in dir, written under a
// temporary name and renamed when synced, then deletes the keys; a crash
// at any point leaves either the keys or the WAL to start from.
func moveFromPebble(db *pebble.DB, fs vfs.FS, dir string, opts wal.Options, logger *slog.Logger) error {
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte{storage.PrefixRaft}, UpperBound: []byte{storage.PrefixRaft + 1}})
	if err != nil {
		return fmt.Errorf("raftlog: look for a log in the store: %w", err)
	}
	found := it.First()
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return fmt.Errorf("raftlog: look for a log in the store: %w", err)
	}
	if !found {
		return nil
	}
	if _, err := fs.Stat(dir); err == nil {
		return dropPebbleLog(db) // moved; the keys' deletion did not finish
	}
	tmp := dir + ".moving"
	if err := fs.RemoveAll(tmp); err != nil {
		return fmt.Errorf("raftlog: remove %s: %w", tmp, err)
	}
	st, ents, err := loadPebbleLog(db)
	if err != nil {
		return err
	}
	w, err := wal.Open(tmp, opts, func(wal.Pos, []byte) error { return errors.New("not empty") })
	if err != nil {
		return fmt.Errorf("raftlog: move the log to %s: %w", dir, err)
	}
	err = func() error {
		cp, err := checkpointRecord(&st)
		if err != nil {
			return err
		}
		if err := w.Rotate(cp); err != nil {
			return err
		}
		for _, e := range ents {
			if _, err := w.AppendFunc(messageRecord(recEntry, e)); err != nil {
				return err
			}
		}
		return w.Sync()
	}()
	if err = errors.Join(err, w.Close()); err != nil {
		return fmt.Errorf("raftlog: move the log to %s: %w", dir, err)
	}
	if err := fs.Rename(tmp, dir); err != nil {
		return fmt.Errorf("raftlog: move the log to %s: %w", dir, err)
	}
	if err := wal.SyncDir(fs, fs.PathDir(dir)); err != nil {
		return fmt.Errorf("raftlog: move the log to %s: %w", dir, err)
	}
	logger.Info("moved the raft log out of the store into its own files", "dir", dir,
		"first", st.offset+1, "last", st.offset+uint64(len(ents)))
	return dropPebbleLog(db)
}

func dropPebbleLog(db *pebble.DB) error {
	if err := db.DeleteRange([]byte{storage.PrefixRaft}, []byte{storage.PrefixRaft + 1}, pebble.NoSync); err != nil {
		return fmt.Errorf("raftlog: delete the log moved out of the store: %w", err)
	}
	if err := db.Flush(); err != nil {
		return fmt.Errorf("raftlog: delete the log moved out of the store: %w", err)
	}
	return nil
}

// loadPebbleLog reads a log kept in the store: its metadata, with last at
// the compaction point, and its entries.
func loadPebbleLog(db *pebble.DB) (state, []*pb.Entry, error) {
	st := state{snapshot: pb.EnsureSnapshot(nil), confState: pb.EnsureConfState(nil)}
	fail := func(what string, err error) (state, []*pb.Entry, error) {
		return state{}, nil, fmt.Errorf("raftlog: read the store's %s: %w", what, err)
	}
	if v, ok, err := get(db, offsetKey); err != nil {
		return fail("log offset", err)
	} else if ok {
		if st.offset, st.offsetTerm, err = decodeOffset(v); err != nil {
			return fail("log offset", err)
		}
	}
	st.last = st.offset
	for _, m := range []struct {
		key []byte
		msg proto.Message
	}{
		{hardStateKey, new(pb.HardState)},
		{confStateKey, new(pb.ConfState)},
		{snapshotKey, new(pb.Snapshot)},
	} {
		v, ok, err := get(db, m.key)
		if err != nil {
			return fail("log metadata", err)
		}
		if !ok {
			continue
		}
		if err := proto.Unmarshal(v, m.msg); err != nil {
			return fail(fmt.Sprintf("%q", m.key), err)
		}
		switch msg := m.msg.(type) {
		case *pb.HardState:
			st.hardState = msg
		case *pb.ConfState:
			st.confState = pb.EnsureConfState(msg)
		case *pb.Snapshot:
			st.snapshot = pb.EnsureSnapshot(msg)
		}
	}
	if v, ok, err := get(db, contextsKey); err != nil {
		return fail("member contexts", err)
	} else if ok {
		if st.contexts, err = DecodeContexts(v); err != nil {
			return fail("member contexts", err)
		}
	}
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: entriesLower, UpperBound: entriesUpper})
	if err != nil {
		return fail("entries", err)
	}
	defer it.Close()
	var ents []*pb.Entry
	want := st.offset + 1
	for ok := it.First(); ok; ok = it.Next() {
		i, err := parseEntryKey(it.Key())
		if err != nil {
			return fail("entries", err)
		}
		if i != want {
			return fail("entries", fmt.Errorf("entry %d where %d was due", i, want))
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return fail("entries", err)
		}
		e, err := decodeEntry(i, v)
		if err != nil {
			return fail("entries", err)
		}
		ents = append(ents, e)
		want++
	}
	if err := it.Error(); err != nil {
		return fail("entries", err)
	}
	return st, ents, nil
}

func decodeEntry(index uint64, v []byte) (*pb.Entry, error) {
	e := new(pb.Entry)
	if err := proto.Unmarshal(v, e); err != nil {
		return nil, fmt.Errorf("raftlog: decode entry %d: %w", index, err)
	}
	if e.GetIndex() != index {
		return nil, fmt.Errorf("raftlog: entry at key %d holds index %d", index, e.GetIndex())
	}
	return e, nil
}

// get returns a copy of the value at key, and whether there is one.
func get(db *pebble.DB, key []byte) ([]byte, bool, error) {
	v, closer, err := db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("raftlog: get %q: %w", key, err)
	}
	defer closer.Close()
	return append([]byte(nil), v...), true, nil
}
