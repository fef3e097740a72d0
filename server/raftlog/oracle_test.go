package raftlog

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/arbor-coord/arbor/internal/storage"
)

var (
	oracleSeed  = flag.Uint64("raftlog.seed", 0, "run the oracle test with this seed only")
	oracleSteps = flag.Int("raftlog.steps", 400, "steps per oracle run")
)

// harness opens a Log on an in-memory filesystem and can reopen it.
type harness struct {
	t   testing.TB
	fs  vfs.FS
	db  *pebble.DB
	log *Log
	// tailEntries and tailBytes, if non-zero, replace the tail cache's
	// bounds, so that the oracle also runs with a tail that keeps little.
	tailEntries, tailBytes int
	logger                 *slog.Logger // the Log's, if not nil
}

func newHarness(t testing.TB, fs vfs.FS) *harness {
	t.Helper()
	h := &harness{t: t, fs: fs}
	h.open()
	t.Cleanup(h.close)
	return h
}

// close closes the Log, then its store.
func (h *harness) close() {
	h.t.Helper()
	if h.db == nil {
		return
	}
	if err := errors.Join(h.log.Close(), h.db.Close()); err != nil {
		h.t.Fatal(err)
	}
	h.db, h.log = nil, nil
}

func (h *harness) open() {
	h.t.Helper()
	db, err := storage.Open("db", storage.Options{FS: h.fs, CacheBytes: 1 << 20})
	if err != nil {
		h.t.Fatal(err)
	}
	// Small segments, so that the oracle rotates and releases them.
	l, err := Open(db, "raft", Options{FS: h.fs, SegmentBytes: 4 << 10, Logger: h.logger})
	if err != nil {
		h.t.Fatal(err)
	}
	if h.tailEntries != 0 {
		l.st.maxTailEntries, l.st.maxTailBytes = h.tailEntries, h.tailBytes
	}
	h.db, h.log = db, l
}

// crash replaces the filesystem with a copy of what a crash at this moment
// could leave (everything synced, and some of what was not), and opens
// the Log on it.
func (h *harness) crash(seed int64) {
	h.t.Helper()
	mem := h.fs.(*vfs.MemFS)
	clone := mem.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: int(seed % 101), RNG: rand.New(rand.NewPCG(uint64(seed), 0))})
	h.close()
	h.fs = clone
	h.open()
}

func (h *harness) reopen() {
	h.t.Helper()
	h.close()
	h.open()
}

// model drives a raft.MemoryStorage the way Save drives a Log.
type model struct{ ms *raft.MemoryStorage }

func (m model) save(hs *pb.HardState, ents []*pb.Entry, snap *pb.Snapshot) error {
	if snap != nil && snap.GetMetadata().GetIndex() != 0 {
		if err := m.ms.ApplySnapshot(proto.Clone(snap).(*pb.Snapshot)); err != nil {
			return err
		}
	}
	if err := m.ms.Append(ents); err != nil {
		return err
	}
	if hs != nil {
		return m.ms.SetHardState(proto.Clone(hs).(*pb.HardState))
	}
	return nil
}

func (m model) bounds() (offset, last uint64) {
	first, _ := m.ms.FirstIndex()
	last, _ = m.ms.LastIndex()
	return first - 1, last
}

func (m model) snapIndex() uint64 {
	s, _ := m.ms.Snapshot()
	return s.GetMetadata().GetIndex()
}

// TestOracle drives a Log and a raft.MemoryStorage with the same random
// operations and compares every Storage method after each step. A failure
// prints the seed; rerun it with -raftlog.seed.
func TestOracle(t *testing.T) {
	seeds := []uint64{1, 2, 3, 4, 5, 6, 7, 8}
	if *oracleSeed != 0 {
		seeds = []uint64{*oracleSeed}
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			runOracle(t, seed, *oracleSteps, false)
		})
	}
}

// TestOracleCrash is TestOracle with its reopens replaced by crashes: every
// write is synced before it returns, so a crash loses nothing.
func TestOracleCrash(t *testing.T) {
	seeds := []uint64{101, 102, 103, 104}
	if *oracleSeed != 0 {
		seeds = []uint64{*oracleSeed}
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			runOracle(t, seed, *oracleSteps/2, true)
		})
	}
}

