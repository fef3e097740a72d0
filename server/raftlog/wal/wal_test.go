package wal

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// rec is a record as a test expects it back.
type rec struct {
	pos  Pos
	data string
}

// openAll opens the log in fs and returns it with every record replayed.
func openAll(t *testing.T, fs vfs.FS, opts Options) (*WAL, []rec) {
	t.Helper()
	opts.FS = fs
	var got []rec
	w, err := Open("log", opts, func(pos Pos, data []byte) error {
		got = append(got, rec{pos, string(data)})
		return nil
	})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return w, got
}

func mustAppend(t *testing.T, w *WAL, data string) rec {
	t.Helper()
	pos, err := w.Append([]byte(data))
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	return rec{pos, data}
}

func mustRotate(t *testing.T, w *WAL, first string) rec {
	t.Helper()
	if err := w.Rotate([]byte(first)); err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	return rec{Pos{Segment: w.curSeq, Offset: 0}, first}
}

func mustSync(t *testing.T, w *WAL) {
	t.Helper()
	if err := w.Sync(); err != nil {
		t.Fatalf("Sync: %v", err)
	}
}

func checkRecords(t *testing.T, got, want []rec) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("replayed %d records, want %d:\n got %v\nwant %v", len(got), len(want), clip(got), clip(want))
	}
}

// clip shortens records for failure messages.
func clip(rs []rec) []string {
	var out []string
	for _, r := range rs {
		d := r.data
		if len(d) > 12 {
			d = d[:12] + "…"
		}
		out = append(out, fmt.Sprintf("%d@%d:%q", r.pos.Segment, r.pos.Offset, d))
	}
	return out
}

func TestAppendSyncReopen(t *testing.T) {
	fs := vfs.NewMem()
	w, got := openAll(t, fs, Options{SegmentBytes: 1 << 16})
	checkRecords(t, got, nil)
	if _, err := w.Append([]byte("x")); !errors.Is(err, ErrNoSegment) {
		t.Fatalf("Append before Rotate: %v, want ErrNoSegment", err)
	}
	want := []rec{mustRotate(t, w, "checkpoint")}
	for i, n := range []int{0, 1, 17, 1000, 5000} {
		want = append(want, mustAppend(t, w, strings.Repeat(string(rune('a'+i)), n)))
	}
	// Buffered records read back before they are written.
	for _, r := range want {
		b, err := w.ReadAt(r.pos)
		if err != nil || string(b) != r.data {
			t.Fatalf("ReadAt(%v) before Sync = %q, %v; want %q", r.pos, clip([]rec{{r.pos, string(b)}}), err, clip([]rec{r}))
		}
	}
	mustSync(t, w)
	mustAppend(t, w, "appended, never synced: Close does not write it")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w, got = openAll(t, fs, Options{SegmentBytes: 1 << 16})
	checkRecords(t, got, want)
	for _, r := range got {
		b, err := w.ReadAt(r.pos)
		if err != nil || string(b) != r.data {
			t.Fatalf("ReadAt(%v) after reopen: %v", r.pos, err)
		}
	}
	// Writing goes on in a new segment; the old one is closed.
	want = append(want, mustRotate(t, w, "checkpoint 2"))
	want = append(want, mustAppend(t, w, "after reopen"))
	mustSync(t, w)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w, got = openAll(t, fs, Options{SegmentBytes: 1 << 16})
	defer w.Close()
	checkRecords(t, got, want)
	if segs := w.Segments(); !slices.Equal(segs, []uint64{1, 2}) {
		t.Fatalf("segments %v, want [1 2]", segs)
	}
}

// TestAppendRefused: a record over MaxRecordBytes, and one whose
// AppendFunc fails, are refused and leave nothing behind.
func TestAppendRefused(t *testing.T) {
	fs := vfs.NewMem()
	w, _ := openAll(t, fs, Options{SegmentBytes: 4096})
	want := []rec{mustRotate(t, w, "")}
	if _, err := w.Append(make([]byte, MaxRecordBytes+1)); err == nil {
		t.Fatal("Append of more than MaxRecordBytes succeeded")
	}
	boom := errors.New("boom")
	if _, err := w.AppendFunc(func(b []byte) ([]byte, error) { return append(b, "half"...), boom }); !errors.Is(err, boom) {
		t.Fatalf("AppendFunc: %v, want its function's error", err)
	}
	want = append(want, mustAppend(t, w, "after"))
	mustSync(t, w)
	w.Close()
	w, got := openAll(t, fs, Options{SegmentBytes: 4096})
	defer w.Close()
	checkRecords(t, got, want)
}

