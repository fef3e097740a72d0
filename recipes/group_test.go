package recipes_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/arbor-coord/arbor/client"
	"github.com/arbor-coord/arbor/recipes"
	"github.com/arbor-coord/arbor/server/servertest"
)

// waitMembers waits until g reports a membership for which ok holds,
// reading Changes, and returns it.
func waitMembers(t *testing.T, ctx context.Context, g *recipes.GroupWatch, what string, ok func([]recipes.Member) bool) []recipes.Member {
	t.Helper()
	if ms := g.Members(); ok(ms) {
		return ms
	}
	for {
		select {
		case ms, open := <-g.Changes():
			if !open {
				t.Fatalf("waiting for %s: changes closed: %v", what, g.Err())
			}
			if ok(ms) {
				return ms
			}
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v; members now %v", what, ctx.Err(), recipes.MemberNames(g.Members()))
		}
	}
}

// TestGroupOnCluster runs the group tests that need a 3-member cluster on
// one (starting and stopping a cluster costs seconds).
func TestGroupOnCluster(t *testing.T) {
	cl := cluster3(t)
	t.Run("Membership", func(t *testing.T) { testGroupMembership(t, cl) })
	t.Run("MemberMoves", func(t *testing.T) { testGroupMemberMoves(t, cl) })
}

