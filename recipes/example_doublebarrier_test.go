package recipes_test

import (
	"context"
	"fmt"
	"log"
	"sync"
	"time"

	"github.com/arbor-coord/arbor/client"
	"github.com/arbor-coord/arbor/recipes"
)

// Three workers start a computation together and finish it together.
// Each would usually run in its own process with its own client.
func ExampleDoubleBarrier() {
	addr, stop := exampleMember()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, []string{addr})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(context.WithoutCancel(ctx))

	const workers = 3
	var wg sync.WaitGroup
	results := make([]string, workers)
	for i := range workers {
		b := recipes.NewDoubleBarrier(c, "/jobs/round", workers)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := b.Enter(ctx); err != nil {
				log.Fatal(err)
			}
			results[i] = fmt.Sprintf("worker %d computed", i) // the work, all at once
			if err := b.Leave(ctx); err != nil {
				log.Fatal(err)
			}
		}()
	}
	wg.Wait()
	for _, r := range results {
		fmt.Println(r)
	}
	// Output:
	// worker 0 computed
	// worker 1 computed
	// worker 2 computed
}
