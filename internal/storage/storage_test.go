package storage

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

func TestOpenReopen(t *testing.T) {
	fs := vfs.NewMem()
	db, err := Open("db", Options{FS: fs, CacheBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Set([]byte{PrefixState, 'k'}, []byte("v"), pebble.NoSync); err != nil {
		t.Fatal(err)
	}
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := db.FormatMajorVersion(); got != FormatMajorVersion {
		t.Fatalf("format %d, want %d", got, FormatMajorVersion)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open("db", Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	v, closer, err := db.Get([]byte{PrefixState, 'k'})
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	if string(v) != "v" {
		t.Fatalf("got %q", v)
	}
}

// TestNoWAL pins down the durability the store's users build on: a write
// survives a crash once flushed and not before, and a synced write is
// refused rather than silently left unsynced.
func TestNoWAL(t *testing.T) {
	fs := vfs.NewCrashableMem()
	db, err := Open("db", Options{FS: fs, CacheBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Set([]byte{PrefixState, 'a'}, []byte("1"), pebble.Sync); err == nil {
		t.Fatal("a synced write succeeded on a store without a WAL")
	}
	if err := db.Set([]byte{PrefixState, 'a'}, []byte("1"), pebble.NoSync); err != nil {
		t.Fatal(err)
	}
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := db.Set([]byte{PrefixState, 'b'}, []byte("2"), pebble.NoSync); err != nil {
		t.Fatal(err)
	}
	crashed := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 100, RNG: rand.New(rand.NewPCG(1, 2))})
	db2, err := Open("db", Options{FS: crashed, CacheBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	if _, closer, err := db2.Get([]byte{PrefixState, 'a'}); err != nil {
		t.Fatalf("the flushed write is lost: %v", err)
	} else {
		closer.Close()
	}
	if _, _, err := db2.Get([]byte{PrefixState, 'b'}); !errors.Is(err, pebble.ErrNotFound) {
		t.Fatalf("the unflushed write: got %v, want it gone after a crash", err)
	}
}
