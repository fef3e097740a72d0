package recipes_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/arbor-coord/arbor/client"
	"github.com/arbor-coord/arbor/recipes"
)

// Readers share the lock; a writer waits for them and keeps later readers
// out while it waits.
func ExampleRWMutex() {
	addr, stop := exampleMember()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, []string{addr})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(context.WithoutCancel(ctx))

	r1, r2 := recipes.NewRWMutex(c, "/app/rw"), recipes.NewRWMutex(c, "/app/rw")
	for _, r := range []*recipes.RWMutex{r1, r2} {
		if err := r.RLock(ctx); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println("two readers in")
	w := recipes.NewRWMutex(c, "/app/rw")
	fmt.Println("writer TryLock:", errors.Is(w.TryLock(ctx), recipes.ErrLocked))

	locked := make(chan error, 1)
	go func() { locked <- w.Lock(ctx) }()
	for _, r := range []*recipes.RWMutex{r1, r2} {
		if err := r.RUnlock(ctx); err != nil {
			log.Fatal(err)
		}
	}
	if err := <-locked; err != nil {
		log.Fatal(err)
	}
	fmt.Println("writer in")
	if err := w.Unlock(ctx); err != nil {
		log.Fatal(err)
	}
	// Output:
	// two readers in
	// writer TryLock: true
	// writer in
}