// testGroupMembership: 10 members join concurrently (one of them on a
// member of its own, with a short session); watchers see them all, see a
// data update, see the short session's member leave when the session
// expires, and see a Leave.
func testGroupMembership(t *testing.T, cl *servertest.Cluster) {
	cl.WaitLeader()
	ctx := ctxT(t, 60*time.Second)
	ms := cl.Members()
	others := []string{ms[1].Addr(), ms[2].Addr()}
	const dir = "/groups/workers"

	var watches []*recipes.GroupWatch
	for range 3 {
		g, err := recipes.WatchGroup(ctx, connect(t, others), dir)
		if err != nil {
			t.Fatal(err)
		}
		defer g.Close(ctx)
		if got := g.Members(); len(got) != 0 {
			t.Fatalf("members of a group not made yet: %v", got)
		}
		watches = append(watches, g)
	}

	short := connect(t, []string{ms[0].Addr()}, client.WithSessionTimeout(800*time.Millisecond))
	clients := make([]*client.Client, 10)
	for i := range clients {
		if i == 0 {
			clients[i] = short
		} else {
			clients[i] = connect(t, others)
		}
	}
	joined := make([]*recipes.Membership, len(clients))
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Go(func() {
			m, err := recipes.JoinGroup(ctx, c, dir, fmt.Sprintf("w%02d", i), fmt.Appendf(nil, "data %d", i))
			if err != nil {
				t.Errorf("join %d: %v", i, err)
				return
			}
			joined[i] = m
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	all := func(ms []recipes.Member) bool { return len(ms) == 10 }
	for _, g := range watches {
		got := waitMembers(t, ctx, g, "10 members", all)
		for i, m := range got {
			if want := fmt.Sprintf("w%02d", i); m.Name != want || string(m.Data) != fmt.Sprintf("data %d", i) || m.Session != clients[i].SessionID() {
				t.Errorf("member %d = %s %q session %#x; want %s of session %#x", i, m.Name, m.Data, m.Session, want, clients[i].SessionID())
			}
		}
	}

	// A name taken by another session is refused; this session's own is
	// adopted.
	if _, err := recipes.JoinGroup(ctx, clients[2], dir, "w01", nil); !errors.Is(err, recipes.ErrMemberExists) {
		t.Errorf("join under a taken name: %v", err)
	}
	again, err := recipes.JoinGroup(ctx, clients[1], dir, "w01", []byte("adopted"))
	if err != nil {
		t.Fatalf("join again under this session's own name: %v", err)
	}
	defer again.Leave(ctx)

	if err := joined[3].Update(ctx, []byte("updated")); err != nil {
		t.Fatal(err)
	}
	for _, g := range watches {
		waitMembers(t, ctx, g, "the update", func(ms []recipes.Member) bool {
			return len(ms) == 10 && string(ms[3].Data) == "updated" && string(ms[1].Data) == "adopted"
		})
	}

	// The short session expires (its member stops past its timeout).
	expire(t, ms[0], short)
	select {
	case <-joined[0].Lost():
	case <-ctx.Done():
		t.Fatal("Lost not closed after the session expired")
	}
	if err := joined[0].Update(ctx, []byte("x")); !errors.Is(err, recipes.ErrMembershipLost) {
		t.Errorf("Update after the session expired: %v", err)
	}
	for _, g := range watches {
		waitMembers(t, ctx, g, "w00 gone", func(ms []recipes.Member) bool {
			return len(ms) == 9 && ms[0].Name == "w01"
		})
	}

	if err := joined[5].Leave(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-joined[5].Lost():
	default:
		t.Error("Lost not closed by Leave")
	}
	if err := joined[5].Leave(ctx); err != nil {
		t.Errorf("second Leave: %v", err)
	}
	want := []string{"w01", "w02", "w03", "w04", "w06", "w07", "w08", "w09"}
	for _, g := range watches {
		waitMembers(t, ctx, g, "w05 gone", func(ms []recipes.Member) bool {
			return slices.Equal(recipes.MemberNames(ms), want)
		})
	}
	// clients[4] may be on a member that has not applied the Leave yet:
	// reads are served locally, so it syncs first (as a ZooKeeper client
	// must to read another session's write).
	if err := clients[4].Sync(ctx, dir); err != nil {
		t.Fatal(err)
	}
	got, err := recipes.GroupMembers(ctx, clients[4], dir)
	if err != nil || !slices.Equal(recipes.MemberNames(got), want) {
		t.Errorf("GroupMembers = %v, %v; want %v", recipes.MemberNames(got), err, want)
	}

	// A member whose node someone else deletes has lost its membership.
	if err := clients[9].Delete(ctx, dir+"/w07", -1); err != nil {
		t.Fatal(err)
	}
	select {
	case <-joined[7].Lost():
	case <-ctx.Done():
		t.Fatal("Lost not closed after the node was deleted")
	}
}

// testGroupMemberMoves: a member's connection moves to another member of
// the cluster when its member stops; the membership (and a watch on the
// moved client) survives, and a crash of the leader changes nothing.
func testGroupMemberMoves(t *testing.T, cl *servertest.Cluster) {
	cl.WaitLeader()
	ctx := ctxT(t, 40*time.Second)
	ms := cl.Members()
	order := []string{ms[0].Addr(), ms[1].Addr(), ms[2].Addr()}
	const dir = "/groups/moving"
	var clients []*client.Client
	var joined []*recipes.Membership
	for i := range 8 {
		c := connect(t, order, client.WithOrderedServers())
		m, err := recipes.JoinGroup(ctx, c, dir, fmt.Sprintf("m%d", i), nil)
		if err != nil {
			t.Fatal(err)
		}
		clients, joined = append(clients, c), append(joined, m)
	}
	// A connect that timed out on ms[0] under load lands elsewhere, so
	// clients[0] syncs before it reads the others' joins.
	if err := clients[0].Sync(ctx, dir); err != nil {
		t.Fatal(err)
	}
	g, err := recipes.WatchGroup(ctx, clients[0], dir)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close(ctx)
	if n := len(g.Members()); n != 8 {
		t.Fatalf("%d members, want 8", n)
	}
	ms[0].Stop()
	// Changes made while the watcher's client moves are caught up.
	if err := joined[2].Update(ctx, []byte("while moving")); err != nil {
		t.Fatal(err)
	}
	waitMembers(t, ctx, g, "the update made while moving", func(ms []recipes.Member) bool {
		return len(ms) == 8 && string(ms[2].Data) == "while moving"
	})
	ms[0].Restart()
	leader := cl.WaitLeader()
	leader.Stop()
	if err := joined[4].Leave(ctx); err != nil {
		t.Fatal(err)
	}
	waitMembers(t, ctx, g, "m4 gone", func(ms []recipes.Member) bool { return len(ms) == 7 })
	leader.Restart()
	for i, m := range joined {
		select {
		case <-m.Lost():
			if i != 4 {
				t.Errorf("member %d lost its membership", i)
			}
		default:
		}
	}
}

// TestGroupBadInput: wrong names and paths are refused and create nothing.
func TestGroupBadInput(t *testing.T) {
	m := member(t)
	ctx := ctxT(t, 20*time.Second)
	c := connect(t, []string{m.Addr()})
	for _, name := range []string{"", "a/b", ".", ".."} {
		if _, err := recipes.JoinGroup(ctx, c, "/g", name, nil); err == nil {
			t.Errorf("JoinGroup name %q succeeded", name)
		}
	}
	for _, dir := range []string{"", "g", "/g/", "/g//h"} {
		if _, err := recipes.JoinGroup(ctx, c, dir, "x", nil); !errors.Is(err, client.ErrBadArguments) {
			t.Errorf("JoinGroup dir %q: %v", dir, err)
		}
		if _, err := recipes.WatchGroup(ctx, c, dir); !errors.Is(err, client.ErrBadArguments) {
			t.Errorf("WatchGroup dir %q: %v", dir, err)
		}
	}
	if _, err := c.Exists(ctx, "/g"); !errors.Is(err, client.ErrNoNode) {
		t.Errorf("bad input created /g: %v", err)
	}
}
