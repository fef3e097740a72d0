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

// A Campaign after an attempt whose outcome was unknown, and whose cleanup
// failed, adopts the node that attempt left rather than stand in line
// twice, and drops any extra one.
func TestElectionAdoptsOrphan(t *testing.T) {
	m := servertest.Start(t, server.Config{MinSessionTimeout: 400 * time.Millisecond, RequestTimeout: 2 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, []string{m.Addr()}, client.WithSessionTimeout(4*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.WithoutCancel(ctx))

	const dir = "/adopt"
	e := NewElection(c, dir)
	// What an earlier Campaign of e could leave: two nodes of its prefix.
	e.attempted = true
	var orphans []string
	for range 2 {
		name, _, err := createSeq(ctx, c, dir, e.prefix, electionTag, []byte("old"), client.ModeEphemeralSequential)
		if err != nil {
			t.Fatal(err)
		}
		orphans = append(orphans, name)
	}
	if err := e.Campaign(ctx, []byte("new")); err != nil {
		t.Fatal(err)
	}
	own, err := findOwn(ctx, c, dir, e.prefix)
	if err != nil {
		t.Fatal(err)
	}
	if len(own) != 1 || own[0].name != orphans[0] {
		t.Fatalf("own nodes after Campaign %v, want only the first orphan %s", own, orphans[0])
	}
	l, err := e.Leader(ctx)
	if err != nil || string(l.Value) != "new" || l.Key != znode.Join(dir, orphans[0]) || l.Token != e.Token() {
		t.Fatalf("Leader %+v, %v: want the adopted node with the new value", l, err)
	}
}
