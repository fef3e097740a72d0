package recipes_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arbor-coord/arbor/client"
	"github.com/arbor-coord/arbor/recipes"
	"github.com/arbor-coord/arbor/server/servertest"
)

// state is what the mirror tests compare of a node: its data and version.
func state(data []byte, stat client.Stat) string {
	return fmt.Sprintf("%s@v%d", data, stat.Version)
}

// readTree reads the subtree at root afresh: path -> data.
func readTree(ctx context.Context, c *client.Client, root string) (map[string]string, error) {
	out := map[string]string{}
	var walk func(p string) error
	walk = func(p string) error {
		data, stat, err := c.Get(ctx, p)
		if errors.Is(err, client.ErrNoNode) {
			return nil
		}
		if err != nil {
			return err
		}
		out[p] = state(data, stat)
		names, _, err := c.Children(ctx, p)
		if errors.Is(err, client.ErrNoNode) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, n := range names {
			if err := walk(strings.TrimSuffix(p, "/") + "/" + n); err != nil {
				return err
			}
		}
		return nil
	}
	return out, walk(root)
}

// cachedTree walks the cache from root through Children: path -> data.
func cachedTree(tc *recipes.TreeCache, root string) map[string]string {
	out := map[string]string{}
	var walk func(p string)
	walk = func(p string) {
		data, stat, ok := tc.Get(p)
		if !ok {
			return
		}
		out[p] = state(data, stat)
		names, _ := tc.Children(p)
		for _, n := range names {
			walk(strings.TrimSuffix(p, "/") + "/" + n)
		}
	}
	walk(root)
	return out
}

// diffTrees describes how got differs from want.
func diffTrees(got, want map[string]string) string {
	var d []string
	for p, w := range want {
		if g, ok := got[p]; !ok {
			d = append(d, "missing "+p)
		} else if g != w {
			d = append(d, fmt.Sprintf("%s: %q, want %q", p, g, w))
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			d = append(d, "extra "+p)
		}
	}
	slices.Sort(d)
	if len(d) > 10 {
		d = append(d[:10], fmt.Sprintf("... %d more", len(d)-10))
	}
	return strings.Join(d, "; ")
}

// treePaths is the namespace the random writers work in: three levels of
// three names under root.
func treePaths(root string) []string {
	var out []string
	for _, a := range []string{"a", "b", "c"} {
		out = append(out, root+"/"+a)
		for _, b := range []string{"x", "y", "z"} {
			out = append(out, root+"/"+a+"/"+b)
			for _, c := range []string{"1", "2", "3"} {
				out = append(out, root+"/"+a+"/"+b+"/"+c)
			}
		}
	}
	return out
}

