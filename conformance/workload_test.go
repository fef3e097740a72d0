package conformance

import (
	"context"
	"errors"
	"flag"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/arbor-coord/arbor/client"
	"github.com/arbor-coord/arbor/conformance/internal/cluster"
	"github.com/arbor-coord/arbor/conformance/internal/history"
)

// totals adds up the fault tests' summaries for the run's one-line report.
var totals struct {
	ran                     atomic.Bool
	ops, faults, violations atomic.Int64
}

// report adds a test's summary to the run's totals and logs it.
func report(t *testing.T, s history.Summary) {
	t.Helper()
	totals.ran.Store(true)
	totals.ops.Add(int64(s.Ops))
	totals.faults.Add(int64(s.Faults))
	totals.violations.Add(int64(s.Violations))
	t.Log(s.String())
}

// runSummary is the run's one-line report, or "" if no fault test ran.
func runSummary() string {
	if !totals.ran.Load() {
		return ""
	}
	return history.Summary{
		Ops:        int(totals.ops.Load()),
		Faults:     int(totals.faults.Load()),
		Violations: int(totals.violations.Load()),
	}.String()
}

// artifactDir is where a failing test saves its histories: the test's
// artifact directory under -outputdir with -artifacts, else a directory
// that outlives the run (its path is logged).
func artifactDir(t *testing.T) string {
	if f := flag.Lookup("test.artifacts"); f != nil && f.Value.String() == "true" {
		return t.ArtifactDir()
	}
	dir, err := os.MkdirTemp("", "arbor-conformance-"+strings.ReplaceAll(t.Name(), "/", "-")+"-")
	if err != nil {
		t.Fatalf("artifact dir: %v", err)
	}
	return dir
}

// reportViolations fails the test with each violation a checker found
// (the first 20: one broken rule often shows hundreds of times), and saves
// the history for a post-mortem.
func reportViolations(t *testing.T, what string, vs []history.Violation, save func(dir string) error) {
	t.Helper()
	for i, v := range vs {
		if i == 20 {
			t.Errorf("... and %d more", len(vs)-i)
			break
		}
		t.Errorf("%s: %s", what, v)
	}
	if len(vs) == 0 {
		return
	}
	dir := artifactDir(t)
	if err := save(dir); err != nil {
		t.Errorf("saving the history: %v", err)
	}
	t.Errorf("history saved in %s", dir)
}

// outcome maps a write's error to what the history knows of it: an error
// that says the write certainly did nothing is a Fail; one that leaves it
// open (the connection, the session or the wait ended first) is Unknown.
func outcome(err error) history.Outcome {
	switch {
	case err == nil:
		return history.OK
	case errors.Is(err, client.ErrBadVersion), errors.Is(err, client.ErrNoNode), errors.Is(err, client.ErrNodeExists):
		return history.Fail
	default:
		return history.Unknown
	}
}

// definite reports whether err is one a correct member may answer under
// faults without being wrong: anything but a refusal of the request
// itself (bad arguments, auth), which would be a bug in the workload or in
// arbor.
func unexpected(err error) bool {
	return errors.Is(err, client.ErrBadArguments) || errors.Is(err, client.ErrNoAuth) || errors.Is(err, client.ErrInvalidACL)
}

// faultSessionTimeout is the session timeout of the fault workloads'
// clients: longer than the worst outage the nemesis makes (a full-cluster
// restart held 2.5 s, then an election, on a loaded machine), so that
// their sessions live through the faults, as a production timeout would.
const faultSessionTimeout = 10 * time.Second

// countOutcome returns how many of ops ended with o.
func countOutcome[I, O any](ops []history.Op[I, O], o history.Outcome) int {
	return countIf(ops, func(op history.Op[I, O]) bool { return op.Outcome == o })
}

// countIf returns how many of xs satisfy f.
func countIf[T any](xs []T, f func(T) bool) int {
	n := 0
	for _, x := range xs {
		if f(x) {
			n++
		}
	}
	return n
}

