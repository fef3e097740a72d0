package conformance

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/arbor-coord/arbor/client"
	"github.com/arbor-coord/arbor/conformance/internal/cluster"
	"github.com/arbor-coord/arbor/conformance/internal/history"
	"github.com/arbor-coord/arbor/conformance/internal/proxy"
)

// ephemeralSessionTimeout is the owners' session timeout: short, so that
// cut-off owners expire within the run.
const ephemeralSessionTimeout = 2 * time.Second

// TestFaultsEphemeral: owners open sessions, create ephemeral nodes and
// then end their sessions, half by closing them and half by losing every
// connection until the cluster expires them; meanwhile readers read the
// ephemerals (after a sync, so linearizably) and the nemesis makes
// faults. Once a session's end is known (its close acknowledged, or a read
// that found one of its ephemerals gone), no read may find any of its
// ephemerals, and none may be left once the run is over: an ephemeral
// never outlives its session.
func TestFaultsEphemeral(t *testing.T) {
	p, rng, c := faultTest(t, 4)

	setup := connect(t, c.ClientAddrs())
	dir := scratchRoot(t, setup) + "/e"
	if _, err := setup.Create(ctxT(t), dir, nil); err != nil {
		t.Fatal(err)
	}

	rec := history.NewRecorder[string, history.EphemeralRead](nil)
	var ends history.SessionEnds
	reg := &ephemerals{owner: make(map[string]int64)}
	var cutMu sync.Mutex
	var cut []int64 // the sessions whose owners were cut off
	var sessions int

	faults := faultRun(t, c, p, rng, func(ctx context.Context) {
		var wg sync.WaitGroup
		var mu sync.Mutex // guards rng
		// Owners.
		for o := range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					mu.Lock()
					byCut, hold := rng.IntN(2) == 0, time.Duration(200+rng.IntN(1500))*time.Millisecond
					mu.Unlock()
					sid, err := ownEphemerals(ctx, c, dir, o, reg, hold, byCut, rec, &ends)
					if err != nil {
						t.Logf("owner %d: %v", o, err)
						_ = sleepCtx(ctx, 200*time.Millisecond)
						continue
					}
					cutMu.Lock()
					sessions++
					if byCut {
						cut = append(cut, sid)
					}
					cutMu.Unlock()
				}
			}()
		}
		// Readers.
		runWorkers(ctx, newWorkers(c, 3), func(ctx context.Context, w *worker, cl *client.Client) bool {
			mu.Lock()
			path, owner, ok := reg.pick(rng)
			mu.Unlock()
			if !ok {
				_ = sleepCtx(ctx, 20*time.Millisecond)
				return true
			}
			octx, cancel := opCtx(ctx)
			defer cancel()
			op := rec.Invoke(100+w.id*1000+w.sessions, path)
			err := cl.Sync(octx, path)
			var st client.Stat
			if err == nil {
				st, err = cl.Exists(octx, path)
			}
			switch {
			case err == nil:
				op.Return(history.EphemeralRead{Exists: true, Owner: st.EphemeralOwner}, history.OK)
			case errors.Is(err, client.ErrNoNode):
				op.Return(history.EphemeralRead{}, history.OK)
				// A linearizable read found an acknowledged ephemeral
				// gone: its session has ended, whatever its owner knows.
				ends.Ended(owner, rec.Now())
			default:
				op.Return(history.EphemeralRead{}, history.Unknown)
			}
			checkUnexpected(t, "exists", path, err)
			return true
		})
		wg.Wait()
	})

	// Every session cut off must expire: wait, bounded, for the cluster
	// to end them (a new leader gives each session a full timeout again,
	// so allow a few), then take them all as ended.
	final := connect(t, c.ClientAddrs())
	deadline := time.Now().Add(10*ephemeralSessionTimeout + 10*time.Second)
	var left map[string]int64
	for {
		left = listOwners(t, final, dir)
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, sid := range cut {
		ends.Ended(sid, rec.Now())
	}
	left = listOwners(t, final, dir)

	ops := rec.Ops()
	violations := history.CheckEphemerals(ends.Times(), ops, left)
	reportViolations(t, "ephemerals", violations, rec.Save)
	t.Logf("%d sessions (%d cut off), %d ephemerals, %d reads (%d found the node)",
		sessions, len(cut), reg.count(), len(ops), countIf(ops, func(op history.Op[string, history.EphemeralRead]) bool {
			return op.Outcome == history.OK && op.Output.Exists
		}))
	if sessions < 3 || len(ops) < 20 {
		t.Errorf("only %d sessions and %d reads: the workload did not run", sessions, len(ops))
	}
	report(t, history.Summary{Ops: len(ops) + reg.count(), Faults: faults, Violations: len(violations)})
}

