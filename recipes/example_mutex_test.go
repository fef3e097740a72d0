package recipes_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"sync"
	"time"

	"github.com/arbor-coord/arbor/client"
	"github.com/arbor-coord/arbor/recipes"
)

// Two workers take turns with a lock; each holds it while it works.
func ExampleMutex() {
	addr, stop := exampleMember()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, []string{addr})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(context.WithoutCancel(ctx))

	var wg sync.WaitGroup
	var mu sync.Mutex // orders the printing only
	jobs := 0
	for range 2 {
		wg.Go(func() {
			m := recipes.NewMutex(c, "/app/lock") // one value per holder
			if err := m.Lock(ctx); err != nil {
				log.Fatal(err)
			}
			defer m.Unlock(ctx)
			mu.Lock()
			jobs++
			fmt.Println("job", jobs, "runs alone")
			mu.Unlock()
		})
	}
	wg.Wait()

	m := recipes.NewMutex(c, "/app/lock")
	if err := m.TryLock(ctx); err != nil {
		log.Fatal(err)
	}
	other := recipes.NewMutex(c, "/app/lock")
	err = other.TryLock(ctx)
	fmt.Println("second TryLock:", errors.Is(err, recipes.ErrLocked))
	if err := m.Unlock(ctx); err != nil {
		log.Fatal(err)
	}
	// Output:
	// job 1 runs alone
	// job 2 runs alone
	// second TryLock: true
}

// storage stands for a resource guarded by a lock: it refuses a write
// whose fencing token is lower than one it has seen.
type storage struct {
	mu      sync.Mutex
	highest int64
}

func (s *storage) write(token int64, what string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if token < s.highest {
		return fmt.Errorf("write %q refused: token older than the last holder's", what)
	}
	s.highest = token
	return nil
}

// A holder passes its fencing token with every write. A holder that lost
// the lock without knowing it yet (its session expired while it was cut
// off) and writes afterwards is refused, because the next holder's token,
// already seen by the resource, is higher.
func ExampleMutex_Token() {
	addr, stop := exampleMember()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, []string{addr})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(context.WithoutCancel(ctx))

	store := &storage{}
	first := recipes.NewMutex(c, "/app/lock")
	if err := first.Lock(ctx); err != nil {
		log.Fatal(err)
	}
	stale := first.Token()
	fmt.Println(store.write(stale, "first"))
	// Here the first holder stalls, and the lock passes on (simulated by
	// an Unlock).
	if err := first.Unlock(ctx); err != nil {
		log.Fatal(err)
	}
	second := recipes.NewMutex(c, "/app/lock")
	if err := second.Lock(ctx); err != nil {
		log.Fatal(err)
	}
	defer second.Unlock(ctx)
	fmt.Println(store.write(second.Token(), "second"))
	fmt.Println(store.write(stale, "first, late"))
	// Output:
	// <nil>
	// <nil>
	// write "first, late" refused: token older than the last holder's
}

// Lost tells a holder that it must stop: here someone deletes the lock
// node.
func ExampleMutex_Lost() {
	addr, stop := exampleMember()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, []string{addr})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(context.WithoutCancel(ctx))

	m := recipes.NewMutex(c, "/app/lock")
	if err := m.Lock(ctx); err != nil {
		log.Fatal(err)
	}
	if err := c.Delete(ctx, m.Key(), -1); err != nil { // an operator's mistake
		log.Fatal(err)
	}
	select {
	case <-m.Lost():
		fmt.Println("lock lost: stop working")
	case <-ctx.Done():
		log.Fatal(ctx.Err())
	}
	fmt.Println(errors.Is(m.Unlock(ctx), recipes.ErrLockLost))
	// Output:
	// lock lost: stop working
	// true
}
