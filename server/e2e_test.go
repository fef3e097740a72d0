package server_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/arbor-coord/arbor/client"
	"github.com/arbor-coord/arbor/server"
	"github.com/arbor-coord/arbor/server/servertest"
)

func ctxFor(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func connect(t *testing.T, m *servertest.Member, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.Connect(ctxFor(t, 10*time.Second), []string{m.Addr()}, opts...)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

func TestSmoke(t *testing.T) {
	m := servertest.Start(t, server.Config{})
	c := connect(t, m)
	ctx := ctxFor(t, 10*time.Second)
	p, err := c.Create(ctx, "/a", []byte("hello"))
	if err != nil || p != "/a" {
		t.Fatalf("create: %q %v", p, err)
	}
	data, st, err := c.Get(ctx, "/a")
	if err != nil || string(data) != "hello" || st.Version != 0 {
		t.Fatalf("get: %q %+v %v", data, st, err)
	}
	if _, err := c.Create(ctx, "/a", nil); !errors.Is(err, client.ErrNodeExists) {
		t.Fatalf("second create: %v", err)
	}
}
