package recipes_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/arbor-coord/arbor/client"
	"github.com/arbor-coord/arbor/recipes"
	"github.com/arbor-coord/arbor/server/servertest"
)

// The recipes' benchmarks, recorded in docs/BENCHMARKS.md:
//
//	go test ./recipes -run '^$' -bench . -benchtime 2000x
//
// Each runs against members started in-process, with fsync on: one member,
// and three members on loopback TCP, as a production cluster would be.

// benchTargets returns the member layouts the benchmarks run against.
func benchTargets(b *testing.B) []struct {
	name  string
	addrs func(*testing.B) []string
} {
	return []struct {
		name  string
		addrs func(*testing.B) []string
	}{
		{"1member", func(b *testing.B) []string { return []string{member(b).Addr()} }},
		{"3members", func(b *testing.B) []string { return servertest.StartTCPCluster(b, 3, testConfig()).Addrs() }},
	}
}

// BenchmarkMutexContended: 8 clients, each with its own session, take turns
// on one Mutex; an op is one acquisition and release. ZooKeeper 3.8 does
// about 730 acquisitions/s on one member and 370 on three here
// (../shared/NOTES.md).
func BenchmarkMutexContended(b *testing.B) {
	for _, tg := range benchTargets(b) {
		b.Run(tg.name, func(b *testing.B) {
			const clients = 8
			addrs := tg.addrs(b)
			cs := make([]*client.Client, clients)
			for i := range cs {
				cs[i] = connect(b, addrs)
			}
			ctx := ctxT(b, 10*time.Minute)
			var (
				wg   sync.WaitGroup
				mu   sync.Mutex
				left = b.N
				errs = make(chan error, clients)
			)
			b.ResetTimer()
			for _, c := range cs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					m := recipes.NewMutex(c, "/bench/mutex")
					for {
						mu.Lock()
						if left == 0 {
							mu.Unlock()
							return
						}
						left--
						mu.Unlock()
						if err := m.Lock(ctx); err != nil {
							errs <- err
							return
						}
						if err := m.Unlock(ctx); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			close(errs)
			for err := range errs {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "acquisitions/s")
		})
	}
}

// BenchmarkDoubleBarrierRelease: 100 participants, each with its own
// session, enter a DoubleBarrier of 100; an op is one round, timed from the
// last participant's call of Enter to the return of the last Enter.
func BenchmarkDoubleBarrierRelease(b *testing.B) {
	for _, tg := range benchTargets(b) {
		b.Run(tg.name, func(b *testing.B) {
			const n = 100
			addrs := tg.addrs(b)
			cs := make([]*client.Client, n)
			for i := range cs {
				cs[i] = connect(b, addrs)
			}
			ctx := ctxT(b, 10*time.Minute)
			var total time.Duration
			b.ResetTimer()
			for round := range b.N {
				dir := fmt.Sprintf("/bench/barrier-%d", round)
				entered := make(chan time.Time, n)
				errs := make(chan error, n)
				var wg sync.WaitGroup
				// The first n-1 enter and wait; the last one's call
				// starts the clock.
				for _, c := range cs[:n-1] {
					wg.Add(1)
					go func() {
						defer wg.Done()
						if err := recipes.NewDoubleBarrier(c, dir, n).Enter(ctx); err != nil {
							errs <- err
							return
						}
						entered <- time.Now()
					}()
				}
				waitChildren(b, ctx, cs[0], dir, n-1)
				start := time.Now()
				if err := recipes.NewDoubleBarrier(cs[n-1], dir, n).Enter(ctx); err != nil {
					b.Fatal(err)
				}
				last := time.Now()
				wg.Wait()
				close(entered)
				close(errs)
				for err := range errs {
					b.Fatal(err)
				}
				for at := range entered {
					if at.After(last) {
						last = at
					}
				}
				total += last.Sub(start)
			}
			b.StopTimer()
			b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "release-ms")
		})
	}
}

// waitChildren waits until dir has at least n children (participants'
// nodes; a DoubleBarrier may add its own).
func waitChildren(b *testing.B, ctx context.Context, c *client.Client, dir string, n int) {
	b.Helper()
	for {
		kids, _, err := c.Children(ctx, dir)
		if err == nil && len(kids) >= n {
			return
		}
		if ctx.Err() != nil {
			b.Fatalf("waiting for %d participants in %s: %v", n, dir, ctx.Err())
		}
		time.Sleep(2 * time.Millisecond)
	}
}