// TestRotateRelease fills several small segments, releases the older ones
// and checks that the reused files never bring back their old records.
func TestRotateRelease(t *testing.T) {
	fs := vfs.NewMem()
	opts := Options{SegmentBytes: 512}
	w, _ := openAll(t, fs, opts)
	var want []rec
	firstOf := map[uint64]int{} // segment -> index in want of its first record
	rotate := func() {
		r := mustRotate(t, w, fmt.Sprintf("checkpoint %d", w.curSeq+1))
		firstOf[r.pos.Segment] = len(want)
		want = append(want, r)
	}
	rotate()
	for i := range 200 {
		if w.Full() {
			rotate()
		}
		want = append(want, mustAppend(t, w, fmt.Sprintf("record %03d %s", i, strings.Repeat("z", i%50))))
		if i%7 == 0 {
			mustSync(t, w)
		}
		if i == 120 {
			// Drop every segment before the current one but two.
			keep := w.curSeq - 2
			if err := w.Release(keep); err != nil {
				t.Fatal(err)
			}
			want = want[firstOf[keep]:]
		}
	}
	mustSync(t, w)
	names, _ := fs.List("log")
	spares := 0
	for _, n := range names {
		if strings.HasPrefix(n, sparePrefix) {
			spares++
		}
	}
	if spares > maxSpares {
		t.Fatalf("%d spares kept (%v), at most %d", spares, names, maxSpares)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w, got := openAll(t, fs, opts)
	defer w.Close()
	checkRecords(t, got, want)
	if len(w.Segments()) < 5 {
		t.Fatalf("only %d segments: the test meant to rotate more", len(w.Segments()))
	}
}

// flipByte damages segment seq at off.
func flipByte(t *testing.T, fs vfs.FS, seq uint64, off int64) {
	t.Helper()
	f, err := fs.OpenReadWrite(fs.PathJoin("log", segmentName(seq)), vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := []byte{0}
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x40
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// TestTornTail damages the last record of the last segment, as a crash
// tearing a write would, with a valid record after it: Open stops at the
// damage, and after Rotate the valid record beyond it never comes back.
func TestTornTail(t *testing.T) {
	fs := vfs.NewMem()
	opts := Options{SegmentBytes: 1 << 16}
	w, _ := openAll(t, fs, opts)
	want := []rec{mustRotate(t, w, "cp"), mustAppend(t, w, "kept")}
	torn := mustAppend(t, w, "torn")
	mustAppend(t, w, "beyond the tear")
	mustSync(t, w)
	w.Close()
	flipByte(t, fs, torn.pos.Segment, torn.pos.Offset+headerBytes+1)

	w, got := openAll(t, fs, opts)
	checkRecords(t, got, want)
	want = append(want, mustRotate(t, w, "cp2"))
	want = append(want, mustAppend(t, w, "new"))
	mustSync(t, w)
	w.Close()
	for range 2 {
		w, got = openAll(t, fs, opts)
		checkRecords(t, got, want)
		w.Close()
	}
}

func TestDamageBeforeTheTailIsCorrupt(t *testing.T) {
	fs := vfs.NewMem()
	opts := Options{SegmentBytes: 1 << 16}
	w, _ := openAll(t, fs, opts)
	mustRotate(t, w, "cp")
	r := mustAppend(t, w, "in segment 1")
	mustRotate(t, w, "cp2")
	mustAppend(t, w, "in segment 2")
	mustSync(t, w)
	w.Close()
	flipByte(t, fs, r.pos.Segment, r.pos.Offset+headerBytes)
	_, err := Open("log", Options{FS: fs}, func(Pos, []byte) error { return nil })
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open over a damaged older segment: %v, want ErrCorrupt", err)
	}
}

func TestMissingSegmentIsCorrupt(t *testing.T) {
	fs := vfs.NewMem()
	w, _ := openAll(t, fs, Options{SegmentBytes: 4096})
	for i := range 3 {
		mustRotate(t, w, fmt.Sprint(i))
	}
	mustSync(t, w)
	w.Close()
	if err := fs.Remove(fs.PathJoin("log", segmentName(2))); err != nil {
		t.Fatal(err)
	}
	_, err := Open("log", Options{FS: fs}, func(Pos, []byte) error { return nil })
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "segment 2 is missing") {
		t.Fatalf("Open without segment 2: %v, want ErrCorrupt naming it", err)
	}
}

func TestOpenRejectsStrangeSegmentNames(t *testing.T) {
	fs := vfs.NewMem()
	if err := fs.MkdirAll("log", 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := fs.Create(fs.PathJoin("log", "1.wal"), vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	_, err = Open("log", Options{FS: fs}, func(Pos, []byte) error { return nil })
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open with a segment named 1.wal: %v, want ErrCorrupt", err)
	}
}

func TestReplayError(t *testing.T) {
	fs := vfs.NewMem()
	w, _ := openAll(t, fs, Options{SegmentBytes: 4096})
	mustRotate(t, w, "cp")
	mustSync(t, w)
	w.Close()
	boom := errors.New("boom")
	if _, err := Open("log", Options{FS: fs}, func(Pos, []byte) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("Open: %v, want the replay's error", err)
	}
}

// TestCrash drives a log with random appends, syncs, rotations and
// releases, crashes its filesystem at random points (keeping a random
// part of what was not synced), and checks that the reopened log replays
// every record synced before the crash, in order, and nothing else but
// an in-order run of the records appended after the last sync.
func TestCrash(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	opts := Options{SegmentBytes: 1 << 10}
	for round := range 30 {
		fs := vfs.NewCrashableMem()
		w, _ := openAll(t, fs, opts)
		var synced, unsynced []rec
		for range rng.IntN(300) {
			switch r := rng.IntN(100); {
			case w.Full() || r < 3:
				// Rotate syncs everything before it.
				synced = append(synced, unsynced...)
				unsynced = []rec{mustRotate(t, w, fmt.Sprintf("cp %d", w.curSeq+1))}
			case r < 70:
				unsynced = append(unsynced, mustAppend(t, w, strings.Repeat("r", rng.IntN(200))+fmt.Sprint(rng.Uint32())))
			case r < 95:
				mustSync(t, w)
				synced, unsynced = append(synced, unsynced...), nil
			default:
				segs := w.Segments()
				keep := segs[rng.IntN(len(segs))]
				if err := w.Release(keep); err != nil {
					t.Fatal(err)
				}
				synced = slices.DeleteFunc(synced, func(r rec) bool { return r.pos.Segment < keep })
				unsynced = slices.DeleteFunc(unsynced, func(r rec) bool { return r.pos.Segment < keep })
			}
		}
		crashed := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: rng.IntN(101), RNG: rand.New(rand.NewPCG(rng.Uint64(), 0))})
		w.Close()
		w2, got := openAll(t, crashed, opts)
		if len(got) < len(synced) || !slices.Equal(got[:len(synced)], synced) {
			t.Fatalf("round %d (seed %d): lost synced records:\n got %v\nwant %v", round, seed, clip(got), clip(synced))
		}
		if extra := got[len(synced):]; len(extra) > len(unsynced) || !slices.Equal(extra, unsynced[:len(extra)]) {
			t.Fatalf("round %d (seed %d): records after the synced ones are not what was appended:\n got %v\nwant a prefix of %v",
				round, seed, clip(extra), clip(unsynced))
		}
		// The log goes on from there and keeps what it had.
		more := append(got, mustRotate(t, w2, "after"))
		mustSync(t, w2)
		w2.Close()
		w3, again := openAll(t, crashed, opts)
		checkRecords(t, again, more)
		w3.Close()
	}
}

