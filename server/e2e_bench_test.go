package server_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
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
	cpu0 := processCPU()
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
	cpu := processCPU() - cpu0
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
	// CPU per op, members and clients together: what the machine's cores
	// cap the rate at, and much steadier than ops/s on a busy machine.
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/op")
	b.ReportMetric(0, "ns/op")
}

// processCPU returns the CPU time (user and system) this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
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

// Three-member cluster benchmarks: three members on disk (fsync on), the
// peers on loopback TCP, the clients spread over the members as a fleet's
// would be (writes from followers are forwarded to the leader).
//
//	go test ./server -run '^$' -bench Cluster3 -benchtime 100000x

func clusterClients(b *testing.B, c *servertest.Cluster, n int, on func(m *servertest.Member) bool) []*client.Client {
	b.Helper()
	var addrs []string
	for _, m := range c.Members() {
		if on(m) {
			addrs = append(addrs, m.Addr())
		}
	}
	cs := make([]*client.Client, n)
	for i := range cs {
		cl, err := client.Connect(context.Background(), []string{addrs[i%len(addrs)]}, client.WithSessionTimeout(30*time.Second))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = cl.Close(context.Background()) })
		cs[i] = cl
	}
	return cs
}

func anyMember(*servertest.Member) bool { return true }

func BenchmarkCluster3Create(b *testing.B) {
	for _, n := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("clients=%d", n), func(b *testing.B) {
			c := servertest.StartTCPCluster(b, 3, server.Config{})
			cs := clusterClients(b, c, n, anyMember)
			ctx := context.Background()
			if _, err := cs[0].Create(ctx, "/bench", nil); err != nil {
				b.Fatal(err)
			}
			data := make([]byte, 100)
			runClosedLoop(b, cs, func(cl *client.Client, _ int) error {
				_, err := cl.Create(ctx, "/bench/n-", data, client.WithMode(client.ModePersistentSequential))
				return err
			})
		})
	}
}

func BenchmarkCluster3Set(b *testing.B) {
	benchCluster3Keyed(b, []int{1, 16, 64}, anyMember, func(ctx context.Context, cl *client.Client, p string, data []byte) error {
		_, err := cl.Set(ctx, p, data, -1)
		return err
	})
}

// BenchmarkCluster3GetFollowers: 1 KiB reads served by the two followers.
func BenchmarkCluster3GetFollowers(b *testing.B) {
	var lead uint64
	benchCluster3Keyed(b, []int{64}, func(m *servertest.Member) bool { return m.ID() != lead },
		func(ctx context.Context, cl *client.Client, p string, _ []byte) error {
			_, _, err := cl.Get(ctx, p)
			return err
		}, &lead)
}

// benchCluster3Keyed runs op on 1 KiB nodes chosen at random among 1,000,
// from clients on the members on selects. If leader is given, it is set
// to the leader's id before the clients connect.
func benchCluster3Keyed(b *testing.B, clients []int, on func(*servertest.Member) bool, op func(ctx context.Context, cl *client.Client, p string, data []byte) error, leader ...*uint64) {
	for _, n := range clients {
		b.Run(fmt.Sprintf("clients=%d", n), func(b *testing.B) {
			c := servertest.StartTCPCluster(b, 3, server.Config{})
			for _, l := range leader {
				*l = c.WaitLeader().ID()
			}
			setup := clusterClients(b, c, 1, anyMember)[0]
			ctx := context.Background()
			data := make([]byte, 1024)
			for i := 0; i < 1000; i++ {
				if _, err := setup.Create(ctx, fmt.Sprintf("/k%d", i), data); err != nil {
					b.Fatal(err)
				}
			}
			cs := clusterClients(b, c, n, on)
			for _, cl := range cs {
				if err := cl.Sync(ctx, "/"); err != nil {
					b.Fatal(err)
				}
			}
			runClosedLoop(b, cs, func(cl *client.Client, _ int) error {
				return op(ctx, cl, fmt.Sprintf("/k%d", rand.IntN(1000)), data)
			})
		})
	}
}

// BenchmarkCluster3CatchUp: how long a new member (as one replacing a
// wiped member joins) takes to catch up, by a streamed snapshot, with a
// cluster holding ARBOR_CATCHUP_NODES 100-byte nodes (default 1,000,000).
// Each iteration is one catch-up; run it with -benchtime 1x.
//
//	go test ./server -run '^$' -bench Cluster3CatchUp -benchtime 1x
func BenchmarkCluster3CatchUp(b *testing.B) {
	nodes := 1_000_000
	if v := os.Getenv("ARBOR_CATCHUP_NODES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1000 {
			b.Fatalf("ARBOR_CATCHUP_NODES %q: want a number of at least 1000", v)
		}
		nodes = n
	}
	for range b.N {
		b.StopTimer()
		// Compaction well behind the load, so the new member needs the
		// snapshot.
		c := servertest.StartTCPCluster(b, 3, server.Config{SnapshotEntries: 100, SnapshotCatchUpEntries: 50})
		cs := clusterClients(b, c, 8, anyMember)
		ctx := context.Background()
		data := make([]byte, 100)
		const perMulti = 1000
		var next atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, len(cs))
		for k, cl := range cs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					m := int(next.Add(1)) - 1
					if m*perMulti >= nodes {
						return
					}
					ops := make([]client.Op, 0, perMulti)
					for i := m * perMulti; i < min((m+1)*perMulti, nodes); i++ {
						ops = append(ops, client.CreateOp(fmt.Sprintf("/n%07d", i), data))
					}
					if _, err := cl.Multi(ctx, ops...); err != nil {
						errs <- fmt.Errorf("client %d: %w", k, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
		lead := c.WaitLeader()
		target := lead.Server().Stats().Applied

		b.StartTimer()
		start := time.Now()
		m := c.AddMember(b, server.Config{ID: 4})
		body := fmt.Sprintf(`{"id": 4, "peer_addr": %q}`, c.PeerAddr(4))
		resp, err := http.Post("http://"+lead.Addr()+server.MembersPath, "application/json", strings.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("add member 4: %s", resp.Status)
		}
		for m.Server().Stats().Applied < target {
			if time.Since(start) > 10*time.Minute {
				b.Fatalf("member 4 at %d of %d after 10 minutes", m.Server().Stats().Applied, target)
			}
			time.Sleep(10 * time.Millisecond)
		}
		elapsed := time.Since(start)
		b.StopTimer()
		b.ReportMetric(elapsed.Seconds(), "catchup-s")
		b.ReportMetric(float64(nodes), "nodes")
		b.ReportMetric(0, "ns/op")
	}
}
