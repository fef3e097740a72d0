package tree

import (
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/arbor-coord/arbor/internal/storage"
)

// newTestTree opens a Tree on a fresh in-memory Pebble database and closes
// both when the test ends.
func newTestTree(t testing.TB, opts Options) *Tree {
	t.Helper()
	db, err := storage.Open("", storage.Options{FS: vfs.NewMem(), CacheBytes: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	tr, err := Open(db, opts)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}
