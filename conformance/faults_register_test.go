package conformance

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/arbor-coord/arbor/client"
	"github.com/arbor-coord/arbor/conformance/internal/history"
)

// registerKeys is how many registers the workload reads and writes: few,
// so that operations on one key overlap and race.
const registerKeys = 3

// TestFaultsRegister: concurrent clients get (after a sync), set and
// compare-and-set a few nodes while the nemesis kills, pauses and
// partitions members; the history of every key must be linearizable
// (porcupine), and every client's plain reads, served by its member
// without a sync, must never go back in time nor miss its own writes
// (ZooKeeper's sequential consistency).
func TestFaultsRegister(t *testing.T) {
	p, rng, c := faultTest(t, 1)

	setup := connect(t, c.ClientAddrs())
	root := scratchRoot(t, setup)
	key := func(i int) string { return fmt.Sprintf("%s/k%d", root, i) }
	for i := range registerKeys {
		if _, err := setup.Create(ctxT(t), key(i), []byte{}); err != nil {
			t.Fatal(err)
		}
	}

	rec := history.NewRecorder[history.RegisterInput, history.RegisterOutput](nil)
	var plain plainReads
	workers := newWorkers(c, 5)
	faults := faultRun(t, c, p, rng, func(ctx context.Context) {
		var mu sync.Mutex // guards rng
		var written int
		runWorkers(ctx, workers, func(ctx context.Context, w *worker, cl *client.Client) bool {
			mu.Lock()
			k, dice := rng.IntN(registerKeys), rng.IntN(100)
			written++
			value := fmt.Sprintf("w%d-%d", w.id, written)
			mu.Unlock()
			path := key(k)
			// A client id per session: a new session is a new
			// process to the checker.
			proc := w.id*1000 + w.sessions
			octx, cancel := opCtx(ctx)
			defer cancel()
			switch {
			case dice < 35: // a linearizable read: sync, then get
				op := rec.Invoke(proc, history.RegisterInput{Kind: history.Get, Key: path})
				err := cl.Sync(octx, path)
				var data []byte
				var st client.Stat
				if err == nil {
					data, st, err = cl.Get(octx, path)
				}
				op.Return(history.RegisterOutput{Value: string(data), Version: st.Version}, readOutcome(err))
				plain.wrote(w, path, st.Version, err)
				checkUnexpected(t, "sync+get", path, err)
			case dice < 50: // a plain read, served by the member at hand
				data, st, err := cl.Get(octx, path)
				plain.read(w, path, string(data), st.Version, err)
				checkUnexpected(t, "get", path, err)
			case dice < 75:
				op := rec.Invoke(proc, history.RegisterInput{Kind: history.Set, Key: path, Value: value})
				st, err := cl.Set(octx, path, []byte(value), -1)
				op.Return(history.RegisterOutput{Version: st.Version}, outcome(err))
				plain.wrote(w, path, st.Version, err)
				checkUnexpected(t, "set", path, err)
			default:
				version := plain.last(w, path)
				op := rec.Invoke(proc, history.RegisterInput{Kind: history.CAS, Key: path, Value: value, Version: version})
				st, err := cl.Set(octx, path, []byte(value), version)
				op.Return(history.RegisterOutput{Version: st.Version}, outcome(err))
				plain.wrote(w, path, st.Version, err)
				checkUnexpected(t, "cas", path, err)
			}
			return true
		})
	})

	// A last linearizable read of every key, on a healed cluster: a lost
	// acknowledged write shows here if nowhere else.
	final := connect(t, c.ClientAddrs())
	for i := range registerKeys {
		op := rec.Invoke(-1-i, history.RegisterInput{Kind: history.Get, Key: key(i)})
		err := final.Sync(ctxT(t), key(i))
		var data []byte
		var st client.Stat
		if err == nil {
			data, st, err = final.Get(ctxT(t), key(i))
		}
		if err != nil {
			t.Fatalf("final read of %s: %v", key(i), err)
		}
		op.Return(history.RegisterOutput{Value: string(data), Version: st.Version}, history.OK)
	}

	ops := rec.Ops()
	res := history.CheckRegister(ops, time.Minute)
	t.Log(res)
	violations := plain.violations
	if res.Verdict == history.NotLinearizable {
		violations++
		dir := artifactDir(t)
		if err := res.Save(dir); err != nil {
			t.Errorf("saving the history: %v", err)
		}
		t.Errorf("the register history is not linearizable (seed above); history and porcupine's visualization saved in %s", dir)
	}
	for _, v := range plain.reports {
		t.Errorf("plain reads: %s", v)
	}
	if acked := countOutcome(ops, history.OK); acked < 20 {
		t.Errorf("only %d operations were acknowledged: the workload did not run", acked)
	}
	report(t, history.Summary{Ops: len(ops) + plain.count, Faults: faults, Violations: violations})
}

// readOutcome maps a read's error to its outcome: a read that failed
// tells nothing, whatever the error.
func readOutcome(err error) history.Outcome {
	if err == nil {
		return history.OK
	}
	return history.Unknown
}

// checkUnexpected fails the test on an error no correct member answers
// this workload's requests with, whatever the faults.
func checkUnexpected(t *testing.T, op, path string, err error) {
	if err != nil && unexpected(err) {
		t.Errorf("%s %s: %v", op, path, err)
	}
}

// plainReads checks what ZooKeeper promises of reads served without a
// sync by whichever member a session is on: within one session, a key's
// version never goes back, and a read sees the session's own writes.
type plainReads struct {
	mu         sync.Mutex
	seen       map[string]int32 // "worker/session/key" -> the highest version the session saw or wrote
	count      int
	violations int
	reports    []string
}

func (p *plainReads) slot(w *worker, path string) string {
	return fmt.Sprintf("%d/%d/%s", w.id, w.sessions, path)
}

// last returns the highest version of path the worker's session has seen.
func (p *plainReads) last(w *worker, path string) int32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seen[p.slot(w, path)]
}

// wrote notes a version the session learned from a write or a
// linearizable read.
func (p *plainReads) wrote(w *worker, path string, version int32, err error) {
	if err != nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.seen == nil {
		p.seen = make(map[string]int32)
	}
	s := p.slot(w, path)
	p.seen[s] = max(p.seen[s], version)
}

// read checks a plain read against what the session saw before.
func (p *plainReads) read(w *worker, path, value string, version int32, err error) {
	if err != nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.count++
	if p.seen == nil {
		p.seen = make(map[string]int32)
	}
	s := p.slot(w, path)
	if prev := p.seen[s]; version < prev {
		p.violations++
		if len(p.reports) < 10 {
			p.reports = append(p.reports, fmt.Sprintf("worker %d, session %d: read %s at version %d (%q) after seeing version %d: reads went back in time",
				w.id, w.sessions, path, version, value, prev))
		}
	}
	p.seen[s] = max(p.seen[s], version)
}