// FuzzOpen opens a log whose one segment holds arbitrary bytes: Open
// never panics, and a log it opens goes on: what it replayed, then a new
// record, come back on the next Open.
func FuzzOpen(f *testing.F) {
	var seg []byte
	seg = appendRecord(seg, 1, kindRecord, []byte("hello"))
	seg = appendRecord(seg, 1, kindRecord, nil)
	f.Add(seg)
	f.Add(appendRecord(seg, 1, kindEnd, nil))
	f.Add(appendRecord(seg, 2, kindRecord, []byte("other segment")))
	f.Add(append(bytes.Clone(seg), 0, 0, 0))
	f.Fuzz(func(t *testing.T, data []byte) {
		fs := vfs.NewMem()
		if err := fs.MkdirAll("log", 0o755); err != nil {
			t.Fatal(err)
		}
		file, err := fs.Create(fs.PathJoin("log", segmentName(1)), vfs.WriteCategoryUnspecified)
		if err != nil {
			t.Fatal(err)
		}
		file.Write(data)
		file.Close()
		opts := Options{SegmentBytes: 4096}
		w, got := openAll(t, fs, opts)
		want := append(got, mustRotate(t, w, "next"))
		mustSync(t, w)
		w.Close()
		w, got = openAll(t, fs, opts)
		checkRecords(t, got, want)
		w.Close()
	})
}
