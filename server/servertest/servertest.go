// Package servertest starts arbor members in-process on loopback ports,
// for tests, as net/http/httptest does for HTTP servers.
//
//	m := servertest.Start(t, server.Config{})
//	c, err := client.Connect(ctx, []string{m.Addr()})
//
// StartCluster starts several members as one cluster on an in-memory
// network, which a test can partition:
//
//	c := servertest.StartCluster(t, 3, server.Config{})
//	c.Network().Isolate(c.Leader().ID())
//
// A member is stopped when its test ends.
package servertest

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/arbor-coord/arbor/internal/freeport"
	"github.com/arbor-coord/arbor/server"
	"github.com/arbor-coord/arbor/server/transport"
)

// Member is one running in-process member.
type Member struct {
	tb     testing.TB
	cfg    server.Config
	net    *transport.Network // nil for a member alone
	srv    *server.Server
	cancel context.CancelFunc
	done   chan struct{} // closed when Run has returned, with runErr set
	runErr error
}

// Start starts a member with cfg. An empty DataDir becomes a fresh
// temporary directory and an empty Listen a free loopback port; a nil
// Logger logs warnings and errors to the test log when ARBOR_TEST_LOG is
// set, and nothing otherwise. Start fails the test if the member cannot
// start, and stops the member when the test ends.
func Start(tb testing.TB, cfg server.Config) *Member {
	tb.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = tb.TempDir()
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.Logger == nil && os.Getenv("ARBOR_TEST_LOG") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	m := &Member{tb: tb, cfg: cfg}
	m.start()
	tb.Cleanup(m.Stop)
	return m
}

func (m *Member) start() {
	m.tb.Helper()
	if m.net != nil {
		m.cfg.Transport = m.net.Add(m.cfg.ID)
	}
	srv, err := server.New(m.cfg)
	if err != nil {
		m.tb.Fatalf("servertest: start member: %v", err)
	}
	// Keep the port across restarts, so that clients find the member again.
	m.cfg.Listen = srv.Addr()
	ctx, cancel := context.WithCancel(context.Background())
	m.srv, m.cancel, m.done = srv, cancel, make(chan struct{})
	done := m.done
	go func() {
		m.runErr = srv.Run(ctx)
		close(done)
	}()
}

// Exited returns a channel closed when the member's Run has returned by
// itself or after Stop, and then Run's error (server.ErrRemoved for a
// member removed from its cluster).
func (m *Member) Exited() (<-chan struct{}, func() error) {
	done := m.done
	return done, func() error { <-done; return m.runErr }
}

// Addr returns the member's client address, HOST:PORT.
func (m *Member) Addr() string { return m.cfg.Listen }

// ID returns the member's id (1 for a member alone).
func (m *Member) ID() uint64 { return max(m.cfg.ID, 1) }

// Running reports whether the member is started (not stopped).
func (m *Member) Running() bool { return m.cancel != nil }

// DataDir returns the member's data directory.
func (m *Member) DataDir() string { return m.cfg.DataDir }

// Server returns the running server.
func (m *Member) Server() *server.Server { return m.srv }

// Stop shuts the member down gracefully and waits for it. Stopping a
// stopped member does nothing.
func (m *Member) Stop() {
	m.tb.Helper()
	if m.cancel == nil {
		return
	}
	m.cancel()
	select {
	case <-m.done:
		if err := m.runErr; err != nil && !errors.Is(err, server.ErrRemoved) {
			m.tb.Errorf("servertest: member stopped with %v", err)
		}
	case <-time.After(30 * time.Second):
		m.tb.Errorf("servertest: member did not stop within 30s")
	}
	m.cancel = nil
}

// Restart stops the member and starts it again on the same data directory
// and address.
func (m *Member) Restart() {
	m.tb.Helper()
	m.Stop()
	m.start()
}

// Cluster is a cluster of in-process members whose peer traffic goes
// over an in-memory network (transport.Network).
type Cluster struct {
	tb       testing.TB
	net      *transport.Network
	founders server.Cluster    // the peer addresses the cluster started with
	added    map[uint64]string // on TCP, the peer addresses of members added since
	ports    freeport.Picker   // on TCP, where the peer addresses come from
	members  []*Member
}

// StartCluster starts a cluster of size members, ids 1 to size, each
// with cfg as Start does (its ID, Cluster and Transport set per member),
// and waits until every member knows the leader. The network's random draws (drops, delays) are
// seeded from ARBOR_SEED if set, else 1. The members are stopped when the
// test ends.
func StartCluster(tb testing.TB, size int, cfg server.Config) *Cluster {
	tb.Helper()
	return startCluster(tb, size, cfg, false)
}

// StartTCPCluster is StartCluster with the members' peer traffic on TCP
// over loopback, on ports that were free a moment before (below the
// kernel's ephemeral range, so no dial takes them meanwhile), as in
// production: for benchmarks and tests of the TCP transport. Its Network
// is nil.
func StartTCPCluster(tb testing.TB, size int, cfg server.Config) *Cluster {
	tb.Helper()
	return startCluster(tb, size, cfg, true)
}

