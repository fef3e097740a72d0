package discovery_test

import (
	"context"
	"testing"
	"time"

	"github.com/arbor-coord/arbor/client"
	"github.com/arbor-coord/arbor/server"
	"github.com/arbor-coord/arbor/server/servertest"
)

// The tests run against members started in-process on loopback, with
// short session timeouts allowed (400 ms and up) so that a session's expiry
// takes about a second. The pattern is recipes/harness_test.go's.

func discoveryConfig() server.Config {
	return server.Config{MinSessionTimeout: 400 * time.Millisecond, MaxSessionTimeout: 10 * time.Second, RequestTimeout: 2 * time.Second}
}

// member starts one member.
func member(t testing.TB) *servertest.Member {
	t.Helper()
	return servertest.Start(t, discoveryConfig())
}

// cluster3 starts a cluster of three members on an in-memory network.
func cluster3(t testing.TB) *servertest.Cluster {
	t.Helper()
	return servertest.StartCluster(t, 3, discoveryConfig())
}

// connect opens a session on addrs with a 4 s session timeout (unless opts
// say otherwise), closed when the test ends.
func connect(t testing.TB, addrs []string, opts ...client.Option) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	opts = append([]client.Option{client.WithSessionTimeout(4 * time.Second)}, opts...)
	c, err := client.Connect(ctx, addrs, opts...)
	if err != nil {
		t.Fatalf("connect %v: %v", addrs, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = c.Close(ctx)
	})
	return c
}

// ctxT returns a context that ends after d, or when the test ends.
func ctxT(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls cond until it holds, failing the test after 20 s.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
