package recipes_test

import (
	"context"
	"log"
	"os"

	"github.com/arbor-coord/arbor/server"
)

// exampleMember starts an arbor member for an example, in-process on a
// free loopback port with its data in a temporary directory, and returns
// its address and the function that stops it. (Examples take no
// testing.T, so servertest.Start does not fit.) Outside tests, run
// `arbor server` and use "127.0.0.1:7181".
func exampleMember() (addr string, stop func()) {
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
