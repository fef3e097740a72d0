package tree

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/arbor-coord/arbor/internal/storage"
)

// scriptEntries returns n deterministic entries exercising every kind of
// record: nodes of every mode, sessions, ephemerals, ACLs, deletes.
func scriptEntries(first uint64, n int) []Entry {
	var out []Entry
	for i := 0; i < n; i++ {
		idx := first + uint64(i)
		var c Command
		c.TimeMs = int64(1000 + i)
		switch i % 10 {
		case 0:
			c.Op = &CreateSession{ID: int64(i), TimeoutMs: 3000, PasswordDigest: []byte{byte(i)}}
		case 1:
			c.Session = int64(i - 1)
			c.Seq, c.LowestUnacked = 1, 1 // leaves a recorded result
			c.Op = &Create{Path: fmt.Sprintf("/e%d", i), ACL: OpenACL(), Mode: Ephemeral}
		case 2:
			c.Op = &Create{Path: fmt.Sprintf("/d%d/x/", i%7), ACL: OpenACL(), Mode: PersistentSequential, Parents: true, Data: []byte("payload")}
		case 3:
			c.Op = &Create{Path: fmt.Sprintf("/c%d", i), ACL: []ACL{{PermRead | PermAdmin, SchemeDigest, "u:h"}}, Mode: Container}
		case 4:
			c.Op = &Create{Path: fmt.Sprintf("/t%d", i), ACL: ReadACL(), Mode: PersistentTTL, TTLMs: 50}
		case 5:
			c.Op = &SetData{Path: fmt.Sprintf("/d%d", (i-3)%7), Data: []byte{byte(i)}, Version: -1}
		case 6:
			if i%20 == 6 {
				c.Op = &CloseSession{ID: int64(i - 6)}
			} else {
				c.Op = &Delete{Path: fmt.Sprintf("/c%d", i-3), Version: -1}
			}
		case 7:
			out = append(out, Entry{Index: idx})
			continue
		default:
			c.Op = &Multi{Ops: []Op{
				&Create{Path: fmt.Sprintf("/m%d", i), ACL: OpenACL()},
				&Check{Path: "/", Version: -1},
			}}
		}
		out = append(out, Entry{Index: idx, Cmd: &c})
	}
	return out
}

func applyAll(t testing.TB, tr *Tree, entries []Entry, batch int) {
	t.Helper()
	for len(entries) > 0 {
		n := min(batch, len(entries))
		if _, err := tr.Apply(entries[:n]); err != nil {
			t.Fatal(err)
		}
		entries = entries[n:]
	}
}

