// Package servertest starts arbor members in-process on loopback ports,
// for tests, as net/http/httptest does for HTTP servers.
//
//	m := servertest.Start(t, server.Config{})
//	c, err := client.Connect(ctx, []string{m.Addr()})
//
// A member is stopped when its test ends.
package servertest

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/arbor-coord/arbor/server"
)

// Member is one running in-process member.
type Member struct {
	tb     testing.TB
	cfg    server.Config
	srv    *server.Server
	cancel context.CancelFunc
	done   chan error
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
	srv, err := server.New(m.cfg)
	if err != nil {
		m.tb.Fatalf("servertest: start member: %v", err)
	}
	// Keep the port across restarts, so that clients find the member again.
	m.cfg.Listen = srv.Addr()
	ctx, cancel := context.WithCancel(context.Background())
	m.srv, m.cancel, m.done = srv, cancel, make(chan error, 1)
	go func() { m.done <- srv.Run(ctx) }()
}

// Addr returns the member's client address, HOST:PORT.
func (m *Member) Addr() string { return m.cfg.Listen }

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
	case err := <-m.done:
		if err != nil {
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
