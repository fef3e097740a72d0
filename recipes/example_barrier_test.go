package recipes_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/arbor-coord/arbor/client"
	"github.com/arbor-coord/arbor/recipes"
	"github.com/arbor-coord/arbor/server"
)

// exampleMemberBarriers starts an arbor member for an example, in-process
// on a free loopback port with its data in a temporary directory, connects
// a client to it, and returns the client and the function that closes it
// and stops the member. Outside tests, run `arbor server` and connect to
// "127.0.0.1:7181".
func exampleMemberBarriers() (*client.Client, func()) {
	dir, err := os.MkdirTemp("", "arbor-example-")
	if err != nil {
		log.Fatal(err)
	}
	srv, err := server.New(server.Config{DataDir: dir, Listen: "127.0.0.1:0"})
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	connectCtx, cancelConnect := context.WithTimeout(ctx, 10*time.Second)
	defer cancelConnect()
	c, err := client.Connect(connectCtx, []string{srv.Addr()})
	if err != nil {
		log.Fatal(err)
	}
	return c, func() {
		closeCtx, cancelClose := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancelClose()
		_ = c.Close(closeCtx)
		cancel()
		<-done
		os.RemoveAll(dir)
	}
}

// Hold workers back until the coordinator has finished setting up.
func ExampleBarrier() {
	c, stop := exampleMemberBarriers()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

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
