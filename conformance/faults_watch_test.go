package conformance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/arbor-coord/arbor/client"
	"github.com/arbor-coord/arbor/conformance/internal/history"
)

// watchKeys is how many nodes the writers update under the watched node.
const watchKeys = 4

// TestFaultsWatch: writers update nodes under one node while watchers,
// each on its own member, hold a persistent recursive watch on it; the
// nemesis makes faults and every client connection is cut now and then,
// so watchers resume on other members and get catch-up events. Every
// watcher must see every acknowledged change exactly once, in zxid
// order, or a catch-up event that covers it, and nothing that was never
// written.
func TestFaultsWatch(t *testing.T) {
	p, rng, c := faultTest(t, 5)

	setup := connect(t, c.ClientAddrs())
	dir := scratchRoot(t, setup) + "/w"
	writes := history.NewRecorder[string, uint64](nil)
	key := func(i int) string { return fmt.Sprintf("%s/k%d", dir, i) }
	// The setup's creates are writes under the prefix too.
	for _, path := range append([]string{dir}, key(0), key(1), key(2), key(3)) {
		op := writes.Invoke(-1, path)
		if _, err := setup.Create(ctxT(t), path, nil); err != nil {
			t.Fatal(err)
		}
		st, err := setup.Exists(ctxT(t), path)
		if err != nil {
			t.Fatal(err)
		}
		op.Return(uint64(st.Czxid), history.OK)
	}

	// The watchers: one per member, each its own session.
	addrs := c.ClientAddrs()
	watchers := make([]*watcher, len(addrs))
	for i := range watchers {
		w := &watcher{rec: writes}
		w.Name = fmt.Sprintf("watcher %d (member %d first)", i, c.Members()[i])
		rot := append(append([]string(nil), addrs[i:]...), addrs[:i]...)
		w.c = connect(t, rot,
			client.WithSessionTimeout(faultSessionTimeout),
			client.WithOrderedServers(),
			client.WithWatchBuffer(1<<16),
			client.WithBackoff(20*time.Millisecond, 500*time.Millisecond),
			client.WithStateFunc(w.state))
		wt, err := w.c.AddWatch(ctxT(t), dir, true)
		if err != nil {
			t.Fatal(err)
		}
		w.watch = wt
		w.Start = writes.Now()
		watchers[i] = w
		go w.collect()
	}

	var cuts int
	cutRng := rand.New(rand.NewPCG(rng.Uint64(), 6))
	faults := faultRun(t, c, p, rng, func(ctx context.Context) {
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			cuts = cutClients(ctx, c, cutRng, time.Second)
		}()
		var mu sync.Mutex
		n := 0
		runWorkers(ctx, newWorkers(c, 2), func(ctx context.Context, w *worker, cl *client.Client) bool {
			mu.Lock()
			n++
			path, data := key(rng.IntN(watchKeys)), fmt.Sprintf("w%d-%d", w.id, n)
			mu.Unlock()
			octx, cancel := opCtx(ctx)
			defer cancel()
			op := writes.Invoke(w.id*1000+w.sessions, path)
			st, err := cl.Set(octx, path, []byte(data), -1)
			op.Return(uint64(st.Mzxid), outcome(err))
			checkUnexpected(t, "set", path, err)
			// Pace the writers a little: the point is the faults, not
			// the watchers' buffers.
			_ = sleepCtx(ctx, 2*time.Millisecond)
			return true
		})
		wg.Wait()
	})
	t.Logf("client connections cut %d times", cuts)

	// A last write, after every other: each watcher stops once it has seen
	// it, so that it saw everything before it.
	// A client of its own: the setup's session may have expired over
	// the faults.
	fence := writes.Invoke(-2, key(0))
	st, err := connect(t, c.ClientAddrs()).Set(ctxT(t), key(0), []byte("fence"), -1)
	if err != nil {
		t.Fatalf("the last write: %v", err)
	}
	fence.Return(uint64(st.Mzxid), history.OK)
	var seen []history.Watcher
	for _, w := range watchers {
		seen = append(seen, w.stop(uint64(st.Mzxid)))
	}

	ops := writes.Ops()
	violations := history.CheckWatches(ops, seen)
	reportViolations(t, "watches", violations, func(dir string) error {
		// The writes as history.json, what each watcher saw beside them.
		b, err := json.MarshalIndent(seen, "", "\t")
		if err != nil {
			return err
		}
		return errors.Join(writes.Save(dir), os.WriteFile(filepath.Join(dir, "watchers.json"), b, 0o644))
	})
	events := 0
	for _, w := range seen {
		events += len(w.Events)
		t.Logf("%s: %d events, %d catch-up, connection lost %d times", w.Name, len(w.Events), countIf(w.Events, func(e history.WatchEvent) bool { return e.CatchUp }), len(w.Lost))
	}
	t.Logf("%d writes, %d acknowledged", len(ops), countOutcome(ops, history.OK))
	report(t, history.Summary{Ops: len(ops) + events, Faults: faults + cuts, Violations: len(violations)})
}

// watcher is one client holding a persistent recursive watch, collecting
// its events.
type watcher struct {
	history.Watcher
	rec   *history.Recorder[string, uint64]
	c     *client.Client
	watch *client.Watcher

	mu   sync.Mutex // guards the embedded Watcher, last and ended
	last uint64     // the highest zxid seen
	// ended is when the session expired, if it did.
	ended time.Duration
}

// state records the watcher's connection losses and resumptions.
func (w *watcher) state(s client.State) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch s {
	case client.StateDisconnected:
		w.Lost = append(w.Lost, w.rec.Now())
	case client.StateConnected:
		if len(w.Lost) > len(w.Resumed) {
			w.Resumed = append(w.Resumed, w.rec.Now())
		}
	case client.StateExpired:
		if w.ended == 0 {
			w.ended = w.rec.Now()
		}
	}
}

func (w *watcher) collect() {
	for ev := range w.watch.Events() {
		w.mu.Lock()
		w.Events = append(w.Events, history.WatchEvent{Type: ev.Type.String(), Path: ev.Path, Zxid: ev.Zxid, CatchUp: ev.CatchUp, At: w.rec.Now()})
		w.last = max(w.last, ev.Zxid)
		w.mu.Unlock()
	}
}

// stop waits, bounded, until the watcher has seen zxid, and returns what
// it saw.
func (w *watcher) stop(zxid uint64) history.Watcher {
	deadline := time.Now().Add(30 * time.Second)
	for {
		w.mu.Lock()
		last := w.last
		w.mu.Unlock()
		if last >= zxid || time.Now().After(deadline) {
			break
		}
		select {
		case <-w.c.Done():
			deadline = time.Now() // its session ended: it will see no more
		case <-time.After(20 * time.Millisecond):
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.End = w.rec.Now()
	if w.ended != 0 {
		// Its session expired (its client lost contact for the whole
		// timeout, which a full restart or a pause may cause): the events
		// of writes before the loss may have been on the way, and those
		// after were not its to see. Nothing is required of it, but what
		// it saw is still checked (no phantom, no duplicate, in order).
		w.End = w.Start
		w.Name += " (session expired)"
	}
	out := w.Watcher
	out.Events = append([]history.WatchEvent(nil), w.Events...)
	return out
}