func TestDeterministicDigest(t *testing.T) {
	entries := scriptEntries(1, 2000)
	a, b := newTestTree(t, Options{}), newTestTree(t, Options{})
	applyAll(t, a, entries, 1)
	applyAll(t, b, entries, 333) // batching must not matter
	da, _ := a.Digest()
	db, _ := b.Digest()
	if da != db || da.Index != 2000 {
		t.Fatalf("digests %v and %v", da, db)
	}
	c := newTestTree(t, Options{})
	applyAll(t, c, entries[:1999], 100)
	if dc, _ := c.Digest(); dc.Sum == da.Sum {
		t.Fatal("digest did not change with the state")
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	src := newTestTree(t, Options{})
	applyAll(t, src, scriptEntries(1, 3000), 128)
	var buf bytes.Buffer
	exported, err := src.Export(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := src.Digest(); d != exported {
		t.Fatalf("export digest %v, Digest %v", exported, d)
	}
	dst := newTestTree(t, Options{})
	applyAll(t, dst, scriptEntries(1, 50), 10) // import replaces existing state
	imported, err := dst.Import(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if imported != exported || dst.Applied() != 3000 {
		t.Fatalf("imported %v, exported %v, applied %d", imported, exported, dst.Applied())
	}
	if d, _ := dst.Digest(); d != exported {
		t.Fatalf("digest after import %v", d)
	}
	for _, tr := range []*Tree{src, dst} {
		if _, err := tr.Apply(scriptEntries(3001, 100)); err != nil {
			t.Fatal(err)
		}
	}
	ds, _ := src.Digest()
	dd, _ := dst.Digest()
	if ds != dd {
		t.Fatalf("diverged after import: %v vs %v", ds, dd)
	}
	s1, _ := src.Sessions()
	s2, _ := dst.Sessions()
	if !reflect.DeepEqual(s1, s2) || len(s1) == 0 {
		t.Fatalf("sessions %v vs %v", s1, s2)
	}
}

func TestImportRejectsCorruption(t *testing.T) {
	src := newTestTree(t, Options{})
	applyAll(t, src, scriptEntries(1, 300), 50)
	var buf bytes.Buffer
	if _, err := src.Export(&buf); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	flip := func(i int) []byte {
		b := bytes.Clone(good)
		b[i] ^= 0x40
		return b
	}
	cases := map[string][]byte{
		"empty":          nil,
		"bad magic":      flip(0),
		"truncated":      good[:len(good)/2],
		"no trailer":     good[:len(good)-41],
		"flipped record": flip(len(good) / 2),
		"flipped digest": flip(len(good) - 1),
		"trailing data":  append(bytes.Clone(good), 0),
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			db, err := storage.Open("", storage.Options{FS: vfs.NewMem(), CacheBytes: 1 << 20})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			dst, _ := Open(db, Options{})
			if _, err := dst.Import(bytes.NewReader(in)); !errors.Is(err, ErrCorruptSnapshot) {
				t.Fatalf("import: %v, want ErrCorruptSnapshot", err)
			}
			if _, err := dst.Apply([]Entry{{Index: dst.Applied() + 1}}); !errors.Is(err, ErrIncompleteImport) {
				t.Fatalf("apply after a failed import: %v, want ErrIncompleteImport", err)
			}
			// The partial state is refused until a good import succeeds.
			if _, err := Open(db, Options{}); err != nil && !errors.Is(err, ErrIncompleteImport) {
				t.Fatalf("reopen: %v", err)
			}
			if _, err := dst.Import(bytes.NewReader(good)); err != nil {
				t.Fatalf("good import after a bad one: %v", err)
			}
			if _, err := Open(db, Options{}); err != nil {
				t.Fatalf("reopen after good import: %v", err)
			}
		})
	}
}

func TestRestartResumes(t *testing.T) {
	fs := vfs.NewMem()
	open := func() (*pebble.DB, *Tree) {
		db, err := storage.Open("db", storage.Options{FS: fs, CacheBytes: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		tr, err := Open(db, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return db, tr
	}
	entries := scriptEntries(1, 1000)
	db, tr := open()
	applyAll(t, tr, entries[:600], 64)
	before, _ := tr.Digest()
	// The store has no WAL: its owner flushes before a clean close.
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, tr = open()
	if after, _ := tr.Digest(); after != before || tr.Applied() != 600 {
		t.Fatalf("after reopen %v (applied %d), before %v", after, tr.Applied(), before)
	}
	applyAll(t, tr, entries[600:], 64)
	got, _ := tr.Digest()
	db.Close()
	want := newTestTree(t, Options{})
	applyAll(t, want, entries, 1000)
	if w, _ := want.Digest(); w != got {
		t.Fatalf("resumed %v, straight %v", got, w)
	}
}

// TestCrashLeavesAPrefix crashes the store (losing unsynced writes) after
// runs of applies and checks the recovered state is exactly the state after
// some prefix of the log, at least what was flushed, from which applying
// the rest gives the same result as never crashing.
func TestCrashLeavesAPrefix(t *testing.T) {
	entries := scriptEntries(1, 800)
	ref := newTestTree(t, Options{})
	digests := map[uint64]Digest{}
	digests[0], _ = ref.Digest()
	for i := range entries {
		if _, err := ref.Apply(entries[i : i+1]); err != nil {
			t.Fatal(err)
		}
		digests[entries[i].Index], _ = ref.Digest()
	}
	for _, crashAt := range []int{1, 97, 400, 799} {
		fs := vfs.NewCrashableMem()
		db, err := storage.Open("db", storage.Options{FS: fs, CacheBytes: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		tr, err := Open(db, Options{})
		if err != nil {
			t.Fatal(err)
		}
		flushed := 0
		if crashAt > 300 {
			flushed = crashAt / 2 // some state in sstables, some only in the memtable
			applyAll(t, tr, entries[:flushed], 50)
			if err := db.Flush(); err != nil {
				t.Fatal(err)
			}
		}
		applyAll(t, tr, entries[flushed:crashAt], 50)
		crashed := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 50, RNG: rand.New(rand.NewPCG(uint64(crashAt), 1))})
		db.Close()
		db, err = storage.Open("db", storage.Options{FS: crashed, CacheBytes: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		tr, err = Open(db, Options{})
		if err != nil {
			t.Fatal(err)
		}
		got, _ := tr.Digest()
		t.Logf("crash after index %d: recovered at %d", crashAt, got.Index)
		if want, ok := digests[got.Index]; !ok || want != got {
			t.Fatalf("crash at %d: recovered %v is not the state of a prefix (%v)", crashAt, got, want)
		}
		if got.Index < uint64(flushed) {
			t.Fatalf("crash at %d: recovered at %d, before the flush at %d", crashAt, got.Index, flushed)
		}
		applyAll(t, tr, entries[got.Index:], 64)
		if final, _ := tr.Digest(); final != digests[800] {
			t.Fatalf("crash at %d: replay gave %v, want %v", crashAt, final, digests[800])
		}
		db.Close()
	}
}

// FuzzImport feeds arbitrary streams to Import: it must never panic, and
// whatever it accepts must export back to the same digest.
func FuzzImport(f *testing.F) {
	src := newTestTree(f, Options{})
	applyAll(f, src, scriptEntries(1, 40), 40)
	var buf bytes.Buffer
	if _, err := src.Export(&buf); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add(buf.Bytes()[:100])
	f.Add([]byte(snapMagic))
	db, err := storage.Open("", storage.Options{FS: vfs.NewMem(), CacheBytes: 1 << 20})
	if err != nil {
		f.Fatal(err)
	}
	defer db.Close()
	dst, err := Open(db, Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		d, err := dst.Import(bytes.NewReader(in))
		if err != nil {
			return
		}
		if again, err := dst.Digest(); err != nil || again != d {
			t.Fatalf("accepted snapshot digests to %v, then %v (%v)", d, again, err)
		}
	})
}

// TestCheckpointKeepsItsIndex: a Checkpoint exports the state at the index
// it was taken, however much is applied after it, and the stream imports.
func TestCheckpointKeepsItsIndex(t *testing.T) {
	src := newTestTree(t, Options{})
	applyAll(t, src, scriptEntries(1, 500), 64)
	want, err := src.Digest()
	if err != nil {
		t.Fatal(err)
	}
	cp, err := src.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Close()
	if cp.Index() != 500 {
		t.Fatalf("checkpoint index %d, want 500", cp.Index())
	}
	if _, err := src.Apply(scriptEntries(501, 300)); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	got, err := cp.Export(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("checkpoint digest %v, want %v (the digest at its index)", got, want)
	}
	if now, _ := src.Digest(); now == want {
		t.Fatal("the state did not change after the checkpoint")
	}
	// Exported twice, the same bytes.
	var again bytes.Buffer
	if _, err := cp.Export(&again); err != nil || !bytes.Equal(again.Bytes(), buf.Bytes()) {
		t.Fatalf("second export differs (err %v)", err)
	}
	dst := newTestTree(t, Options{})
	if d, err := dst.Import(&buf); err != nil || d != want {
		t.Fatalf("import of the checkpoint: %v, %v", d, err)
	}
}

// TestOpenIncompleteImport: a store left by an interrupted Import opens
// with AllowIncompleteImport, refuses Apply, and is usable again after an
// Import.
func TestOpenIncompleteImport(t *testing.T) {
	src := newTestTree(t, Options{})
	applyAll(t, src, scriptEntries(1, 300), 50)
	var buf bytes.Buffer
	if _, err := src.Export(&buf); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	db, err := storage.Open("", storage.Options{FS: vfs.NewMem(), CacheBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	dst, err := Open(db, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dst.Import(bytes.NewReader(good[:len(good)/2])); err == nil {
		t.Fatal("a truncated import succeeded")
	}
	if _, err := Open(db, Options{}); !errors.Is(err, ErrIncompleteImport) {
		t.Fatalf("reopen: %v, want ErrIncompleteImport", err)
	}
	re, err := Open(db, Options{AllowIncompleteImport: true})
	if err != nil {
		t.Fatal(err)
	}
	if !re.Incomplete() || re.Applied() != 0 {
		t.Fatalf("reopened: incomplete %v, applied %d", re.Incomplete(), re.Applied())
	}
	if _, err := re.Apply([]Entry{{Index: 1}}); !errors.Is(err, ErrIncompleteImport) {
		t.Fatalf("apply: %v, want ErrIncompleteImport", err)
	}
	if _, err := re.Import(bytes.NewReader(good)); err != nil {
		t.Fatal(err)
	}
	if re.Incomplete() || re.Applied() != 300 {
		t.Fatalf("after import: incomplete %v, applied %d", re.Incomplete(), re.Applied())
	}
	if _, err := Open(db, Options{}); err != nil {
		t.Fatal(err)
	}
}