func runOracle(t *testing.T, seed uint64, steps int, crash bool) {
	rng := rand.New(rand.NewPCG(seed, seed))
	fs := vfs.NewMem()
	if crash {
		fs = vfs.NewCrashableMem()
	}
	h := newHarness(t, fs)
	if seed%2 == 0 {
		h.tailEntries, h.tailBytes = 1+rng.IntN(16), rng.IntN(2000)
		h.reopen()
	}
	m := model{raft.NewMemoryStorage()}
	var term uint64 = 1
	randEntries := func(from uint64, n int) []*pb.Entry {
		ents := make([]*pb.Entry, n)
		for i := range ents {
			if rng.IntN(8) == 0 {
				term++
			}
			e := &pb.Entry{Index: proto.Uint64(from + uint64(i)), Term: proto.Uint64(term)}
			if rng.IntN(4) != 0 {
				e.Type = pb.EntryNormal.Enum()
				e.Data = make([]byte, rng.IntN(300))
				for j := range e.Data {
					e.Data[j] = byte(rng.Uint32())
				}
			}
			ents[i] = e
		}
		return ents
	}
	randConfState := func() *pb.ConfState {
		cs := &pb.ConfState{Voters: []uint64{1, uint64(rng.IntN(5) + 2)}}
		if rng.IntN(2) == 0 {
			cs.Learners = []uint64{uint64(rng.IntN(5) + 10)}
		}
		if rng.IntN(3) == 0 {
			cs.AutoLeave = proto.Bool(false)
		}
		return cs
	}
	randSnap := func() *pb.Snapshot {
		_, last := m.bounds()
		cur := m.snapIndex()
		lo := uint64(0)
		if cur > 3 {
			lo = min(cur-3, last)
		}
		idx := lo + uint64(rng.IntN(int(last-lo)+10))
		term++
		snap := &pb.Snapshot{Metadata: &pb.SnapshotMetadata{
			Index: proto.Uint64(idx), Term: proto.Uint64(term), ConfState: randConfState(),
		}}
		if rng.IntN(2) == 0 {
			snap.Data = []byte(fmt.Sprint("descriptor ", idx))
		}
		return snap
	}

	for step := range steps {
		offset, last := m.bounds()
		var op string
		var gotErr, wantErr error
		switch r := rng.IntN(100); {
		case r < 55: // Save: append, overwrite or truncate, sometimes with a HardState or snapshot
			var snap *pb.Snapshot
			if rng.IntN(10) == 0 {
				snap = randSnap()
			}
			base := offset
			if snap != nil && snap.GetMetadata().GetIndex() > m.snapIndex() {
				base = snap.GetMetadata().GetIndex()
			} else if last > offset {
				base = offset + uint64(rng.IntN(int(last-offset)+1)) // overwrite from here
				if rng.IntN(3) == 0 {
					base = last
				}
			}
			from := base + 1
			if back := uint64(rng.IntN(3)); rng.IntN(6) == 0 && from > back {
				from -= back // starts below the compaction point: the head is skipped
			}
			ents := randEntries(from, rng.IntN(12))
			var hs *pb.HardState
			if rng.IntN(2) == 0 {
				hs = &pb.HardState{Term: proto.Uint64(term), Vote: proto.Uint64(uint64(rng.IntN(3))), Commit: proto.Uint64(base)}
			}
			op = fmt.Sprintf("Save(hs=%v, %d entries from %d, snap=%v)", hs, len(ents), from, snap.GetMetadata())
			wantErr = m.save(hs, ents, snap)
			gotErr = h.log.Save(hs, ents, snap)
		case r < 67:
			ci := offset + uint64(rng.IntN(int(last-offset)+1))
			if rng.IntN(8) == 0 && offset > 0 {
				ci = offset - uint64(rng.IntN(2)) // already compacted
			}
			op = fmt.Sprintf("Compact(%d)", ci)
			wantErr = m.ms.Compact(ci)
			gotErr = h.log.Compact(ci)
		case r < 77:
			lo := max(offset, m.snapIndex())
			if lo > 0 && rng.IntN(4) == 0 {
				lo-- // not newer than the current snapshot
			}
			lo = max(lo, offset)
			if lo > last {
				continue
			}
			i := lo + uint64(rng.IntN(int(last-lo)+1))
			var cs *pb.ConfState
			if rng.IntN(2) == 0 {
				cs = randConfState()
			}
			data := []byte(fmt.Sprint("snapshot at ", i))
			op = fmt.Sprintf("CreateSnapshot(%d, %v)", i, cs)
			want, err1 := m.ms.CreateSnapshot(i, cs, data)
			got, err2 := h.log.CreateSnapshot(i, cs, data)
			wantErr, gotErr = err1, err2
			// MemoryStorage returns the ConfState as given and fills in absent
			// fields only on its next Snapshot(); the Log fills them in at once.
			if err1 == nil && err2 == nil && !proto.Equal(cloneSnapshot(want), got) {
				t.Fatalf("seed %d step %d %s: returned\n%v\nwant\n%v", seed, step, op, got, want)
			}
			// MemoryStorage's ConfState is its snapshot's: keep the Log's current
			// one in step, as raftnode does when it snapshots at the applied index.
			if err2 == nil && cs != nil {
				if err := h.log.SetConfState(cs); err != nil {
					t.Fatal(err)
				}
			}
		case r < 82:
			snap := randSnap()
			op = fmt.Sprintf("ApplySnapshot(%v)", snap.GetMetadata())
			wantErr = m.ms.ApplySnapshot(proto.Clone(snap).(*pb.Snapshot))
			gotErr = h.log.ApplySnapshot(snap)
		case r < 90:
			if crash {
				op = "crash"
				h.crash(rng.Int64())
			} else {
				op = "reopen"
				h.reopen()
			}
		default:
			op = "read only"
		}
		if !errors.Is(gotErr, wantErr) || (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("seed %d step %d %s: error %v, want %v", seed, step, op, gotErr, wantErr)
		}
		if msg := compareStorage(h.log, m, rng); msg != "" {
			t.Fatalf("seed %d step %d after %s: %s", seed, step, op, msg)
		}
	}
	// A last reopen must change nothing.
	h.reopen()
	if msg := compareStorage(h.log, m, rng); msg != "" {
		t.Fatalf("seed %d after the final reopen: %s", seed, msg)
	}
	// The segments are small: a run must have rotated through several
	// and released the oldest, or it did not test replay after a release.
	if segs := h.log.wal.Segments(); steps >= 200 && segs[0] == 1 {
		t.Fatalf("seed %d: segment 1 was never released (segments %v)", seed, segs)
	}
}

