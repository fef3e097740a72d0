package server

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/arbor-coord/arbor/internal/errcode"
	"github.com/arbor-coord/arbor/tree"
)

func testReplica(t *testing.T, fs vfs.FS, events func([]tree.Event)) *replica {
	t.Helper()
	cfg := replicaConfig{dir: "member", fs: fs, cacheBytes: 8 << 20, memberID: 1}
	if events != nil {
		cfg.observe = func(_ []tree.Entry, results []tree.Result) {
			for _, res := range results {
				if len(res.Events) > 0 {
					events(res.Events)
				}
			}
		}
	}
	r, err := openReplica(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func closeReplica(t *testing.T, r *replica) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.close(ctx); err != nil {
		t.Fatal(err)
	}
}

func ctx10s(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func create(p string) *tree.Command {
	return &tree.Command{Op: &tree.Create{Path: p, ACL: tree.OpenACL(), Data: []byte("d")}}
}

func TestProposeApplies(t *testing.T) {
	r := testReplica(t, vfs.NewMem(), nil)
	defer closeReplica(t, r)
	ctx := ctx10s(t)
	res, err := r.propose(ctx, create("/a"))
	if err != nil || res.Code != errcode.Ok || res.Path != "/a" {
		t.Fatalf("create: %+v, %v", res, err)
	}
	if res.Index != r.tree.Applied() || res.Stat.Czxid != int64(res.Index) {
		t.Fatalf("zxid %d, applied %d, czxid %d", res.Index, r.tree.Applied(), res.Stat.Czxid)
	}
	res, err = r.propose(ctx, create("/a"))
	if err != nil || res.Code != errcode.NodeExists {
		t.Fatalf("second create: %+v, %v (a replicated failure is a result, not an error)", res, err)
	}
	if data, _, err := r.tree.Get("/a", nil); err != nil || string(data) != "d" {
		t.Fatalf("get: %q %v", data, err)
	}
	bad := &tree.Command{Op: &tree.Create{Path: "/b", ACL: tree.OpenACL(), Mode: 42}}
	if _, err := r.propose(ctx, bad); !errors.Is(err, errcode.BadArguments) {
		t.Fatalf("unencodable command: %v", err)
	}
	if r.waits.len() != 0 {
		t.Fatalf("%d waiters left", r.waits.len())
	}
}

func TestConcurrentProposals(t *testing.T) {
	r := testReplica(t, vfs.NewMem(), nil)
	defer closeReplica(t, r)
	ctx := ctx10s(t)
	const writers, each = 32, 40
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	seen := sync.Map{}
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				cmd := &tree.Command{Op: &tree.Create{Path: "/q-", ACL: tree.OpenACL(), Mode: tree.PersistentSequential}}
				res, err := r.propose(ctx, cmd)
				if err == nil && res.Code != errcode.Ok {
					err = res.Code
				}
				if err != nil {
					errs <- err
					return
				}
				if _, dup := seen.LoadOrStore(res.Path, true); dup {
					errs <- fmt.Errorf("path %s returned twice", res.Path)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n, _ := r.tree.CountDescendants("/", nil); n != writers*each+1 {
		t.Fatalf("%d nodes, want %d", n, writers*each+1)
	}
}

// TestEventsBeforeResponse: the events of a change are handed on before
// the waiter of the request that made it is released.
func TestEventsBeforeResponse(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]bool{}
	r := testReplica(t, vfs.NewMem(), func(evs []tree.Event) {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range evs {
			seen[e.Type.String()+" "+e.Path] = true
		}
	})
	defer closeReplica(t, r)
	ctx := ctx10s(t)
	for i := 0; i < 50; i++ {
		p := fmt.Sprintf("/n%d", i)
		if _, err := r.propose(ctx, create(p)); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		ok := seen["NodeCreated "+p] && seen["NodeChildrenChanged /"]
		mu.Unlock()
		if !ok {
			t.Fatalf("response for %s released before its events", p)
		}
	}
}

func TestReplicaRestart(t *testing.T) {
	fs := vfs.NewMem()
	r := testReplica(t, fs, nil)
	ctx := ctx10s(t)
	for i := 0; i < 20; i++ {
		if _, err := r.propose(ctx, create(fmt.Sprintf("/r%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	stats := map[string]tree.Stat{}
	for i := 0; i < 20; i++ {
		p := fmt.Sprintf("/r%d", i)
		stats[p], _ = r.tree.Exists(p)
	}
	applied := r.tree.Applied()
	closeReplica(t, r)

	// The re-elected leader commits an empty entry of its new term, so the
	// applied index moves on; every node must be as it was.
	r = testReplica(t, fs, nil)
	defer closeReplica(t, r)
	if r.tree.Applied() <= applied {
		t.Fatalf("applied %d after restart, %d before", r.tree.Applied(), applied)
	}
	for p, want := range stats {
		if got, err := r.tree.Exists(p); err != nil || got != want {
			t.Fatalf("%s after restart: %+v %v, want %+v", p, got, err, want)
		}
	}
	res, err := r.propose(ctx, create("/r0"))
	if err != nil || res.Code != errcode.NodeExists {
		t.Fatalf("state lost over restart: %+v %v", res, err)
	}
	if res, err := r.propose(ctx, create("/new")); err != nil || res.Code != errcode.Ok {
		t.Fatalf("no progress after restart: %+v %v", res, err)
	}
}

func TestProposeHonoursContext(t *testing.T) {
	r := testReplica(t, vfs.NewMem(), nil)
	defer closeReplica(t, r)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.propose(ctx, create("/x")); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled propose: %v", err)
	}
	if r.waits.len() != 0 {
		t.Fatalf("%d waiters left", r.waits.len())
	}
}

// TestExactlyOnceThroughRaft: a write retried with its seq, as a client
// does after a lost connection, is answered from the session's record.
func TestExactlyOnceThroughRaft(t *testing.T) {
	r := testReplica(t, vfs.NewMem(), nil)
	defer closeReplica(t, r)
	ctx := ctx10s(t)
	if res, err := r.propose(ctx, &tree.Command{Op: &tree.CreateSession{ID: 9, TimeoutMs: 5000}}); err != nil || res.Code != errcode.Ok {
		t.Fatal(res.Code, err)
	}
	write := func() tree.Result {
		res, err := r.propose(ctx, &tree.Command{Session: 9, Seq: 1, LowestUnacked: 1,
			Op: &tree.Create{Path: "/s-", ACL: tree.OpenACL(), Mode: tree.PersistentSequential}})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	first, retry := write(), write()
	if first.Code != errcode.Ok || retry.Path != first.Path || retry.Index == first.Index {
		t.Fatalf("first %+v, retry %+v", first, retry)
	}
	if n, _ := r.tree.CountDescendants("/", nil); n != 2 {
		t.Fatalf("%d nodes: the retry applied again", n)
	}
}
