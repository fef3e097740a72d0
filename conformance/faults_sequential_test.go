package conformance

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path"
	"sync"
	"testing"
	"time"

	"github.com/arbor-coord/arbor/client"
	"github.com/arbor-coord/arbor/conformance/internal/history"
)

// TestFaultsSequential: concurrent clients create sequential children of
// one node while the nemesis makes faults and, besides, every client's
// connection is cut every few hundred milliseconds, between requests and
// their responses. The client resumes its session and sends its pending
// creates again; arbor must apply each exactly once: no acknowledged
// create lost, no create applied twice, no name given twice, and names
// in the order the creates were made.
func TestFaultsSequential(t *testing.T) {
	p, rng, c := faultTest(t, 2)

	setup := connect(t, c.ClientAddrs())
	parent := scratchRoot(t, setup) + "/q"
	if _, err := setup.Create(ctxT(t), parent, nil); err != nil {
		t.Fatal(err)
	}

	rec := history.NewRecorder[string, string](nil)
	cutRng := rand.New(rand.NewPCG(rng.Uint64(), 3))
	var cuts int
	faults := faultRun(t, c, p, rng, func(ctx context.Context) {
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			cuts = cutClients(ctx, c, cutRng, 300*time.Millisecond)
		}()
		n := 0
		var mu sync.Mutex
		runWorkers(ctx, newWorkers(c, 4), func(ctx context.Context, w *worker, cl *client.Client) bool {
			mu.Lock()
			n++
			data := fmt.Sprintf("w%d-%d", w.id, n)
			mu.Unlock()
			octx, cancel := opCtx(ctx)
			defer cancel()
			op := rec.Invoke(w.id*1000+w.sessions, data)
			name, err := cl.Create(octx, parent+"/n-", []byte(data), client.WithMode(client.ModePersistentSequential))
			op.Return(path.Base(name), outcome(err))
			checkUnexpected(t, "create", parent, err)
			return true
		})
		wg.Wait()
	})
	t.Logf("client connections cut %d times", cuts)

	children := listData(t, connect(t, c.ClientAddrs()), parent)
	ops := rec.Ops()
	violations := history.CheckSequential(ops, children)
	reportViolations(t, "sequential creates", violations, rec.Save)
	acked := countOutcome(ops, history.OK)
	t.Logf("%d creates, %d acknowledged, %d indeterminate, %d children", len(ops), acked, countOutcome(ops, history.Unknown), len(children))
	if acked < 20 {
		t.Errorf("only %d creates were acknowledged: the workload did not run", acked)
	}
	report(t, history.Summary{Ops: len(ops), Faults: faults + cuts, Violations: len(violations)})
}

// listData returns the children of parent with their data, read after a
// sync so that the listing is current.
func listData(t *testing.T, c *client.Client, parent string) map[string]string {
	t.Helper()
	if err := c.Sync(ctxT(t), parent); err != nil {
		t.Fatalf("sync %s: %v", parent, err)
	}
	names, _, err := c.Children(ctxT(t), parent)
	if err != nil {
		t.Fatalf("children of %s: %v", parent, err)
	}
	out := make(map[string]string, len(names))
	const batch = 256
	for len(names) > 0 {
		n := min(batch, len(names))
		ops := make([]client.ReadOp, n)
		for i, name := range names[:n] {
			ops[i] = client.GetOp(parent + "/" + name)
		}
		res, err := c.ReadMulti(ctxT(t), ops...)
		if err != nil {
			t.Fatalf("reading the children of %s: %v", parent, err)
		}
		for i, r := range res {
			if r.Err != nil {
				t.Fatalf("reading %s: %v", names[i], r.Err)
			}
			out[names[i]] = string(r.Data)
		}
		names = names[n:]
	}
	return out
}
