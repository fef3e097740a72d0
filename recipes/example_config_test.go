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

// exampleMemberConfig starts an arbor member for an example, in-process on
// a free loopback port with its data in a temporary directory, connects a
// client to it, and returns the client and the function that stops both.
// Outside tests, run `go run ./cmd/arbor server` and connect to
// "127.0.0.1:7181".
func exampleMemberConfig() (*client.Client, func()) {
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
	cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
	defer ccancel()
	c, err := client.Connect(cctx, []string{srv.Addr()}, client.WithSessionTimeout(10*time.Second))
	if err != nil {
		log.Fatal(err)
	}
	return c, func() {
		_ = c.Close(context.Background())
		cancel()
		<-done
		os.RemoveAll(dir)
	}
}

// Watch a typed configuration value while it is written.
func ExampleWatchConfig() {
	c, stop := exampleMemberConfig()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	type Limits struct {
		MaxConns int    `json:"max_conns"`
		Mode     string `json:"mode"`
	}
	const path = "/config/limits"
	if _, err := recipes.SetConfig(ctx, c, path, Limits{MaxConns: 100, Mode: "normal"}, -1); err != nil {
		log.Fatal(err)
	}
	cfg, err := recipes.WatchConfig[Limits](ctx, c, path)
	if err != nil {
		log.Fatal(err)
	}
	defer cfg.Close(ctx)
	v, version, _ := cfg.Value()
	fmt.Printf("version %d: %+v\n", version, v)

	// A compare-and-set: the write applies only over version 0.
	if _, err := recipes.SetConfig(ctx, c, path, Limits{MaxConns: 500, Mode: "busy"}, version); err != nil {
		log.Fatal(err)
	}
	u := <-cfg.Updates()
	fmt.Printf("version %d: %+v\n", u.Version, u.Value)
	// Output:
	// version 0: {MaxConns:100 Mode:normal}
	// version 1: {MaxConns:500 Mode:busy}
}
