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

// A coordinator proposes a transfer to two banks; each votes, and acts
// only on the recorded decision.
func ExampleCoordinator() {
	addr, stop := exampleMember()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, []string{addr})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(context.WithoutCancel(ctx))

	// The participants, each on its own (here, sharing the client).
	decided := make(chan string, 2)
	for _, bank := range []string{"bank-a", "bank-b"} {
		go func() {
			p := recipes.NewParticipant(c, "/transfers", bank)
			pr, err := p.Next(ctx)
			if err != nil {
				log.Fatal(err)
			}
			// Prepare the local part of pr.Payload(), then vote.
			if err := pr.Vote(ctx, true, ""); err != nil {
				log.Fatal(err)
			}
			d, err := pr.Decision(ctx)
			if err != nil {
				log.Fatal(err)
			}
			// Apply or undo the prepared part as d says, then ack.
			if err := pr.Ack(ctx); err != nil {
				log.Fatal(err)
			}
			decided <- fmt.Sprintf("%s: %v %s", bank, d, pr.Payload())
		}()
	}

	co := recipes.NewCoordinator(c, "/transfers")
	tx, err := co.Begin(ctx, []string{"bank-a", "bank-b"}, []byte("move 10 from a to b"), 5*time.Second)
	if err != nil {
		log.Fatal(err)
	}
	d, err := tx.Wait(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("coordinator:", d)
	// The banks finish in either order.
	got := map[string]bool{}
	for range 2 {
		got[<-decided] = true
	}
	fmt.Println(got["bank-a: commit move 10 from a to b"], got["bank-b: commit move 10 from a to b"])
	// Once both have acknowledged, the transaction's nodes go.
	if err := tx.Cleanup(ctx); err != nil {
		log.Fatal(err)
	}
	_, err = c.Exists(ctx, tx.Path())
	fmt.Println("cleaned up:", errors.Is(err, client.ErrNoNode))
	// Output:
	// coordinator: commit
	// true true
	// cleaned up: true
}
