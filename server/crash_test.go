package server

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/arbor-coord/arbor/internal/errcode"
	"github.com/arbor-coord/arbor/tree"
)

// TestReplicaCrash writes to a member on a crashable in-memory
// filesystem, crashes it at a random moment while writes are in flight
// (the crash keeps a random part of what was not synced, of the raft
// log's files and of the store alike), and restarts it on what is left:
// every write acknowledged before the crash is there, and the member goes
// on. Small snapshot intervals make it compact its log (and release
// segments) as it goes.
func TestReplicaCrash(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	fs := vfs.NewCrashableMem()
	open := func() *replica {
		r, err := openReplica(replicaConfig{dir: "member", fs: fs, cacheBytes: 8 << 20, memberID: 1, snapshotEntries: 50, catchUpEntries: 10})
		if err != nil {
			t.Fatalf("seed %d: reopening after a crash: %v", seed, err)
		}
		return r
	}
	var acked []string // every write acknowledged before a crash
	data := make([]byte, 2<<10)
	rounds := 8
	if testing.Short() {
		rounds = 3
	}
	for round := range rounds {
		r := open()
		for _, p := range acked {
			if _, _, err := r.tree.Get(p, nil); err != nil {
				t.Fatalf("seed %d round %d: %s, acknowledged before a crash, is gone: %v", seed, round, p, err)
			}
		}
		var mu sync.Mutex
		var done []string
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ctx.Err() == nil && i < 400; i++ {
					p := fmt.Sprintf("/r%d-w%d-%d", round, w, i)
					res, err := r.propose(ctx, &tree.Command{Op: &tree.Create{Path: p, ACL: tree.OpenACL(), Data: data}})
					if err != nil {
						return // the replica is closing
					}
					if res.Code != errcode.Ok {
						t.Errorf("create %s: %v", p, res.Code)
						return
					}
					mu.Lock()
					done = append(done, p)
					mu.Unlock()
				}
			}()
		}
		// Crash once a random number of writes are acknowledged, with
		// more in flight.
		target := 20 + rng.IntN(130)
		var before []string
		for len(before) < target {
			if ctx.Err() != nil {
				t.Fatalf("seed %d round %d: %d writes acknowledged in 10 s, waiting for %d", seed, round, len(before), target)
			}
			time.Sleep(time.Millisecond)
			mu.Lock()
			before = append(before[:0], done...)
			mu.Unlock()
		}
		crashed := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: rng.IntN(101), RNG: rand.New(rand.NewPCG(rng.Uint64(), 0))})
		cancel()
		wg.Wait()
		closeReplica(t, r)
		acked = append(acked, before...)
		fs = crashed
	}
	r := open()
	defer closeReplica(t, r)
	for _, p := range acked {
		if _, _, err := r.tree.Get(p, nil); err != nil {
			t.Fatalf("seed %d: %s, acknowledged before a crash, is gone: %v", seed, p, err)
		}
	}
	res, err := r.propose(ctx10s(t), create("/after"))
	if err != nil || res.Code != errcode.Ok {
		t.Fatalf("a write after the crashes: %+v, %v", res, err)
	}
}
