package recipes_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/arbor-coord/arbor/client"
	"github.com/arbor-coord/arbor/recipes"
)

// Count across processes: each Add is atomic.
func ExampleCounter() {
	addr, stop := exampleMember()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, []string{addr})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(context.WithoutCancel(ctx))

	hits := recipes.NewCounter(c, "/stats/hits")
	if _, err := hits.Add(ctx, 5); err != nil { // made at 0 if missing
		log.Fatal(err)
	}
	v, err := hits.Add(ctx, -2)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("hits:", v)
	// Output:
	// hits: 3
}
