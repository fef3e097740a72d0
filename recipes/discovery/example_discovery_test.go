package discovery_test

import (
	"context"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/arbor-coord/arbor/client"
	"github.com/arbor-coord/arbor/recipes/discovery"
	"github.com/arbor-coord/arbor/server/servertest"
)

// exampleMember starts a member in-process for an example. Outside tests, run
// `go run ./cmd/arbor server` and use "127.0.0.1:7181".
func exampleMember() (addr string, stop func()) { return servertest.StartExample() }

// Three instances of a service register; a client watches the service and
// sends its calls round-robin; one instance leaves and the calls go to the
// others.
func Example() {
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

	// Each instance registers on its own session: when its process
	// dies, its registration goes with the session.
	var regs []*discovery.Registration
	for i, a := range []string{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"} {
		c := connect()
		defer c.Close(context.WithoutCancel(ctx))
		r, err := discovery.Register(ctx, c, "/services", "payments", discovery.Instance{ID: fmt.Sprintf("pay-%d", i+1), Addr: a})
		if err != nil {
			log.Fatal(err)
		}
		regs = append(regs, r)
	}

	c := connect()
	defer c.Close(context.WithoutCancel(ctx))
	svc, err := discovery.Watch(ctx, c, "/services", "payments")
	if err != nil {
		log.Fatal(err)
	}
	defer svc.Close(ctx)

	rr := discovery.NewRoundRobin()
	call := func() {
		inst, done, err := svc.Pick(rr)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("call", inst.ID, "at", inst.Addr)
		done(nil) // the call's outcome, for balancers that count
	}
	for range 4 {
		call()
	}

	// pay-2 leaves; the watcher sees it go.
	if err := regs[1].Deregister(ctx); err != nil {
		log.Fatal(err)
	}
	for insts := range svc.Changes() {
		if len(insts) == 2 {
			break
		}
	}
	for range 3 {
		call()
	}
	// Output:
	// call pay-1 at 10.0.0.1:8080
	// call pay-2 at 10.0.0.2:8080
	// call pay-3 at 10.0.0.3:8080
	// call pay-1 at 10.0.0.1:8080
	// call pay-3 at 10.0.0.3:8080
	// call pay-1 at 10.0.0.1:8080
	// call pay-3 at 10.0.0.3:8080
}

// Nginx's smooth weighted round-robin spreads an instance's extra weight
// evenly instead of sending it a burst.
func ExampleNewSmoothWeighted() {
	insts := []discovery.Instance{
		{ID: "a", Addr: "10.0.0.1:80", Weight: 5},
		{ID: "b", Addr: "10.0.0.2:80"}, // weight 0 counts as 1
		{ID: "c", Addr: "10.0.0.3:80", Weight: 1},
	}
	b := discovery.NewSmoothWeighted()
	var picks []string
	for range 7 {
		inst, done, _ := b.Pick(insts)
		done(nil)
		picks = append(picks, inst.ID)
	}
	fmt.Println(strings.Join(picks, " "))
	// Output:
	// a a b a c a a
}
