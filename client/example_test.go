package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/arbor-coord/arbor/client"
)

// Connect to a member, write, read and watch a node, then close the
// session. (This example needs a running server: `go run ./cmd/arbor
// server`.)
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, []string{"127.0.0.1:7181"}, client.WithSessionTimeout(10*time.Second))
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
// (This example needs a running server.)
func ExampleClient_ReadMulti() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, []string{"127.0.0.1:7181"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close(context.WithoutCancel(ctx))

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
}