func startCluster(tb testing.TB, size int, cfg server.Config, tcp bool) *Cluster {
	tb.Helper()
	seed := uint64(1)
	if v := os.Getenv("ARBOR_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			tb.Fatalf("servertest: ARBOR_SEED %q: %v", v, err)
		}
		seed = n
	}
	c := &Cluster{tb: tb}
	peers := make(server.Cluster, size)
	if tcp {
		for i := 1; i <= size; i++ {
			peers[uint64(i)] = c.freeLoopbackAddr(tb)
		}
	} else {
		c.net = transport.NewNetwork(seed, nil)
		tb.Cleanup(c.net.Close) // registered first, so it runs last
		// The peer addresses are never dialled: the network carries the
		// traffic. They only name the members.
		for i := 1; i <= size; i++ {
			peers[uint64(i)] = fmt.Sprintf("127.0.0.1:%d", i)
		}
	}
	c.founders = peers
	for i := 1; i <= size; i++ {
		mc := cfg
		mc.ID, mc.Cluster = uint64(i), peers
		if mc.DataDir == "" || size > 1 {
			mc.DataDir = tb.TempDir()
		}
		if mc.Listen == "" || size > 1 {
			mc.Listen = "127.0.0.1:0"
		}
		if mc.Logger == nil && os.Getenv("ARBOR_TEST_LOG") != "" {
			mc.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("member", i)
		}
		m := &Member{tb: tb, cfg: mc, net: c.net}
		m.start()
		tb.Cleanup(m.Stop)
		c.members = append(c.members, m)
	}
	lead := c.WaitLeader()
	deadline := time.Now().Add(30 * time.Second)
	for _, m := range c.members {
		for m.srv.Stats().Leader != lead.ID() {
			if time.Now().After(deadline) {
				tb.Fatalf("servertest: member %d does not know leader %d within 30s", m.ID(), lead.ID())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return c
}

// freeLoopbackAddr returns a loopback address whose port was free a
// moment ago, below the kernel's ephemeral range: a port from port 0
// could be taken by the local end of a connection one member dials
// before the member it was reserved for listens on it.
func (c *Cluster) freeLoopbackAddr(tb testing.TB) string {
	tb.Helper()
	addr, err := c.ports.Addr()
	if err != nil {
		tb.Fatalf("servertest: %v", err)
	}
	return addr
}

// AddMember starts a new member that joins the cluster (server.Config
// Join) on its network, with cfg as Start takes it; cfg.ID must be the
// next id (len(Members())+1), which Member then finds. Its peer address
// is "127.0.0.1:ID" (a name only: the network carries the traffic), or,
// on TCP, a loopback port that was free a moment before (PeerAddr). It
// waits for the leader to add it: add it through the admin API
// (POST server.MembersPath on the leader). It is stopped when the test
// ends.
func (c *Cluster) AddMember(tb testing.TB, cfg server.Config) *Member {
	tb.Helper()
	if want := uint64(len(c.members) + 1); cfg.ID != want {
		tb.Fatalf("servertest: AddMember: id %d, want the next id %d", cfg.ID, want)
	}
	cfg.Cluster = make(server.Cluster, len(c.founders)+1)
	for id, addr := range c.founders {
		cfg.Cluster[id] = addr
	}
	if c.net == nil {
		if c.added == nil {
			c.added = make(map[uint64]string)
		}
		c.added[cfg.ID] = c.freeLoopbackAddr(tb)
	}
	cfg.Cluster[cfg.ID] = c.PeerAddr(cfg.ID)
	cfg.Join = true
	if cfg.DataDir == "" {
		cfg.DataDir = tb.TempDir()
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.Logger == nil && os.Getenv("ARBOR_TEST_LOG") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("member", cfg.ID)
	}
	m := &Member{tb: tb, cfg: cfg, net: c.net}
	m.start()
	tb.Cleanup(m.Stop)
	c.members = append(c.members, m)
	return m
}

// PeerAddr returns the peer address of member id, as the cluster names it.
func (c *Cluster) PeerAddr(id uint64) string {
	if addr, ok := c.founders[id]; ok {
		return addr
	}
	if addr, ok := c.added[id]; ok {
		return addr
	}
	return fmt.Sprintf("127.0.0.1:%d", id)
}

// Network returns the cluster's network, to partition it or break links;
// nil for a cluster on TCP.
func (c *Cluster) Network() *transport.Network { return c.net }

// Members returns the members; Members()[i] has id i+1.
func (c *Cluster) Members() []*Member { return c.members }

// Member returns the member with the given id.
func (c *Cluster) Member(id uint64) *Member { return c.members[id-1] }

// Addrs returns the client addresses of every member.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.members))
	for i, m := range c.members {
		addrs[i] = m.Addr()
	}
	return addrs
}

// Leader returns the running member that is leader now, or nil.
func (c *Cluster) Leader() *Member {
	for _, m := range c.members {
		if m.Running() && m.srv.Stats().Role == "leader" {
			return m
		}
	}
	return nil
}

// WaitLeader waits (up to 30 s, else it fails the test) until a running
// member is leader, and returns it.
func (c *Cluster) WaitLeader() *Member {
	c.tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if l := c.Leader(); l != nil {
			return l
		}
		if time.Now().After(deadline) {
			c.tb.Fatalf("servertest: no leader within 30s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// StartExample starts a member for a runnable example, which has no
// testing.TB: in-process on a free loopback port, its data in a new
// temporary directory. It returns the member's client address and the
// function that stops it and removes the directory; it exits the program
// (log.Fatal) if the member cannot start.
func StartExample() (addr string, stop func()) {
	dir, err := os.MkdirTemp("", "arbor-example-")
	if err != nil {
		log.Fatal(err)
	}
	srv, err := server.New(server.Config{DataDir: dir, Listen: "127.0.0.1:0"})
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	return srv.Addr(), func() {
		cancel()
		<-done
		os.RemoveAll(dir)
	}
}
