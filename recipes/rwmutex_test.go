package recipes_test

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/arbor-coord/arbor/recipes"
)

func TestRWMutexReadersShareWriterExcludes(t *testing.T) {
	m := member(t)
	cs := connectN(t, []string{m.Addr()}, 5)
	ctx := ctxT(t, lockBound)
	readers := make([]*recipes.RWMutex, 4)
	for i := range readers {
		readers[i] = recipes.NewRWMutex(cs[i], "/rw")
		// Each read lock is granted while the others are held.
		if err := readers[i].RLock(ctx); err != nil {
			t.Fatal(err)
		}
	}
	w := recipes.NewRWMutex(cs[4], "/rw")
	if err := w.TryLock(ctx); !errors.Is(err, recipes.ErrLocked) {
		t.Fatalf("TryLock with readers in: %v, want ErrLocked", err)
	}
	if err := readers[0].Unlock(ctx); !errors.Is(err, recipes.ErrNotLocked) {
		t.Fatalf("Unlock of a read hold: %v, want ErrNotLocked", err)
	}
	locked := make(chan error, 1)
	go func() { locked <- w.Lock(ctx) }()
	eventually(t, "writer queued", func() bool { return nodesUnder(t, cs[0], "/rw") == 5 })
	for i, r := range readers {
		select {
		case err := <-locked:
			t.Fatalf("writer got the lock (%v) with %d readers in", err, len(readers)-i)
		default:
		}
		if err := r.RUnlock(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-locked; err != nil {
		t.Fatal(err)
	}
	if err := readers[0].TryRLock(ctx); !errors.Is(err, recipes.ErrLocked) {
		t.Fatalf("TryRLock with a writer in: %v, want ErrLocked", err)
	}
	if err := w.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if err := readers[0].TryRLock(ctx); err != nil {
		t.Fatal(err)
	}
	if err := readers[0].RUnlock(ctx); err != nil {
		t.Fatal(err)
	}
}

// A writer waiting behind a reader keeps out the readers that come after
// it: they get in once the writer is done.
func TestRWMutexWriterFairness(t *testing.T) {
	m := member(t)
	cs := connectN(t, []string{m.Addr()}, 4)
	ctx := ctxT(t, lockBound)
	first := recipes.NewRWMutex(cs[0], "/rwfair")
	if err := first.RLock(ctx); err != nil {
		t.Fatal(err)
	}
	var events []string
	var mu sync.Mutex
	note := func(s string) {
		mu.Lock()
		events = append(events, s)
		mu.Unlock()
	}
	w := recipes.NewRWMutex(cs[1], "/rwfair")
	wDone := make(chan error, 1)
	go func() {
		if err := w.Lock(ctx); err != nil {
			wDone <- err
			return
		}
		note("writer in")
		time.Sleep(50 * time.Millisecond) // give a wrongly admitted reader a chance to show
		note("writer out")
		wDone <- w.Unlock(ctx)
	}()
	eventually(t, "writer queued", func() bool { return nodesUnder(t, cs[0], "/rwfair") == 2 })
	if err := recipes.NewRWMutex(cs[2], "/rwfair").TryRLock(ctx); !errors.Is(err, recipes.ErrLocked) {
		t.Fatalf("TryRLock behind a waiting writer: %v, want ErrLocked", err)
	}
	late := recipes.NewRWMutex(cs[3], "/rwfair")
	rDone := make(chan error, 1)
	go func() {
		if err := late.RLock(ctx); err != nil {
			rDone <- err
			return
		}
		note("late reader in")
		rDone <- late.RUnlock(ctx)
	}()
	eventually(t, "late reader queued", func() bool { return nodesUnder(t, cs[0], "/rwfair") == 3 })
	if err := first.RUnlock(ctx); err != nil {
		t.Fatal(err)
	}
	for _, ch := range []chan error{wDone, rDone} {
		if err := <-ch; err != nil {
			t.Fatal(err)
		}
	}
	if fmt.Sprint(events) != "[writer in writer out late reader in]" {
		t.Fatalf("events %v, want the writer before the late reader", events)
	}
}

// Readers and writers on 8 clients: a writer is always alone, and readers
// do share.
func TestRWMutexContention(t *testing.T) {
	m := member(t)
	cs := connectN(t, []string{m.Addr()}, 8)
	ctx := ctxT(t, 60*time.Second)
	var readers, writers, maxReaders atomic.Int32
	errs := make(chan error, len(cs))
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Go(func() {
			rw := recipes.NewRWMutex(c, "/rwload")
			for round := range 8 {
				if (i+round)%4 == 0 {
					if err := rw.Lock(ctx); err != nil {
						errs <- err
						return
					}
					if w := writers.Add(1); w != 1 || readers.Load() != 0 {
						errs <- fmt.Errorf("writer in with %d writers and %d readers", w, readers.Load())
					}
					time.Sleep(time.Millisecond)
					writers.Add(-1)
					if err := rw.Unlock(ctx); err != nil {
						errs <- err
						return
					}
					continue
				}
				if err := rw.RLock(ctx); err != nil {
					errs <- err
					return
				}
				n := readers.Add(1)
				for cur := maxReaders.Load(); n > cur && !maxReaders.CompareAndSwap(cur, n); cur = maxReaders.Load() {
				}
				if writers.Load() != 0 {
					errs <- fmt.Errorf("reader in with a writer")
				}
				time.Sleep(5 * time.Millisecond)
				readers.Add(-1)
				if err := rw.RUnlock(ctx); err != nil {
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
	t.Logf("at most %d readers at once", maxReaders.Load())
	if n := nodesUnder(t, cs[0], "/rwload"); n != 0 {
		t.Fatalf("%d nodes left behind", n)
	}
}
