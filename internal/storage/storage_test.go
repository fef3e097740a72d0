package storage

import (
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
	if err := db.Set([]byte{PrefixState, 'k'}, []byte("v"), pebble.Sync); err != nil {
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
