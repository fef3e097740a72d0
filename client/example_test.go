package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/arbor-coord/arbor/client"
	"github.com/arbor-coord/arbor/server"
)

// member starts an arbor member for an example, in-process on a free
// loopback port with its data in a temporary directory, and returns its
// address and the function that stops it. Outside tests, run
// `go run ./cmd/arbor server` and use "127.0.0.1:7181".
func member() (addr string, stop func()) {
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
	return srv.Addr(), func() {
		cancel()
		<-done
		os.RemoveAll(dir)
	}
}

// Connect to a member, write, read and watch a node, then close the
// session.
func Example() {
	addr, stop := member()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, []string{addr}, client.WithSessionTimeout(10*time.Second))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(context.WithoutCancel(ctx))

	if _, err := c.Create(ctx, "/app", []byte("v1")); err != nil && !errors.Is(err, client.ErrNodeExists) {
		log.Fatal(err)
	}
	// A sequential create is applied exactly once, even if the connection
	// drops while it is in flight.
	job, err := c.Create(ctx, "/app/job-", nil, client.WithMode(client.ModeEphemeralSequential))
	if err != nil {
		log.Fatal(err)
	}
	data, stat, changed, err := c.GetW(ctx, "/app")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s: %q version %d; created %s\n", "/app", data, stat.Version, job)

	if _, err := c.Set(ctx, "/app", []byte("v2"), stat.Version); err != nil {
		log.Fatal(err)
	}
	select {
	case ev := <-changed:
		fmt.Println(ev.Type, ev.Path)
	case <-ctx.Done():
		log.Fatal(ctx.Err())
	}
	// Output:
	// /app: "v1" version 0; created /app/job-0000000000
	// NodeDataChanged /app
}

// Errors carry the operation, the path and the code, and match the
// sentinels with errors.Is.
func ExampleError() {
	var err error = &client.Error{Op: "get", Path: "/missing", Code: client.ErrNoNode}
	fmt.Println(err)
	fmt.Println(errors.Is(err, client.ErrNoNode), errors.Is(err, client.ErrNodeExists))
	var e *client.Error
	if errors.As(err, &e) {
		fmt.Println(e.Op, e.Path, e.Code.Name())
	}
	// Output:
	// arbor: get /missing: node does not exist
	// true false
	// get /missing NoNode
}

// Read a node and list its children at one zxid: the two agree, even while
// other clients change the node. Each read fails or succeeds on its own.
func ExampleClient_ReadMulti() {
	addr, stop := member()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, []string{addr})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(context.WithoutCancel(ctx))
	if _, err := c.Create(ctx, "/app/a", []byte("x"), client.WithParents()); err != nil {
		log.Fatal(err)
	}

	res, err := c.ReadMulti(ctx, client.GetOp("/app"), client.ChildrenOp("/app"))
	if err != nil {
		log.Fatal(err)
	}
	switch err := res[0].Err; {
	case errors.Is(err, client.ErrNoNode):
		fmt.Println("no /app")
		return
	case err != nil:
		log.Fatal(err)
	}
	// Read at the same zxid, the list found /app too (and its length is
	// the Stat's NumChildren).
	fmt.Printf("/app: %q, children %v\n", res[0].Data, res[1].Children)
	// Output: /app: "", children [a]
}
