package recipes_test

import "github.com/arbor-coord/arbor/server/servertest"

// exampleMember starts a member in-process for an example. Outside
// tests, run `go run ./cmd/arbor server` and use "127.0.0.1:7181".
func exampleMember() (addr string, stop func()) { return servertest.StartExample() }
