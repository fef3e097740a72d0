package recipes_test

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/arbor-coord/arbor/client"
	"github.com/arbor-coord/arbor/recipes"
)

// 10 clients share 3 permits: never more than 3 hold one at once, and
// every acquisition completes.
func TestSemaphoreBound(t *testing.T) {
	m := member(t)
	cs := connectN(t, []string{m.Addr()}, 10)
	ctx := ctxT(t, 60*time.Second)
	const permits, rounds = 3, 5
	var holders, most, total atomic.Int32
	errs := make(chan error, len(cs))
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Go(func() {
			s := recipes.NewSemaphore(c, "/sem", permits)
			for range rounds {
				if err := s.Acquire(ctx); err != nil {
					errs <- err
					return
				}
				n := holders.Add(1)
				for cur := most.Load(); n > cur && !most.CompareAndSwap(cur, n); cur = most.Load() {
				}
				if n > permits {
					errs <- fmt.Errorf("%d holders of %d permits", n, permits)
				}
				if isClosed(s.Lost()) {
					errs <- errors.New("Lost closed while held")
				}
				time.Sleep(2 * time.Millisecond)
				holders.Add(-1)
				total.Add(1)
				if err := s.Release(ctx); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if total.Load() != int32(len(cs)*rounds) {
		t.Fatalf("%d acquisitions, want %d", total.Load(), len(cs)*rounds)
	}
	t.Logf("at most %d holders at once", most.Load())
}

func TestSemaphoreTryAndMismatch(t *testing.T) {
	m := member(t)
	cs := connectN(t, []string{m.Addr()}, 3)
	ctx := ctxT(t, lockBound)
	a, b := recipes.NewSemaphore(cs[0], "/sem2", 2), recipes.NewSemaphore(cs[1], "/sem2", 2)
	for _, s := range []*recipes.Semaphore{a, b} {
		if err := s.TryAcquire(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Acquire(ctx); !errors.Is(err, recipes.ErrHeld) {
		t.Fatalf("Acquire while holding: %v, want ErrHeld", err)
	}
	third := recipes.NewSemaphore(cs[2], "/sem2", 2)
	if err := third.TryAcquire(ctx); !errors.Is(err, recipes.ErrLocked) {
		t.Fatalf("TryAcquire with every permit held: %v, want ErrLocked", err)
	}
	if err := third.Release(ctx); !errors.Is(err, recipes.ErrNotLocked) {
		t.Fatalf("Release without a permit: %v, want ErrNotLocked", err)
	}
	data, _, err := cs[2].Get(ctx, "/sem2")
	if err != nil || string(data) != "2" {
		t.Fatalf("directory data %q, %v; want the permit count 2", data, err)
	}

	// A contender with another count is refused and leaves nothing.
	for _, n := range []int{1, 3} {
		err := recipes.NewSemaphore(cs[2], "/sem2", n).TryAcquire(ctx)
		if !errors.Is(err, recipes.ErrPermitsMismatch) {
			t.Fatalf("permits %d against 2: %v, want ErrPermitsMismatch", n, err)
		}
		t.Log(err)
	}
	for _, n := range []int{0, -1} {
		if err := recipes.NewSemaphore(cs[2], "/sem2", n).Acquire(ctx); err == nil || errors.Is(err, recipes.ErrPermitsMismatch) {
			t.Fatalf("permits %d: %v, want an error about the count", n, err)
		}
	}
	if n := nodesUnder(t, cs[2], "/sem2"); n != 2 {
		t.Fatalf("%d lease nodes, want the 2 holders'", n)
	}

	// A waiter gets in when a permit is released.
	got := make(chan error, 1)
	go func() { got <- third.Acquire(ctx) }()
	eventually(t, "waiter queued", func() bool { return nodesUnder(t, cs[2], "/sem2") == 3 })
	if err := b.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	for _, s := range []*recipes.Semaphore{a, third} {
		if err := s.Release(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// A holder's session expires: its Lost is closed and a waiter takes the
// permit.
func TestSemaphoreHolderSessionExpires(t *testing.T) {
	m := member(t)
	addrs := []string{m.Addr()}
	shortC := connect(t, addrs, client.WithSessionTimeout(800*time.Millisecond))
	other := connect(t, addrs)
	ctx := ctxT(t, 40*time.Second)
	held := recipes.NewSemaphore(shortC, "/sem3", 1)
	if err := held.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	lost := held.Lost()
	waiter := recipes.NewSemaphore(other, "/sem3", 1)
	got := make(chan error, 1)
	go func() { got <- waiter.Acquire(ctx) }()
	eventually(t, "waiter queued", func() bool { return nodesUnder(t, other, "/sem3") == 2 })
	expire(t, m, shortC)
	select {
	case <-lost:
	case <-ctx.Done():
		t.Fatal("Lost not closed after the session expired")
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if err := waiter.Release(ctx); err != nil {
		t.Fatal(err)
	}
}
