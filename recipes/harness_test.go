package recipes_test

import (
	"context"
	"testing"
	"time"

	"github.com/arbor-coord/arbor/client"
	"github.com/arbor-coord/arbor/server"
	"github.com/arbor-coord/arbor/server/servertest"
)

// The recipes' tests run against members started in-process on loopback.
// Session timeouts are short (the members allow 400 ms and up) so that
// tests of a session's expiry run in about a second.

// testConfig is the member configuration of the tests.
func testConfig() server.Config {
	return server.Config{MinSessionTimeout: 400 * time.Millisecond, MaxSessionTimeout: 10 * time.Second, RequestTimeout: 2 * time.Second}
}

// member starts one member and returns it.
func member(t testing.TB) *servertest.Member {
	t.Helper()
	return servertest.Start(t, testConfig())
}

// cluster3 starts a cluster of three members on an in-memory network.
func cluster3(t testing.TB) *servertest.Cluster {
	t.Helper()
	return servertest.StartCluster(t, 3, testConfig())
}

// connect opens a session on addrs with a 4 s session timeout (unless opts
// say otherwise) and closes it when the test ends.
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

// connectN opens n sessions on addrs, as connect does.
func connectN(t testing.TB, addrs []string, n int, opts ...client.Option) []*client.Client {
	t.Helper()
	cs := make([]*client.Client, n)
	for i := range cs {
		cs[i] = connect(t, addrs, opts...)
	}
	return cs
}

// waitBound bounds every poll of eventually; nothing asserts on timing.
const waitBound = 20 * time.Second

// eventually polls cond until it holds, failing the test saying what did
// not happen if it does not within waitBound.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitBound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, waitBound)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// isClosed reports whether ch is closed.
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// ctxT returns a context that ends after d, or when the test ends.
func ctxT(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// expire ends c's session the way a partition does: the member c is on is
// stopped for longer than the session timeout, so the client declares the
// session expired, and the member started again, whose leader expires it.
// It returns once c is finished and the member runs again.
func expire(t testing.TB, m *servertest.Member, c *client.Client) {
	t.Helper()
	m.Stop()
	select {
	case <-c.Done():
	case <-time.After(c.SessionTimeout() + 10*time.Second):
		t.Fatalf("session did not end within its timeout (%v) after its member stopped", c.SessionTimeout())
	}
	m.Restart()
}
