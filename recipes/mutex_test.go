package recipes_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/arbor-coord/arbor/client"
	"github.com/arbor-coord/arbor/recipes"
)

// lockBound bounds every wait of the lock tests for a condition; the tests
// make no assertion about how fast anything happens.
const lockBound = 20 * time.Second

// nodesUnder returns the number of children of dir (0 if it is gone), read
// after a Sync so that it counts every write acknowledged before.
func nodesUnder(t *testing.T, c *client.Client, dir string) int {
	t.Helper()
	ctx := ctxT(t, lockBound)
	if err := c.Sync(ctx, dir); err != nil {
		t.Fatal(err)
	}
	children, _, err := c.Children(ctx, dir)
	if errors.Is(err, client.ErrNoNode) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return len(children)
}

// fencedCounter is the resource the contention tests guard: a node whose
// data is "TOKEN COUNT", the highest fencing token seen and the number of
// increments. An increment by a holder whose token is not above the stored
// one is an error: a stale holder acting after another took over.
type fencedCounter struct {
	path    string
	holders atomic.Int32 // holders inside the critical section right now
}

func newFencedCounter(t *testing.T, c *client.Client, path string) *fencedCounter {
	t.Helper()
	if _, err := c.Create(ctxT(t, lockBound), path, []byte("0 0"), client.WithParents()); err != nil {
		t.Fatal(err)
	}
	return &fencedCounter{path: path}
}

// increment is one critical section: it checks that it is alone, then
// reads, checks and writes the counter with its token.
func (f *fencedCounter) increment(ctx context.Context, c *client.Client, token int64) error {
	if n := f.holders.Add(1); n != 1 {
		f.holders.Add(-1)
		return fmt.Errorf("%d holders at once", n)
	}
	defer f.holders.Add(-1)
	data, stat, err := c.Get(ctx, f.path)
	if err != nil {
		return err
	}
	var seen, count int64
	if _, err := fmt.Sscanf(string(data), "%d %d", &seen, &count); err != nil {
		return fmt.Errorf("counter %q: %v", data, err)
	}
	if token <= seen {
		return fmt.Errorf("token %d not above the last one seen, %d", token, seen)
	}
	_, err = c.Set(ctx, f.path, []byte(fmt.Sprintf("%d %d", token, count+1)), stat.Version)
	return err
}

