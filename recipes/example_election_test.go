package recipes_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/arbor-coord/arbor/client"
	"github.com/arbor-coord/arbor/recipes"
)

// Two instances of a service elect a leader: the second takes over when the
// first resigns, with a higher fencing token, and learns through Lost when
// its own leadership ends with its session.
func ExampleElection() {
	addr, stop := exampleMember()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	connect := func() *client.Client {
		c, err := client.Connect(ctx, []string{addr})
		if err != nil {
			log.Fatal(err)
		}
		return c
	}
	ca, cb := connect(), connect()
	defer ca.Close(context.WithoutCancel(ctx))

	a := recipes.NewElection(ca, "/service/leader")
	b := recipes.NewElection(cb, "/service/leader")
	if err := a.Campaign(ctx, []byte("a:7000")); err != nil {
		log.Fatal(err)
	}
	fmt.Println("a leads:", a.IsLeader())
	bLeads := make(chan error, 1)
	go func() { bLeads <- b.Campaign(ctx, []byte("b:7000")) }()

	// The leader moves to another port without an election.
	if err := a.Proclaim(ctx, []byte("a:7001")); err != nil {
		log.Fatal(err)
	}
	l, err := b.Leader(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("leader: %s\n", l.Value)

	if err := a.Resign(ctx); err != nil {
		log.Fatal(err)
	}
	if err := <-bLeads; err != nil {
		log.Fatal(err)
	}
	fmt.Println("b leads:", b.IsLeader(), "with a higher token:", b.Token() > l.Token)

	// b's session ends (here by Close; usually by expiry): Lost says so.
	if err := cb.Close(ctx); err != nil {
		log.Fatal(err)
	}
	<-b.Lost()
	fmt.Println("b lost its leadership:", cb.Err())
	// Output:
	// a leads: true
	// leader: a:7001
	// b leads: true with a higher token: true
	// b lost its leadership: arbor: client closed
}

// An observer follows the leader, and the value it advertises, without
// campaigning.
func ExampleElection_Observe() {
	addr, stop := exampleMember()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, []string{addr})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(context.WithoutCancel(ctx))

	octx, stopObserving := context.WithCancel(ctx)
	defer stopObserving()
	leaders := recipes.NewElection(c, "/jobs/leader").Observe(octx)

	a := recipes.NewElection(c, "/jobs/leader")
	b := recipes.NewElection(c, "/jobs/leader")
	if err := a.Campaign(ctx, []byte("worker-a")); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", (<-leaders).Value)
	if err := a.Proclaim(ctx, []byte("worker-a (draining)")); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", (<-leaders).Value)
	bLeads := make(chan error, 1)
	go func() { bLeads <- b.Campaign(ctx, []byte("worker-b")) }()
	if err := a.Resign(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", (<-leaders).Value)
	if err := <-bLeads; err != nil {
		log.Fatal(err)
	}
	// Output:
	// worker-a
	// worker-a (draining)
	// worker-b
}
