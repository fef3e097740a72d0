package raftnode

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"

	"github.com/arbor-coord/arbor/internal/storage"
	"github.com/arbor-coord/arbor/server/raftlog"
)

// waitTimeout bounds every wait in the tests, so a bug fails instead of
// hanging.
const waitTimeout = 10 * time.Second

// syncs counts the fsyncs of the raft log's segment files and can hold
// one of them (a gate) so that a test can queue work while the Ready loop
// is blocked in its fsync.
type syncs struct {
	wal  atomic.Int64
	gate atomic.Pointer[gate]
}

type gate struct {
	blocked chan struct{} // closed when a WAL sync is held
	release chan struct{} // close to let it go on
}

func (s *syncs) String() string { return "syncs" }

func (s *syncs) MaybeError(op errorfs.Op) error {
	switch op.Kind {
	case errorfs.OpFileSync, errorfs.OpFileSyncData, errorfs.OpFileSyncTo:
		if strings.HasSuffix(op.Path, ".wal") {
			s.wal.Add(1)
			if g := s.gate.Swap(nil); g != nil {
				close(g.blocked)
				<-g.release
			}
		}
	}
	return nil
}

// store is one member's Pebble database and raft Log.
type store struct {
	t     testing.TB
	dir   string
	fs    vfs.FS
	syncs *syncs
	db    *pebble.DB
	log   *raftlog.Log
}

// openStore opens a store on base (nil: the OS filesystem) in dir.
func openStore(t testing.TB, base vfs.FS, dir string) *store {
	t.Helper()
	if base == nil {
		base = vfs.Default
	}
	s := &store{t: t, dir: dir, syncs: &syncs{}}
	s.fs = errorfs.Wrap(base, s.syncs)
	s.open()
	t.Cleanup(func() {
		if s.db != nil {
			s.log.Close()
			s.db.Close()
		}
	})
	return s
}

func (s *store) open() {
	s.t.Helper()
	db, err := storage.Open(s.dir, storage.Options{FS: s.fs, CacheBytes: 8 << 20})
	if err != nil {
		s.t.Fatal(err)
	}
	l, err := raftlog.Open(db, s.fs.PathJoin(s.dir, "raft"), raftlog.Options{FS: s.fs})
	if err != nil {
		db.Close()
		s.t.Fatal(err)
	}
	s.db, s.log = db, l
}

func (s *store) reopen() {
	s.t.Helper()
	if err := errors.Join(s.log.Close(), s.db.Close()); err != nil {
		s.t.Fatal(err)
	}
	s.db = nil
	s.open()
}

// recorder is an Applier that records what it applies and checks that
// entries come contiguous and in order.
type recorder struct {
	t       testing.TB
	changed chan struct{} // signalled after every Apply

	mu      sync.Mutex
	applied uint64
	entries []Entry // every entry applied, in order
	calls   int
	largest int // the most entries one Apply call carried
	fail    error
	// restores counts the Restores that succeeded.
	restores int
	// holdRestore, if set, makes the next Restore close it and then wait
	// for its ctx (a member stopped while restoring).
	holdRestore chan struct{}
	// holdFlush, if set, is what Flush returns.
	holdFlush chan struct{}
}

// recorderCheckpoint is a recorder's entries at one index.
type recorderCheckpoint struct {
	index   uint64
	entries []Entry
}

func (c *recorderCheckpoint) Index() uint64 { return c.index }
func (c *recorderCheckpoint) Close() error  { return nil }
func (c *recorderCheckpoint) Export(w io.Writer) error {
	return json.NewEncoder(w).Encode(c.entries)
}

// Checkpoint returns the entries applied so far.
func (r *recorder) Checkpoint() (Checkpoint, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return &recorderCheckpoint{index: r.applied, entries: slices.Clone(r.entries)}, nil
}

// closedChan is a closed channel: a flush already done.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// Flush reports the recorder's state durable: it is held in memory, and
// the tests say themselves what survives a restart. holdFlush, if set,
// is returned instead, so a test decides when the flush is done.
func (r *recorder) Flush() (<-chan struct{}, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.holdFlush != nil {
		return r.holdFlush, nil
	}
	return closedChan, nil
}

// Restore replaces the entries with those of a checkpoint's export.
func (r *recorder) Restore(ctx context.Context, index uint64, rd io.Reader) error {
	r.mu.Lock()
	hold := r.holdRestore
	r.holdRestore = nil
	r.mu.Unlock()
	if hold != nil {
		close(hold)
		<-ctx.Done()
		return ctx.Err()
	}
	var ents []Entry
	if err := json.NewDecoder(rd).Decode(&ents); err != nil {
		return err
	}
	if len(ents) == 0 || ents[len(ents)-1].Index != index {
		return fmt.Errorf("the snapshot's entries do not end at index %d", index)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.entries, r.applied = ents, index
	r.restores++
	select {
	case r.changed <- struct{}{}:
	default:
	}
	return nil
}

func newRecorder(t testing.TB, applied uint64) *recorder {
	return &recorder{t: t, applied: applied, changed: make(chan struct{}, 1)}
}

func (r *recorder) Apply(_ context.Context, ents []Entry) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	for _, e := range ents {
		if e.Index != r.applied+1 {
			r.t.Errorf("applied entry %d after %d", e.Index, r.applied)
		}
		r.applied = e.Index
		r.entries = append(r.entries, e)
	}
	r.calls++
	r.largest = max(r.largest, len(ents))
	select {
	case r.changed <- struct{}{}:
	default:
	}
	return nil
}

func (r *recorder) appliedIndex() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.applied
}

// data returns the data of the applied non-empty normal entries, in order.
func (r *recorder) data() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.entries {
		if e.Type == EntryNormal && len(e.Data) > 0 {
			out = append(out, string(e.Data))
		}
	}
	return out
}

// waitFor waits until cond holds, re-checking after every Apply.
func (r *recorder) waitFor(what string, cond func() bool) {
	r.t.Helper()
	deadline := time.After(waitTimeout)
	for {
		r.mu.Lock()
		ok := cond()
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-r.changed:
		case <-deadline:
			r.t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// waitUntil polls cond, for conditions nothing signals (a queue's length).
func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// holdNextSync makes the Ready loop block in its next WAL fsync, which a
// proposal triggers, and returns a function that lets it go on.
func holdNextSync(t testing.TB, s *store, n *Node) (release func()) {
	t.Helper()
	g := &gate{blocked: make(chan struct{}), release: make(chan struct{})}
	var once sync.Once
	release = func() { once.Do(func() { close(g.release) }) }
	t.Cleanup(release)
	s.syncs.gate.Store(g)
	// The held fsync may be that of a Ready already under way, in which
	// case the blocker waits behind it: do not wait for Propose.
	go n.Propose(context.Background(), []byte("blocker"))
	select {
	case <-g.blocked:
	case <-time.After(waitTimeout):
		t.Fatal("the Ready loop never synced")
	}
	return release
}

func startNode(t testing.TB, s *store, app Applier, applied uint64) *Node {
	t.Helper()
	n, err := Start(Config{
		ID:           1,
		Peers:        []uint64{1},
		Log:          s.log,
		Applied:      applied,
		Applier:      app,
		TickInterval: 10 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopNode(t, n) })
	return n
}

func stopNode(t testing.TB, n *Node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := n.Stop(ctx); err != nil {
		t.Errorf("Stop: %v", err)
	}
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}
