package recipes_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/arbor-coord/arbor/recipes"
)

// Count across processes: each Add is atomic.
func ExampleCounter() {
	c, stop := exampleMemberBarriers()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

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
