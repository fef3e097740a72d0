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

// Producers put jobs; consumers take each exactly once, in order.
func ExampleQueue() {
	addr, stop := exampleMember()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, []string{addr})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(context.WithoutCancel(ctx))

	q := recipes.NewQueue(c, "/jobs/queue")
	for _, job := range []string{"resize", "thumbnail", "upload"} {
		if err := q.Put(ctx, []byte(job)); err != nil {
			log.Fatal(err)
		}
	}
	n, err := q.Len(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(n, "jobs queued")
	for {
		job, err := q.TryTake(ctx) // Take would wait for the next job
		if errors.Is(err, recipes.ErrEmpty) {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("took", string(job))
	}
	// Output:
	// 3 jobs queued
	// took resize
	// took thumbnail
	// took upload
}

// Urgent jobs (lower priority numbers) jump the line; equal priorities
// keep their order.
func ExamplePriorityQueue() {
	addr, stop := exampleMember()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, []string{addr})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(context.WithoutCancel(ctx))

	q := recipes.NewPriorityQueue(c, "/jobs/priority")
	puts := []struct {
		job      string
		priority int
	}{{"report", 10}, {"backup", 10}, {"page on-call", 0}}
	for _, p := range puts {
		if err := q.Put(ctx, []byte(p.job), p.priority); err != nil {
			log.Fatal(err)
		}
	}
	for range puts {
		job, err := q.Take(ctx)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(string(job))
	}
	// Output:
	// page on-call
	// report
	// backup
}
