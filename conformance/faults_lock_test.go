package conformance

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/arbor-coord/arbor/client"
	"github.com/arbor-coord/arbor/conformance/internal/history"
	"github.com/arbor-coord/arbor/recipes"
)

// TestFaultsLock: workers contend for one recipes.Mutex while the nemesis
// makes faults. Each holder, while it holds the lock, reads and updates a
// fenced resource: an in-process stand-in for what a lock guards, which
// refuses a fencing token lower than the highest it has seen.
//
// Checked, with every worker in this process on one clock:
//   - holds never overlap: from Lock's return to the call of Unlock, no other
//     worker holds the lock, unless the earlier hold was lost (its session
//     ended), which fencing is for;
//   - the resource never refuses a holder that did not lose its lock;
//   - the tokens of successive holds increase;
//   - no update of the resource is lost: it ends at the number it accepted.
func TestFaultsLock(t *testing.T) {
	p, rng, c := faultTest(t, 5)
	setup := connect(t, c.ClientAddrs())
	dir := scratchRoot(t, setup) + "/lock"

	var (
		mu    sync.Mutex
		holds []hold
	)
	res := &fencedResource{}
	faults := faultRun(t, c, p, rng, func(ctx context.Context) {
		ws := newWorkers(c, 5)
		mutexes := make(map[*client.Client]*recipes.Mutex)
		var mmu sync.Mutex
		runWorkers(ctx, ws, func(ctx context.Context, w *worker, cl *client.Client) bool {
			// One Mutex per session: a Mutex value is one contender on
			// one client.
			mmu.Lock()
			m := mutexes[cl]
			if m == nil {
				m = recipes.NewMutex(cl, dir)
				mutexes[cl] = m
			}
			mmu.Unlock()
			lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			err := m.Lock(lctx)
			cancel()
			if err != nil {
				checkUnexpected(t, "lock", dir, err)
				return true
			}
			lost := m.Lost()
			h := hold{worker: w.id, token: m.Token(), acquired: time.Now()}
			h.accessed = res.update(h.token, time.Duration(rand.N(5))*time.Millisecond)
			h.released = time.Now()
			select {
			case <-lost:
				h.lost = true
			default:
			}
			// An Unlock that finds the lock gone also means the hold was
			// lost, at a moment the worker cannot know.
			if err := unlock(ctx, m); errors.Is(err, recipes.ErrLockLost) || errors.Is(err, client.ErrSessionExpired) {
				h.lost = true
			}
			mu.Lock()
			holds = append(holds, h)
			mu.Unlock()
			return true
		})
	})

	violations := checkHolds(holds)
	for i, v := range violations {
		if i == 20 {
			t.Errorf("... and %d more", len(violations)-i)
			break
		}
		t.Errorf("lock: %s", v)
	}
	if got, want := res.value, res.accepted; got != want {
		t.Errorf("the resource holds %d after %d accepted updates: an update was lost", got, want)
		violations = append(violations, "lost update")
	}
	lost := countIf(holds, func(h hold) bool { return h.lost })
	t.Logf("%d holds (%d lost with their session), resource: %d updates accepted, %d refused by the fence", len(holds), lost, res.accepted, res.refused)
	if len(holds) < 10 {
		t.Errorf("only %d holds: the workload did not run", len(holds))
	}
	report(t, history.Summary{Ops: len(holds), Faults: faults, Violations: len(violations)})
}

// hold is one acquisition of the lock, as its worker saw it.
type hold struct {
	worker             int
	token              int64
	acquired, released time.Time // Lock returned; Unlock about to be called
	accessed           bool      // the resource accepted the hold's update
	lost               bool      // the hold ended with its session or its node
}

// checkHolds returns a line per broken rule of TestFaultsLock.
func checkHolds(holds []hold) []string {
	hs := slices.Clone(holds)
	slices.SortFunc(hs, func(a, b hold) int { return a.acquired.Compare(b.acquired) })
	var out []string
	for i, h := range hs {
		if !h.accessed && !h.lost {
			out = append(out, fmt.Sprintf("worker %d (token %d) was refused by the fence but never lost its lock", h.worker, h.token))
		}
		for _, g := range hs[:i] {
			if g.lost || !g.released.After(h.acquired) {
				continue
			}
			out = append(out, fmt.Sprintf("worker %d acquired (token %d) at %s while worker %d held it (token %d, %s to %s)",
				h.worker, h.token, h.acquired.Format(time.StampMicro), g.worker, g.token, g.acquired.Format(time.StampMicro), g.released.Format(time.StampMicro)))
		}
		if i > 0 && !hs[i-1].lost && !h.lost && h.token <= hs[i-1].token {
			out = append(out, fmt.Sprintf("token %d of worker %d does not increase on token %d of the hold before it", h.token, h.worker, hs[i-1].token))
		}
	}
	return out
}

// unlock releases m, retrying a few times while the session lives (a lock
// left held stalls the others until the session ends), and returns the
// last attempt's error.
func unlock(ctx context.Context, m *recipes.Mutex) error {
	var err error
	for range 5 {
		uctx, cancel := opCtx(ctx)
		err = m.Unlock(uctx)
		cancel()
		if err == nil || errors.Is(err, recipes.ErrNotLocked) || errors.Is(err, recipes.ErrLockLost) ||
			errors.Is(err, client.ErrSessionExpired) || errors.Is(err, client.ErrClosed) {
			return err
		}
	}
	return err
}

// fencedResource is what a lock guards, with fencing: it refuses any
// access with a token lower than the highest it has seen.
type fencedResource struct {
	mu                sync.Mutex
	highest           int64
	value             int
	accepted, refused int
}

// update reads the value with token, waits pause, and writes it back plus
// one, as a holder's read-modify-write would; it reports whether both
// accesses were accepted.
func (r *fencedResource) update(token int64, pause time.Duration) bool {
	v, ok := r.access(token, nil)
	if !ok {
		return false
	}
	time.Sleep(pause)
	_, ok = r.access(token, func(cur int) int {
		if cur != v {
			// Another holder wrote in between with a token no higher
			// than ours: the fence failed.
			panic(fmt.Sprintf("fenced resource: value changed from %d to %d under token %d", v, cur, token))
		}
		return v + 1
	})
	return ok
}

func (r *fencedResource) access(token int64, write func(int) int) (int, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if token < r.highest {
		r.refused++
		return 0, false
	}
	r.highest = token
	if write != nil {
		r.value = write(r.value)
		r.accepted++
	}
	return r.value, true
}