// worker is one client of a workload: it redials with a new session when
// its session ends, so a workload keeps its load through expiries.
type worker struct {
	id    int
	addrs []string // its members, its own first
	opts  []client.Option
	c     *client.Client
	// sessions counts the sessions it had.
	sessions int
}

// newWorkers returns n workers spread over c's members: worker i tries
// member i mod len first.
func newWorkers(c *cluster.Cluster, n int, opts ...client.Option) []*worker {
	addrs := c.ClientAddrs()
	ws := make([]*worker, n)
	for i := range ws {
		rot := append(append([]string(nil), addrs[i%len(addrs):]...), addrs[:i%len(addrs)]...)
		ws[i] = &worker{id: i, addrs: rot, opts: append([]client.Option{
			client.WithSessionTimeout(faultSessionTimeout),
			client.WithOrderedServers(),
			client.WithBackoff(20*time.Millisecond, 500*time.Millisecond),
		}, opts...)}
	}
	return ws
}

// client returns the worker's client, connecting a new session if it has
// none or its session ended.
func (w *worker) client(ctx context.Context) (*client.Client, error) {
	if w.c != nil {
		select {
		case <-w.c.Done():
			w.close()
		default:
			return w.c, nil
		}
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := client.Connect(cctx, w.addrs, w.opts...)
	if err != nil {
		return nil, err
	}
	w.c = c
	w.sessions++
	return c, nil
}

func (w *worker) close() {
	if w.c == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = w.c.Close(ctx)
	w.c = nil
}

// runWorkers runs each worker's loop until ctx ends or its step says stop,
// then closes their clients.
func runWorkers(ctx context.Context, ws []*worker, step func(ctx context.Context, w *worker, c *client.Client) bool) {
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer w.close()
			for ctx.Err() == nil {
				c, err := w.client(ctx)
				if err != nil {
					_ = sleepCtx(ctx, 100*time.Millisecond)
					continue
				}
				if !step(ctx, w, c) {
					return
				}
			}
		}()
	}
	wg.Wait()
}

// opCtx bounds one operation of a workload: long enough for an election,
// short enough that a client stuck behind a fault gives up and records
// the operation as indeterminate.
func opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
}

// faultTest starts a fault test: its profile, its seeded random source
// (stream tells the tests' streams apart) and a cluster of its own, with
// snapshots every 500 entries so that faults meet snapshots and log
// compaction.
func faultTest(t *testing.T, stream uint64) (profile, *rand.Rand, *cluster.Cluster) {
	t.Helper()
	p := faultProfile()
	rng := rand.New(rand.NewPCG(uint64(seed(t)), stream))
	t.Log(p)
	return p, rng, ownCluster(t, cluster.Options{SnapshotEntries: 500})
}

// faultRun runs a workload against c while a nemesis makes faults, for the
// profile's duration, then heals the cluster and checks that every member
// converges to one state. It returns the faults made.
func faultRun(t *testing.T, c *cluster.Cluster, p profile, rng *rand.Rand, workload func(ctx context.Context)) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), p.duration)
	defer cancel()
	n := newNemesis(t, c, rng.Int64())
	var made []string
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		made = n.run(ctx, p.cycles)
		// The workload runs on a little after the last fault heals, so
		// that the history ends on a healthy cluster.
		_ = sleepCtx(ctx, time.Second)
		cancel()
	}()
	workload(ctx)
	wg.Wait()
	t.Logf("faults: %s", strings.Join(made, ", "))
	converge(t, c)
	return len(made)
}

// converge waits for a leader and for equal state digests on every member.
func converge(t *testing.T, c *cluster.Cluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := c.WaitLeader(ctx); err != nil {
		t.Errorf("after healing: %v", err)
		return
	}
	if d, err := c.Converge(ctx); err != nil {
		t.Errorf("after healing: %v", err)
	} else {
		t.Logf("every member's state digest is %s", d[c.Members()[0]])
	}
	if exited := c.Exited(); len(exited) > 0 {
		t.Errorf("members exited on their own: %v", exited)
	}
}