// ownEphemerals is one owner's session: it connects through proxies of
// its own (one per member, so that it can be cut off from all), creates
// ephemerals, holds them, and ends the session by closing it or by
// cutting every connection until it expires. It returns the session id.
func ownEphemerals(ctx context.Context, c *cluster.Cluster, dir string, owner int, reg *ephemerals, hold time.Duration, byCut bool,
	rec *history.Recorder[string, history.EphemeralRead], ends *history.SessionEnds) (int64, error) {
	var proxies []*proxy.Proxy
	defer func() {
		for _, p := range proxies {
			p.Close()
		}
	}()
	var addrs []string
	for _, id := range c.Members() {
		p, err := proxy.New(proxy.Config{Target: c.ClientAddr(id)})
		if err != nil {
			return 0, err
		}
		proxies = append(proxies, p)
		addrs = append(addrs, p.Addr())
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cl, err := client.Connect(cctx, addrs, client.WithSessionTimeout(ephemeralSessionTimeout), client.WithBackoff(20*time.Millisecond, 300*time.Millisecond))
	if err != nil {
		return 0, err
	}
	sid := cl.SessionID()
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = cl.Close(cctx)
	}()
	for k := range 2 {
		octx, cancel := opCtx(ctx)
		path, err := cl.Create(octx, fmt.Sprintf("%s/o%d-%x-%d", dir, owner, sid, k), nil, client.WithMode(client.ModeEphemeral))
		cancel()
		if err != nil {
			break // an indeterminate create: the final listing covers it
		}
		reg.add(path, sid)
	}
	_ = sleepCtx(ctx, hold)
	if !byCut {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		// Close returns nil too when the client had already declared the
		// session expired on its own (no contact for the timeout): the
		// cluster's word, that the session is gone, is only a close
		// that ends the client as closed.
		if err := cl.Close(cctx); err == nil && errors.Is(cl.Err(), client.ErrClosed) {
			ends.Ended(sid, rec.Now())
		}
		return sid, nil
	}
	for _, p := range proxies {
		p.BlockAll()
	}
	// The client declares its session expired once it has heard nothing
	// for the whole timeout. That is its own guess, not the cluster's
	// word (the leader may expire it a little later), so it is not taken
	// as the session's end.
	select {
	case <-cl.Done():
	case <-time.After(10 * ephemeralSessionTimeout):
		return sid, fmt.Errorf("session %#x: cut off for %v and its client has not declared it expired", sid, 10*ephemeralSessionTimeout)
	}
	return sid, nil
}

// ephemerals is the registry of acknowledged ephemeral nodes, with their
// owners, that the readers pick from.
type ephemerals struct {
	mu    sync.Mutex
	paths []string
	owner map[string]int64
}

func (e *ephemerals) add(path string, sid int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.paths = append(e.paths, path)
	e.owner[path] = sid
}

// pick returns a random recent ephemeral: recent ones are likelier to be
// alive or just gone, where the bugs are.
func (e *ephemerals) pick(rng *rand.Rand) (string, int64, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.paths) == 0 {
		return "", 0, false
	}
	n := min(len(e.paths), 12)
	p := e.paths[len(e.paths)-1-rng.IntN(n)]
	return p, e.owner[p], true
}

func (e *ephemerals) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.paths)
}

// listOwners returns dir's children with their ephemeral owners, after a
// sync.
func listOwners(t *testing.T, c *client.Client, dir string) map[string]int64 {
	t.Helper()
	if err := c.Sync(ctxT(t), dir); err != nil {
		t.Fatalf("sync %s: %v", dir, err)
	}
	names, _, err := c.Children(ctxT(t), dir)
	if err != nil {
		t.Fatalf("children of %s: %v", dir, err)
	}
	out := make(map[string]int64, len(names))
	for _, name := range names {
		st, err := c.Exists(ctxT(t), dir+"/"+name)
		if errors.Is(err, client.ErrNoNode) {
			continue
		}
		if err != nil {
			t.Fatalf("exists %s/%s: %v", dir, name, err)
		}
		out[dir+"/"+name] = st.EphemeralOwner
	}
	return out
}