// randomWriters runs writers clients, each making ops random creates,
// sets and deletes at every depth below root, and returns when they are
// done. midway, if not nil, runs once a third of the way through.
func randomWriters(t *testing.T, ctx context.Context, clients []*client.Client, root string, ops int, seed uint64, midway func()) {
	t.Helper()
	paths := treePaths(root)
	var wg sync.WaitGroup
	var once sync.Once
	for i, c := range clients {
		rng := rand.New(rand.NewPCG(seed, uint64(i)))
		wg.Go(func() {
			for n := range ops {
				if midway != nil && i == 0 && n == ops/3 {
					once.Do(midway)
				}
				p := paths[rng.IntN(len(paths))]
				data := fmt.Appendf(nil, "w%d-%d", i, n)
				var err error
				switch rng.IntN(4) {
				case 0, 1:
					_, err = c.Create(ctx, p, data, client.WithParents())
				case 2:
					_, err = c.Set(ctx, p, data, -1)
				case 3:
					err = c.Delete(ctx, p, -1)
				}
				if err != nil && !errors.Is(err, client.ErrNodeExists) && !errors.Is(err, client.ErrNoNode) && !errors.Is(err, client.ErrNotEmpty) {
					t.Errorf("writer %d (seed %d): %v", i, seed, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// followEvents applies the cache's events to a model of the tree, until
// the stream ends; the model must end equal to the cache.
func followEvents(tc *recipes.TreeCache, start map[string]string) (model map[string]string, done chan struct{}, errs *[]string) {
	model = maps.Clone(start)
	if model == nil {
		model = map[string]string{}
	}
	done = make(chan struct{})
	var problems []string
	go func() {
		defer close(done)
		for ev := range tc.Events() {
			_, had := model[ev.Path]
			switch ev.Type {
			case recipes.TreeNodeAdded:
				if had {
					problems = append(problems, "added twice: "+ev.Path)
				}
				model[ev.Path] = state(ev.Data, ev.Stat)
			case recipes.TreeNodeUpdated:
				if !had {
					problems = append(problems, "updated while absent: "+ev.Path)
				}
				model[ev.Path] = state(ev.Data, ev.Stat)
			case recipes.TreeNodeRemoved:
				if !had {
					problems = append(problems, "removed while absent: "+ev.Path)
				}
				delete(model, ev.Path)
			}
		}
	}()
	return model, done, &problems
}

// waitMirror waits until the cache equals a fresh read of the tree.
func waitMirror(t *testing.T, ctx context.Context, tc *recipes.TreeCache, c *client.Client, root string) map[string]string {
	t.Helper()
	if err := c.Sync(ctx, root); err != nil {
		t.Fatal(err)
	}
	want, err := readTree(ctx, c, root)
	if err != nil {
		t.Fatal(err)
	}
	for {
		got := cachedTree(tc, root)
		if d := diffTrees(got, want); d == "" {
			return want
		} else if ctx.Err() != nil || tc.Err() != nil {
			t.Fatalf("cache differs from the tree (cache err %v): %s", tc.Err(), d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkModel checks that the events told the same story as the cache.
func checkModel(t *testing.T, tc *recipes.TreeCache, model map[string]string, done chan struct{}, problems *[]string, want map[string]string) {
	t.Helper()
	if err := tc.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-done
	if errors.Is(tc.EventsErr(), recipes.ErrTreeEventsOverflow) {
		t.Log("event stream overflowed; its model is not checked")
		return
	}
	for _, p := range *problems {
		t.Error(p)
	}
	if d := diffTrees(model, want); d != "" {
		t.Errorf("the events' model differs from the tree: %s", d)
	}
}

// TestTreeCacheMirror: 8 random writers create, set and delete at three
// depths while a cache watches; after they stop the cache (and the model
// its events build) equals a fresh read of the tree. With a tiny watch
// buffer the client's watcher overflows, and the cache reads it all again.
func TestTreeCacheMirror(t *testing.T) {
	t.Run("default", func(t *testing.T) { testTreeCacheMirror(t) })
	t.Run("watcher overflow", func(t *testing.T) { testTreeCacheMirror(t, client.WithWatchBuffer(1)) })
}

func testTreeCacheMirror(t *testing.T, opts ...client.Option) {
	m := member(t)
	ctx := ctxT(t, 40*time.Second)
	c := connect(t, []string{m.Addr()}, opts...)
	const root = "/mirror"
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	// Part of the tree exists before the cache.
	for _, p := range []string{root + "/a/x/1", root + "/b"} {
		if _, err := c.Create(ctx, p, []byte("before"), client.WithParents()); err != nil {
			t.Fatal(err)
		}
	}
	tc, err := recipes.NewTreeCache(ctx, c, root)
	if err != nil {
		t.Fatal(err)
	}
	start := cachedTree(tc, root)
	if len(start) != 5 || start[root+"/a/x/1"] != "before@v0" {
		t.Fatalf("initial cache %v", start)
	}
	model, done, problems := followEvents(tc, start)
	var writers []*client.Client
	for range 8 {
		writers = append(writers, connect(t, []string{m.Addr()}))
	}
	randomWriters(t, ctx, writers, root, 60, seed, nil)
	want := waitMirror(t, ctx, tc, c, root)
	checkModel(t, tc, model, done, problems, want)
}

// TestTreeCacheMemberStop: as TestTreeCacheMirror on a 3-member cluster,
// in three phases of random writes: with the cache's client on a follower;
// with that follower cut off from the others (so the writes reach the
// client only as a catch-up); and after the follower crashed, while the
// client moves to another member. The cache catches up.
func TestTreeCacheMemberStop(t *testing.T) {
	cl := cluster3(t)
	leader := cl.WaitLeader()
	ctx := ctxT(t, 60*time.Second)
	var follower *servertest.Member
	var others []string
	for _, m := range cl.Members() {
		if m != leader && follower == nil {
			follower = m
		} else {
			others = append(others, m.Addr())
		}
	}
	c := connect(t, append([]string{follower.Addr()}, others...), client.WithOrderedServers())
	const root = "/mirror"
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	tc, err := recipes.NewTreeCache(ctx, c, root)
	if err != nil {
		t.Fatal(err)
	}
	if got := cachedTree(tc, root); len(got) != 0 {
		t.Fatalf("cache of a missing root: %v", got)
	}
	model, done, problems := followEvents(tc, nil)
	var writers []*client.Client
	for range 8 {
		writers = append(writers, connect(t, others))
	}
	randomWriters(t, ctx, writers, root, 30, seed, nil)
	cl.Network().Isolate(follower.ID())
	randomWriters(t, ctx, writers, root, 30, seed+1, nil)
	follower.Stop()
	cl.Network().Heal()
	randomWriters(t, ctx, writers, root, 30, seed+2, nil)
	want := waitMirror(t, ctx, tc, c, root)
	if id, _ := c.Member(); id == follower.ID() {
		t.Fatalf("the cache's client is still on member %d", id)
	}
	checkModel(t, tc, model, done, problems, want)
	follower.Restart()
}

// TestTreeCacheLimits: a consumer that does not read ends the event
// stream, not the cache; a subtree past the node limit ends the cache;
// the session's end ends it; bad options are refused.
func TestTreeCacheLimits(t *testing.T) {
	m := member(t)
	ctx := ctxT(t, 30*time.Second)
	c := connect(t, []string{m.Addr()})
	if _, err := recipes.NewTreeCache(ctx, c, "/l", recipes.WithTreeMaxNodes(0)); err == nil {
		t.Error("max nodes 0 accepted")
	}
	if _, err := recipes.NewTreeCache(ctx, c, "/l", recipes.WithTreeEventBuffer(-1)); err == nil {
		t.Error("event buffer -1 accepted")
	}
	if _, err := recipes.NewTreeCache(ctx, c, "l"); !errors.Is(err, client.ErrBadArguments) {
		t.Errorf("relative root: %v", err)
	}

	tc, err := recipes.NewTreeCache(ctx, c, "/l", recipes.WithTreeEventBuffer(2))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := c.Create(ctx, fmt.Sprintf("/l/n%d", i), nil, client.WithParents()); err != nil {
			t.Fatal(err)
		}
	}
	want := waitMirror(t, ctx, tc, c, "/l")
	if len(want) != 6 {
		t.Fatalf("tree %v", want)
	}
	n := 0
	for range tc.Events() {
		n++
	}
	if !errors.Is(tc.EventsErr(), recipes.ErrTreeEventsOverflow) || tc.Err() != nil || n != 2 {
		t.Errorf("after overflow: %d events, EventsErr %v, Err %v", n, tc.EventsErr(), tc.Err())
	}
	if _, err := c.Set(ctx, "/l/n1", []byte("still current"), -1); err != nil {
		t.Fatal(err)
	}
	waitMirror(t, ctx, tc, c, "/l")
	tc.Close(ctx)

	small, err := recipes.NewTreeCache(ctx, c, "/l", recipes.WithTreeMaxNodes(7))
	if err != nil {
		t.Fatal(err)
	}
	for i := 5; i < 8; i++ {
		if _, err := c.Create(ctx, fmt.Sprintf("/l/n%d", i), nil); err != nil {
			t.Fatal(err)
		}
	}
	for range small.Events() {
	}
	if err := small.Err(); !errors.Is(err, recipes.ErrTreeTooLarge) {
		t.Errorf("past the node limit: Err %v", err)
	}
	if _, err := recipes.NewTreeCache(ctx, c, "/l", recipes.WithTreeMaxNodes(3)); !errors.Is(err, recipes.ErrTreeTooLarge) {
		t.Errorf("loading past the node limit: %v", err)
	}

	// The session's end ends the cache.
	short := connect(t, []string{m.Addr()}, client.WithSessionTimeout(800*time.Millisecond))
	other, err := recipes.NewTreeCache(ctx, short, "/l")
	if err != nil {
		t.Fatal(err)
	}
	expire(t, m, short)
	for range other.Events() {
	}
	if err := other.Err(); !errors.Is(err, client.ErrSessionExpired) {
		t.Errorf("after the session expired: Err %v", err)
	}
	if _, _, ok := other.Get("/l/n1"); !ok {
		t.Error("the last state is gone after the end")
	}
}