// compareStorage compares every raft.Storage method of l with the model's,
// returning a description of the first difference.
func compareStorage(l *Log, m model, rng *rand.Rand) string {
	if t := l.st.tail; len(t) > 0 {
		for i, e := range t {
			if e.GetIndex() != t[0].GetIndex()+uint64(i) {
				return fmt.Sprintf("tail cache not contiguous: %d at position %d after %d", e.GetIndex(), i, t[0].GetIndex())
			}
		}
		if end := t[len(t)-1].GetIndex(); end != l.st.last || t[0].GetIndex() <= l.st.offset {
			return fmt.Sprintf("tail cache holds [%d, %d], log is (%d, %d]", t[0].GetIndex(), end, l.st.offset, l.st.last)
		}
		if len(t) > l.st.maxTailEntries || l.st.tailBytes > l.st.maxTailBytes || l.st.tailBytes != dataBytes(t) {
			return fmt.Sprintf("tail cache of %d entries, %d bytes (counted %d) is past its bounds", len(t), dataBytes(t), l.st.tailBytes)
		}
	}
	hs1, cs1, err1 := l.InitialState()
	hs2, cs2, err2 := m.ms.InitialState()
	if err1 != nil || err2 != nil {
		return fmt.Sprintf("InitialState errors %v, %v", err1, err2)
	}
	if (hs1 == nil) != (hs2 == nil) || !proto.Equal(hs1, hs2) {
		return fmt.Sprintf("HardState %v, want %v", hs1, hs2)
	}
	if !proto.Equal(cs1, cs2) {
		return fmt.Sprintf("ConfState %v, want %v", cs1, cs2)
	}
	f1, _ := l.FirstIndex()
	f2, _ := m.ms.FirstIndex()
	l1, _ := l.LastIndex()
	l2, _ := m.ms.LastIndex()
	if f1 != f2 || l1 != l2 {
		return fmt.Sprintf("first, last = %d, %d; want %d, %d", f1, l1, f2, l2)
	}
	offset := f2 - 1
	for i := max(offset, 2) - 2; i <= l2+2; i++ {
		t1, err1 := l.Term(i)
		t2, err2 := m.ms.Term(i)
		if t1 != t2 || !errors.Is(err1, err2) || (err1 == nil) != (err2 == nil) {
			return fmt.Sprintf("Term(%d) = %d, %v; want %d, %v", i, t1, err1, t2, err2)
		}
	}
	s1, err1 := l.Snapshot()
	s2, _ := m.ms.Snapshot()
	var want2 error
	if s2.GetMetadata().GetIndex() < offset {
		// Compacted past the snapshot: MemoryStorage would hand raft a
		// snapshot that cannot catch a follower up; the Log says to wait.
		s2, want2 = nil, raft.ErrSnapshotTemporarilyUnavailable
	}
	if !errors.Is(err1, want2) || (err1 == nil) != (want2 == nil) || !proto.Equal(s1, s2) {
		return fmt.Sprintf("Snapshot() = %v, %v; want %v, %v", s1, err1, s2, want2)
	}
	// Entries over every range when the log is short, random ranges when long.
	check := func(lo, hi, maxSize uint64) string {
		e1, err1 := l.Entries(lo, hi, maxSize)
		e2, err2 := m.ms.Entries(lo, hi, maxSize)
		if !errors.Is(err1, err2) || (err1 == nil) != (err2 == nil) {
			return fmt.Sprintf("Entries(%d, %d, %d) error %v, want %v", lo, hi, maxSize, err1, err2)
		}
		if len(e1) != len(e2) {
			return fmt.Sprintf("Entries(%d, %d, %d) gave %d entries, want %d", lo, hi, maxSize, len(e1), len(e2))
		}
		for i := range e1 {
			if !proto.Equal(e1[i], e2[i]) {
				return fmt.Sprintf("Entries(%d, %d, %d)[%d] = %v, want %v", lo, hi, maxSize, i, e1[i], e2[i])
			}
		}
		return ""
	}
	sizes := []uint64{0, 1, 100, 500, 2000, math.MaxUint64, uint64(rng.IntN(3000))}
	loMin := max(offset, 1) - 1
	for n := 0; n < 40; n++ {
		lo := loMin + uint64(rng.IntN(int(l2+2-loMin)))
		if lo > l2+1 {
			continue
		}
		hi := lo + uint64(rng.IntN(int(l2+2-lo)))
		if msg := check(lo, hi, sizes[rng.IntN(len(sizes))]); msg != "" {
			return msg
		}
	}
	if l2 >= offset+1 {
		if msg := check(offset+1, l2+1, math.MaxUint64); msg != "" {
			return msg
		}
	}
	return ""
}

// TestPanicsMatch checks that the programmer errors MemoryStorage panics on
// panic here too.
func TestPanicsMatch(t *testing.T) {
	h := newHarness(t, vfs.NewMem())
	ents := []*pb.Entry{
		{Index: proto.Uint64(1), Term: proto.Uint64(1)},
		{Index: proto.Uint64(2), Term: proto.Uint64(1)},
	}
	if err := h.log.Save(nil, ents, nil); err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]func(){
		"Entries past last": func() { _, _ = h.log.Entries(1, 4, math.MaxUint64) },
		"Compact past last": func() { _ = h.log.Compact(3) },
		"gap in the log":    func() { _ = h.log.Save(nil, []*pb.Entry{{Index: proto.Uint64(4), Term: proto.Uint64(1)}}, nil) },
		"not contiguous": func() {
			_ = h.log.Save(nil, []*pb.Entry{{Index: proto.Uint64(3)}, {Index: proto.Uint64(5)}}, nil)
		},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			f()
		})
	}
	// Nothing was written by the refused calls.
	if last, _ := h.log.LastIndex(); last != 2 {
		t.Fatalf("LastIndex = %d, want 2", last)
	}
}
