package recipes_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/arbor-coord/arbor/client"
	"github.com/arbor-coord/arbor/recipes"
)

// Hold workers back until the coordinator has finished setting up.
func ExampleBarrier() {
	addr, stop := exampleMember()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, []string{addr})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(context.WithoutCancel(ctx))

	b := recipes.NewBarrier(c, "/app/setup")
	if err := b.Set(ctx); err != nil {
		log.Fatal(err)
	}
	released := make(chan error)
	go func() { released <- b.Wait(ctx) }() // a worker, usually elsewhere

	fmt.Println("setting up")
	if err := b.Remove(ctx); err != nil {
		log.Fatal(err)
	}
	if err := <-released; err != nil {
		log.Fatal(err)
	}
	fmt.Println("worker released")
	// Output:
	// setting up
	// worker released
}