func (f *fencedCounter) count(t *testing.T, c *client.Client) int64 {
	t.Helper()
	ctx := ctxT(t, lockBound)
	if err := c.Sync(ctx, f.path); err != nil {
		t.Fatal(err)
	}
	data, _, err := c.Get(ctx, f.path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseInt(strings.Fields(string(data))[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// contend runs rounds critical sections on each client, each through its
// own Mutex on dir and lasting at least hold, and returns the first error.
func contend(ctx context.Context, cs []*client.Client, dir string, rounds int, hold time.Duration, f *fencedCounter) error {
	errs := make(chan error, len(cs))
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Go(func() {
			m := recipes.NewMutex(c, dir)
			for range rounds {
				if err := m.Lock(ctx); err != nil {
					errs <- fmt.Errorf("lock: %w", err)
					return
				}
				if m.Token() == 0 || m.Key() == "" || isClosed(m.Lost()) {
					errs <- fmt.Errorf("held, but token %d, key %q, lost %v", m.Token(), m.Key(), isClosed(m.Lost()))
					return
				}
				if err := f.increment(ctx, c, m.Token()); err != nil {
					errs <- fmt.Errorf("critical section: %w", err)
					return
				}
				time.Sleep(hold)
				if err := m.Unlock(ctx); err != nil {
					errs <- fmt.Errorf("unlock: %w", err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func TestMutexFencedCounter(t *testing.T) {
	m := member(t)
	cs := connectN(t, []string{m.Addr()}, 10)
	f := newFencedCounter(t, cs[0], "/fenced/counter")
	const rounds = 10
	if err := contend(ctxT(t, 60*time.Second), cs, "/fenced/lock", rounds, 0, f); err != nil {
		t.Fatal(err)
	}
	if got := f.count(t, cs[0]); got != int64(len(cs)*rounds) {
		t.Fatalf("count %d, want %d", got, len(cs)*rounds)
	}
	if n := nodesUnder(t, cs[0], "/fenced/lock"); n != 0 {
		t.Fatalf("%d lock nodes left behind", n)
	}
}

// A member of three stops while clients contend, the one the first
// client is on; its clients move to the others. No hold overlaps, every
// round completes, and the member comes back.
func TestMutexMemberStop(t *testing.T) {
	cl := cluster3(t)
	cl.WaitLeader()
	addrs := make([]string, 0, 3)
	for _, m := range cl.Members() {
		addrs = append(addrs, m.Addr())
	}
	cs := connectN(t, addrs, 8)
	f := newFencedCounter(t, cs[0], "/fenced/counter")
	const rounds = 8
	done := make(chan error, 1)
	ctx := ctxT(t, 90*time.Second)
	// Each hold lasts a little, so that the stop comes in the middle.
	go func() { done <- contend(ctx, cs, "/fenced/lock", rounds, 10*time.Millisecond, f) }()
	// Stop the member under the first client once contention is under
	// way, and start it again once it has gone on without it.
	eventually(t, "contention under way", func() bool { return f.count(t, cs[1]) >= 5 })
	id, _ := cs[0].Member()
	if id == 0 {
		id = cl.Leader().ID()
	}
	cl.Member(id).Stop()
	observer := cs[1]
	if oid, _ := observer.Member(); oid == id {
		observer = cs[len(cs)-1] // may be on the stopped member too: it moves
	}
	atStop := f.count(t, observer)
	t.Logf("member %d stopped after %d of %d rounds", id, atStop, len(cs)*rounds)
	eventually(t, "contention goes on without the stopped member", func() bool {
		return f.count(t, observer) >= min(atStop+10, int64(len(cs)*rounds))
	})
	cl.Member(id).Restart()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := f.count(t, cs[1]); got != int64(len(cs)*rounds) {
		t.Fatalf("count %d, want %d", got, len(cs)*rounds)
	}
}

func TestMutexFIFO(t *testing.T) {
	m := member(t)
	cs := connectN(t, []string{m.Addr()}, 7)
	ctx := ctxT(t, lockBound)
	holder := recipes.NewMutex(cs[0], "/fifo")
	if err := holder.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var order []int
	errs := make(chan error, len(cs))
	var wg sync.WaitGroup
	for i := 1; i < len(cs); i++ {
		wg.Go(func() {
			w := recipes.NewMutex(cs[i], "/fifo")
			if err := w.Lock(ctx); err != nil {
				errs <- err
				return
			}
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
			errs <- w.Unlock(ctx)
		})
		// Queue the waiters one at a time, so their order is known.
		eventually(t, fmt.Sprintf("waiter %d queued", i), func() bool { return nodesUnder(t, cs[0], "/fifo") == i+1 })
	}
	if err := holder.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for i, got := range order {
		if got != i+1 {
			t.Fatalf("waiters took the lock in the order %v, want 1 to %d", order, len(cs)-1)
		}
	}
}

func TestMutexTryLockAndMisuse(t *testing.T) {
	m := member(t)
	a, b := connect(t, []string{m.Addr()}), connect(t, []string{m.Addr()})
	ctx := ctxT(t, lockBound)
	ma, mb := recipes.NewMutex(a, "/try"), recipes.NewMutex(b, "/try")

	if ma.Key() != "" || ma.Token() != 0 || !isClosed(ma.Lost()) {
		t.Fatalf("not held: key %q token %d lost %v", ma.Key(), ma.Token(), isClosed(ma.Lost()))
	}
	if err := ma.Unlock(ctx); !errors.Is(err, recipes.ErrNotLocked) {
		t.Fatalf("unlock unheld: %v, want ErrNotLocked", err)
	}
	if err := ma.TryLock(ctx); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ma.Key(), "/try/_c_") || ma.Token() <= 0 || isClosed(ma.Lost()) {
		t.Fatalf("held: key %q token %d lost %v", ma.Key(), ma.Token(), isClosed(ma.Lost()))
	}
	if err := ma.Lock(ctx); !errors.Is(err, recipes.ErrHeld) {
		t.Fatalf("lock while held: %v, want ErrHeld", err)
	}
	if err := mb.TryLock(ctx); !errors.Is(err, recipes.ErrLocked) {
		t.Fatalf("trylock of a held lock: %v, want ErrLocked", err)
	}
	if n := nodesUnder(t, a, "/try"); n != 1 {
		t.Fatalf("%d nodes after a failed TryLock, want the holder's alone", n)
	}
	lost := ma.Lost()
	first := ma.Token()
	if err := ma.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if !isClosed(lost) {
		t.Fatal("Lost not closed by Unlock")
	}
	if err := mb.TryLock(ctx); err != nil {
		t.Fatal(err)
	}
	if mb.Token() <= first {
		t.Fatalf("next holder's token %d not above %d", mb.Token(), first)
	}

	// Two calls at once on one value: the second is refused.
	waiting := make(chan error, 1)
	go func() { waiting <- ma.Lock(ctx) }()
	eventually(t, "waiter queued", func() bool { return nodesUnder(t, a, "/try") == 2 })
	if err := ma.Lock(ctx); !errors.Is(err, recipes.ErrBusy) {
		t.Fatalf("concurrent lock: %v, want ErrBusy", err)
	}
	if err := mb.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-waiting; err != nil {
		t.Fatal(err)
	}
	if err := ma.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestMutexBadDir(t *testing.T) {
	m := member(t)
	c := connect(t, []string{m.Addr()})
	ctx := ctxT(t, lockBound)
	before, err := c.CountDescendants(ctx, "/")
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{"", "rel", "/a/", "/a//b", "/a/./b"} {
		err := recipes.NewMutex(c, dir).Lock(ctx)
		if err == nil {
			t.Errorf("Lock on %q: no error", dir)
			continue
		}
		t.Logf("Lock on %q: %v", dir, err)
	}
	if n, err := c.CountDescendants(ctx, "/"); err != nil || n != before {
		t.Fatalf("nodes below / after refused locks: %d (before: %d), %v", n, before, err)
	}
}

// A waiter whose ctx ends leaves the line; the one behind it, which was
// watching it, carries on and gets the lock.
func TestMutexCancelWhileWaiting(t *testing.T) {
	m := member(t)
	cs := connectN(t, []string{m.Addr()}, 3)
	ctx := ctxT(t, lockBound)
	holder := recipes.NewMutex(cs[0], "/cancel")
	if err := holder.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	cancelCtx, cancel := context.WithCancel(ctx)
	gaveUp := make(chan error, 1)
	go func() { gaveUp <- recipes.NewMutex(cs[1], "/cancel").Lock(cancelCtx) }()
	eventually(t, "first waiter queued", func() bool { return nodesUnder(t, cs[0], "/cancel") == 2 })
	next := recipes.NewMutex(cs[2], "/cancel")
	got := make(chan error, 1)
	go func() { got <- next.Lock(ctx) }()
	eventually(t, "second waiter queued", func() bool { return nodesUnder(t, cs[0], "/cancel") == 3 })
	cancel()
	if err := <-gaveUp; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Lock: %v, want context.Canceled", err)
	}
	eventually(t, "cancelled waiter's node removed", func() bool { return nodesUnder(t, cs[0], "/cancel") == 2 })
	if err := holder.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if err := next.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
}

// A waiter's session expires while it waits: its Lock returns the
// session's error, and the waiter behind it, which watched its node, gets
// the lock when the holder lets go.
func TestMutexWaiterSessionExpires(t *testing.T) {
	m := member(t)
	addrs := []string{m.Addr()}
	holderC, nextC := connect(t, addrs), connect(t, addrs)
	shortC := connect(t, addrs, client.WithSessionTimeout(800*time.Millisecond))
	ctx := ctxT(t, 40*time.Second)
	holder := recipes.NewMutex(holderC, "/expiry")
	if err := holder.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	shortErr := make(chan error, 1)
	go func() { shortErr <- recipes.NewMutex(shortC, "/expiry").Lock(ctx) }()
	eventually(t, "short-lived waiter queued", func() bool { return nodesUnder(t, holderC, "/expiry") == 2 })
	next := recipes.NewMutex(nextC, "/expiry")
	nextErr := make(chan error, 1)
	go func() { nextErr <- next.Lock(ctx) }()
	eventually(t, "next waiter queued", func() bool { return nodesUnder(t, holderC, "/expiry") == 3 })

	expire(t, m, shortC)
	if err := <-shortErr; !errors.Is(err, client.ErrSessionExpired) {
		t.Fatalf("Lock of an expired session: %v, want ErrSessionExpired", err)
	}
	eventually(t, "expired waiter's node gone", func() bool { return nodesUnder(t, holderC, "/expiry") == 2 })
	if err := holder.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-nextErr; err != nil {
		t.Fatal(err)
	}
	if err := next.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
}

// The holder's session expires: Lost is closed, the waiter gets the lock
// with a higher token, and the old holder's Unlock reports the loss.
func TestMutexHolderSessionExpires(t *testing.T) {
	m := member(t)
	addrs := []string{m.Addr()}
	shortC := connect(t, addrs, client.WithSessionTimeout(800*time.Millisecond))
	nextC := connect(t, addrs)
	ctx := ctxT(t, 40*time.Second)
	holder := recipes.NewMutex(shortC, "/expiry")
	if err := holder.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	lost, token := holder.Lost(), holder.Token()
	next := recipes.NewMutex(nextC, "/expiry")
	nextErr := make(chan error, 1)
	go func() { nextErr <- next.Lock(ctx) }()
	eventually(t, "waiter queued", func() bool { return nodesUnder(t, nextC, "/expiry") == 2 })

	expire(t, m, shortC)
	select {
	case <-lost:
	case <-time.After(lockBound):
		t.Fatal("Lost not closed after the session expired")
	}
	if err := <-nextErr; err != nil {
		t.Fatal(err)
	}
	if next.Token() <= token {
		t.Fatalf("token %d after an expired holder's %d", next.Token(), token)
	}
	if err := holder.Unlock(ctx); !errors.Is(err, recipes.ErrLockLost) {
		t.Fatalf("Unlock after the session expired: %v, want ErrLockLost", err)
	}
	if holder.Key() != "" || !isClosed(holder.Lost()) {
		t.Fatal("still held after Unlock")
	}
	if err := next.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
}

// Someone deletes the holder's node: Lost is closed, and Unlock reports
// the loss.
func TestMutexNodeDeleted(t *testing.T) {
	m := member(t)
	a, admin := connect(t, []string{m.Addr()}), connect(t, []string{m.Addr()})
	ctx := ctxT(t, lockBound)
	mu := recipes.NewMutex(a, "/deleted")
	if err := mu.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	if err := admin.Delete(ctx, mu.Key(), -1); err != nil {
		t.Fatal(err)
	}
	select {
	case <-mu.Lost():
	case <-ctx.Done():
		t.Fatal("Lost not closed after the lock node was deleted")
	}
	if err := mu.Unlock(ctx); !errors.Is(err, recipes.ErrLockLost) {
		t.Fatalf("Unlock: %v, want ErrLockLost", err)
	}
	// The value can lock again.
	if err := mu.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	if err := mu.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
}
