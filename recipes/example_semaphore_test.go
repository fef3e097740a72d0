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

// A semaphore of two permits: a third contender waits, and one with
// another count is refused.
func ExampleSemaphore() {
	addr, stop := exampleMember()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, []string{addr})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(context.WithoutCancel(ctx))

	a, b := recipes.NewSemaphore(c, "/app/slots", 2), recipes.NewSemaphore(c, "/app/slots", 2)
	for _, s := range []*recipes.Semaphore{a, b} {
		if err := s.Acquire(ctx); err != nil {
			log.Fatal(err)
		}
	}
	third := recipes.NewSemaphore(c, "/app/slots", 2)
	fmt.Println("third TryAcquire:", errors.Is(third.TryAcquire(ctx), recipes.ErrLocked))
	wrong := recipes.NewSemaphore(c, "/app/slots", 5)
	fmt.Println("five permits:", errors.Is(wrong.Acquire(ctx), recipes.ErrPermitsMismatch))

	acquired := make(chan error, 1)
	go func() { acquired <- third.Acquire(ctx) }()
	if err := a.Release(ctx); err != nil {
		log.Fatal(err)
	}
	if err := <-acquired; err != nil {
		log.Fatal(err)
	}
	fmt.Println("third holds a permit")
	for _, s := range []*recipes.Semaphore{b, third} {
		if err := s.Release(ctx); err != nil {
			log.Fatal(err)
		}
	}
	// Output:
	// third TryAcquire: true
	// five permits: true
	// third holds a permit
}
