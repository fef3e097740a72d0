package server_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/arbor-coord/arbor/client"
	"github.com/arbor-coord/arbor/server"
	"github.com/arbor-coord/arbor/server/servertest"
)

// End-to-end benchmarks: a member on disk (fsync on) and Go clients over
// loopback WebSocket, each client with its own session and connection,
// one request at a time (closed loop), as docs/BENCHMARKS.md reports them.
//
//	go test ./server -run '^$' -bench E2E -benchtime 200000x

func benchClients(b *testing.B, m *servertest.Member, n int) []*client.Client {
	b.Helper()
	cs := make([]*client.Client, n)
	for i := range cs {
		c, err := client.Connect(context.Background(), []string{m.Addr()}, client.WithSessionTimeout(30*time.Second))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = c.Close(context.Background()) })
		cs[i] = c
	}
	return cs
}

// runClosedLoop runs b.N ops spread over the clients and reports ops/s
// and latency percentiles.
func runClosedLoop(b *testing.B, cs []*client.Client, op func(c *client.Client, i int) error) {
	b.Helper()
	var next atomic.Int64
	lat := make([][]time.Duration, len(cs))
	var wg sync.WaitGroup
	errs := make(chan error, len(cs))
	b.ResetTimer()
	start := time.Now()
	for k, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				t0 := time.Now()
				if err := op(c, i); err != nil {
					errs <- err
					return
				}
				lat[k] = append(lat[k], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	pct := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))].Microseconds()) / 1000 }
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "ops/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(0, "ns/op")
}

func BenchmarkE2ECreate(b *testing.B) {
	for _, n := range []int{1, 64} {
		b.Run(fmt.Sprintf("clients=%d", n), func(b *testing.B) {
			m := servertest.Start(b, server.Config{})
			cs := benchClients(b, m, n)
			ctx := context.Background()
			if _, err := cs[0].Create(ctx, "/bench", nil); err != nil {
				b.Fatal(err)
			}
			data := make([]byte, 100)
			runClosedLoop(b, cs, func(c *client.Client, _ int) error {
				_, err := c.Create(ctx, "/bench/n-", data, client.WithMode(client.ModePersistentSequential))
				return err
			})
		})
	}
}

func BenchmarkE2ESet(b *testing.B) {
	benchKeyed(b, func(ctx context.Context, c *client.Client, p string, data []byte) error {
		_, err := c.Set(ctx, p, data, -1)
		return err
	})
}

func BenchmarkE2EGet(b *testing.B) {
	benchKeyed(b, func(ctx context.Context, c *client.Client, p string, _ []byte) error {
		_, _, err := c.Get(ctx, p)
		return err
	})
}

// benchKeyed runs op on 1 KiB nodes chosen at random among 1,000.
func benchKeyed(b *testing.B, op func(ctx context.Context, c *client.Client, p string, data []byte) error) {
	for _, n := range []int{1, 64} {
		b.Run(fmt.Sprintf("clients=%d", n), func(b *testing.B) {
			m := servertest.Start(b, server.Config{})
			cs := benchClients(b, m, n)
			ctx := context.Background()
			data := make([]byte, 1024)
			for i := 0; i < 1000; i++ {
				if _, err := cs[0].Create(ctx, fmt.Sprintf("/k%d", i), data); err != nil {
					b.Fatal(err)
				}
			}
			runClosedLoop(b, cs, func(c *client.Client, _ int) error {
				return op(ctx, c, fmt.Sprintf("/k%d", rand.IntN(1000)), data)
			})
		})
	}
}
