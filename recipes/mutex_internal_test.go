package recipes

import (
	"context"
	"testing"
	"time"

	"github.com/arbor-coord/arbor/client"
	"github.com/arbor-coord/arbor/recipes/internal/znode"
	"github.com/arbor-coord/arbor/server"
	"github.com/arbor-coord/arbor/server/servertest"
)

// An attempt whose outcome was unknown left a node of the value's prefix
// (and one of another mode): the next Lock adopts the first rather than
// queue behind it, and deletes the other.
func TestLeaseAdoptsOrphan(t *testing.T) {
	m := servertest.Start(t, server.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, []string{m.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.WithoutCancel(ctx))

	rw := NewRWMutex(c, "/adopt")
	left, _, err := createSeq(ctx, c, "/adopt", rw.l.prefix, writeTag, nil, client.ModeEphemeralSequential)
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := createSeq(ctx, c, "/adopt", rw.l.prefix, readTag, nil, client.ModeEphemeralSequential)
	if err != nil {
		t.Fatal(err)
	}
	rw.l.orphan = true
	if err := rw.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	if got := rw.l.key(); got != znode.Join("/adopt", left) {
		t.Fatalf("holds %s, want the adopted %s", got, znode.Join("/adopt", left))
	}
	if _, err := c.Exists(ctx, znode.Join("/adopt", other)); err == nil {
		t.Fatalf("the other mode's node %s is still there", other)
	}
	children, _, err := c.Children(ctx, "/adopt")
	if err != nil || len(children) != 1 {
		t.Fatalf("children %v, %v; want the adopted node alone", children, err)
	}
	if err := rw.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
}
