package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// patience bounds every wait in these tests; they assert outcomes, never
// speed, so it is generous.
const patience = 10 * time.Second

// silence is how long a black-holed connection must stay quiet.
const silence = 200 * time.Millisecond

// echoServer listens on loopback and echoes every connection until its
// end of stream, then half-closes it.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
				_ = c.(*net.TCPConn).CloseWrite()
				_, _ = io.Copy(io.Discard, c)
			})
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		wg.Wait()
	})
	return ln.Addr().String()
}

// rawTarget is a target whose connections the test serves itself.
type rawTarget struct {
	ln *net.TCPListener
}

func newRawTarget(t *testing.T) *rawTarget {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return &rawTarget{ln: ln.(*net.TCPListener)}
}

func (r *rawTarget) addr() string { return r.ln.Addr().String() }

// accept returns the next connection the proxy dials.
func (r *rawTarget) accept(t *testing.T) net.Conn {
	t.Helper()
	_ = r.ln.SetDeadline(time.Now().Add(patience))
	c, err := r.ln.Accept()
	if err != nil {
		t.Fatalf("target accept: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// expectNoDial checks that the proxy does not dial the target for a while.
func (r *rawTarget) expectNoDial(t *testing.T) {
	t.Helper()
	_ = r.ln.SetDeadline(time.Now().Add(silence))
	c, err := r.ln.Accept()
	if err == nil {
		_ = c.Close()
		t.Fatal("the proxy dialled the target")
	}
	if !isTimeout(err) {
		t.Fatalf("target accept: %v", err)
	}
}

func newProxy(t *testing.T, cfg Config) *Proxy {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func peerProxy(t *testing.T, target string) *Proxy {
	t.Helper()
	return newProxy(t, Config{Target: target, PeekBytes: PeerHandshakeBytes, Identify: PeerSource})
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, patience)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// dialPeer dials addr and sends the handshake of a peer stream from id.
func dialPeer(t *testing.T, addr string, from uint64) net.Conn {
	t.Helper()
	c := dial(t, addr)
	write(t, c, handshake(42, from, 1))
	return c
}

func write(t *testing.T, c net.Conn, b []byte) {
	t.Helper()
	_ = c.SetWriteDeadline(time.Now().Add(patience))
	if _, err := c.Write(b); err != nil {
		t.Fatalf("write: %v", err)
	}
}

func readN(t *testing.T, c net.Conn, n int) []byte {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(patience))
	b := make([]byte, n)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatalf("read %d bytes: %v", n, err)
	}
	return b
}

// roundTrip sends msg through an echo and checks that it comes back.
func roundTrip(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	write(t, c, []byte(msg))
	if got := string(readN(t, c, len(msg))); got != msg {
		t.Fatalf("echoed %q, want %q", got, msg)
	}
}

// expectSilent checks that nothing arrives on c for a while, and that c is
// not closed either.
func expectSilent(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(silence))
	var b [1]byte
	n, err := c.Read(b[:])
	if n > 0 || !isTimeout(err) {
		t.Fatalf("black hole: read %d bytes, %v; want a timeout", n, err)
	}
	_ = c.SetReadDeadline(time.Time{})
}

// expectClosed reads c until it ends, which it must do (by an end of
// stream or a reset) before patience runs out.
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(patience))
	_, err := io.Copy(io.Discard, c)
	if isTimeout(err) {
		t.Fatal("connection still open")
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// waitFor polls cond until it holds, or fails the test.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// proxyGoroutines returns the stacks of this package's goroutines that
// are not tests.
func proxyGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var found []string
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "proxy.(*Proxy)") || strings.Contains(g, "proxy.(*conn)") || strings.Contains(g, "proxy.(*queue)") {
			found = append(found, g)
		}
	}
	return found
}

func TestForward(t *testing.T) {
	p := newProxy(t, Config{Target: echoServer(t)})
	c := dial(t, p.Addr())
	roundTrip(t, c, "hello")
	roundTrip(t, c, "again")

	// A half-close travels to the target, and the target's back.
	write(t, c, []byte("last"))
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(patience))
	rest, err := io.ReadAll(c)
	if err != nil || string(rest) != "last" {
		t.Fatalf("after half-close read %q, %v; want \"last\", EOF", rest, err)
	}
	waitFor(t, "the connection to be closed", func() bool { return p.Stats().Active == 0 })
	if s := p.Stats(); s.Accepted != 1 {
		t.Fatalf("stats %+v, want 1 accepted", s)
	}
}

func TestForwardManyConnections(t *testing.T) {
	// A small queue exercises backpressure.
	p := newProxy(t, Config{Target: echoServer(t), QueueBytes: 4 << 10})
	const conns, size = 20, 256 << 10
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for i := range conns {
		c := dial(t, p.Addr())
		wg.Go(func() {
			msg := make([]byte, size)
			rng := rand.New(rand.NewPCG(uint64(i), 1))
			for j := range msg {
				msg[j] = byte(rng.Uint32())
			}
			_ = c.SetDeadline(time.Now().Add(patience))
			go func() {
				// Write and read at once, as an echo needs.
				_, _ = c.Write(msg)
				_ = c.(*net.TCPConn).CloseWrite()
			}()
			got, err := io.ReadAll(c)
			switch {
			case err != nil:
				errs <- fmt.Errorf("conn %d: %w", i, err)
			case !bytes.Equal(got, msg):
				errs <- fmt.Errorf("conn %d: echoed %d bytes differ from the %d sent", i, len(got), len(msg))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	waitFor(t, "every connection to be closed", func() bool { return p.Stats().Active == 0 })
}

func TestIdentify(t *testing.T) {
	target := newRawTarget(t)
	p := peerProxy(t, target.addr())

	c := dialPeer(t, p.Addr(), 2)
	write(t, c, []byte("frame"))
	s := target.accept(t)
	want := append(handshake(42, 2, 1), "frame"...)
	if got := readN(t, s, len(want)); !bytes.Equal(got, want) {
		t.Fatalf("target read %x, want %x unchanged", got, want)
	}
	if n := p.Cut(3); n != 0 {
		t.Fatalf("Cut(3) = %d, want 0", n)
	}
	if n := p.Cut(2); n != 1 {
		t.Fatalf("Cut(2) = %d, want 1: the connection is labelled with its handshake's from", n)
	}
	expectClosed(t, c)
}

func TestIdentifyRejects(t *testing.T) {
	target := newRawTarget(t)
	p := newProxy(t, Config{
		Target: target.addr(), PeekBytes: PeerHandshakeBytes, Identify: PeerSource,
		IdentifyTimeout: 300 * time.Millisecond,
	})

	bad := handshake(42, 2, 1)
	copy(bad, "HTTP")
	c := dial(t, p.Addr())
	write(t, c, bad)
	expectClosed(t, c)

	zero := dialPeer(t, p.Addr(), 0)
	expectClosed(t, zero)

	short := dial(t, p.Addr())
	write(t, short, []byte("ARBR"))
	expectClosed(t, short) // after IdentifyTimeout

	target.expectNoDial(t)
	waitFor(t, "3 rejections", func() bool { return p.Stats().Rejected == 3 })
}

func TestBlock(t *testing.T) {
	target := newRawTarget(t)
	p := peerProxy(t, target.addr())

	a := dialPeer(t, p.Addr(), 2) // to be blocked
	as := target.accept(t)
	readN(t, as, PeerHandshakeBytes)
	b := dialPeer(t, p.Addr(), 3) // a bystander
	bs := target.accept(t)
	readN(t, bs, PeerHandshakeBytes)

	p.Block(2)

	// Silence both ways, without a close.
	write(t, a, []byte("lost"))
	expectSilent(t, as)
	write(t, as, []byte("lost too"))
	expectSilent(t, a)

	// New connections from 2 are black-holed too, without a dial.
	a2 := dialPeer(t, p.Addr(), 2)
	write(t, a2, []byte("into the void"))
	target.expectNoDial(t)
	expectSilent(t, a2)
	waitFor(t, "2 black-holed connections", func() bool { return p.Stats().BlackHoled == 2 })

	// Source 3 is unaffected.
	write(t, b, []byte("ping"))
	if got := string(readN(t, bs, 4)); got != "ping" {
		t.Fatalf("bystander: target read %q", got)
	}
	write(t, bs, []byte("pong"))
	if got := string(readN(t, b, 4)); got != "pong" {
		t.Fatalf("bystander: dialer read %q", got)
	}

	// Unblock closes what was black-holed; new connections go through.
	p.Unblock(2)
	expectClosed(t, a)
	expectClosed(t, a2)
	expectClosed(t, as)
	a3 := dialPeer(t, p.Addr(), 2)
	write(t, a3, []byte("back"))
	a3s := target.accept(t)
	if got := string(readN(t, a3s, PeerHandshakeBytes+4)[PeerHandshakeBytes:]); got != "back" {
		t.Fatalf("after Unblock: target read %q", got)
	}
	if s := p.Stats(); s.BlackHoled != 0 {
		t.Fatalf("stats %+v, want nothing black-holed", s)
	}
	write(t, b, []byte("still"))
	if got := string(readN(t, bs, 5)); got != "still" {
		t.Fatalf("bystander after Unblock: target read %q", got)
	}
}

func TestBlockAll(t *testing.T) {
	p := newProxy(t, Config{Target: echoServer(t)})
	c := dial(t, p.Addr())
	roundTrip(t, c, "before")

	p.BlockAll()
	write(t, c, []byte("lost"))
	expectSilent(t, c)
	p.Unblock(0) // does not override BlockAll
	expectSilent(t, c)
	c2 := dial(t, p.Addr())
	write(t, c2, []byte("lost"))
	expectSilent(t, c2)

	p.UnblockAll()
	expectClosed(t, c)
	expectClosed(t, c2)
	roundTrip(t, dial(t, p.Addr()), "after")
}

func TestDelay(t *testing.T) {
	const d = 300 * time.Millisecond
	p := newProxy(t, Config{Target: echoServer(t)})
	c := dial(t, p.Addr())
	roundTrip(t, c, "undelayed")

	p.Delay(0, d)
	// Many small writes: each is delayed, none lost or reordered, and the
	// delays overlap (the stream is not slowed to one chunk per d, though
	// that is not asserted: the machine may be slow).
	var sent bytes.Buffer
	for i := range 200 {
		fmt.Fprintf(&sent, "chunk %03d;", i)
	}
	start := time.Now()
	go func() {
		msg := sent.Bytes()
		for len(msg) > 0 {
			n := min(len(msg), 10)
			if _, err := c.Write(msg[:n]); err != nil {
				return
			}
			msg = msg[n:]
		}
	}()
	first := readN(t, c, 1)
	if elapsed := time.Since(start); elapsed < 2*d {
		t.Fatalf("echo arrived after %v, want at least %v (d each way)", elapsed, 2*d)
	}
	rest := readN(t, c, sent.Len()-1)
	if got := append(first, rest...); !bytes.Equal(got, sent.Bytes()) {
		t.Fatalf("delayed stream differs:\n got %q\nwant %q", got, sent.Bytes())
	}

	p.Delay(0, 0)
	roundTrip(t, c, "undelayed again")
}

func TestDelayIdentified(t *testing.T) {
	const d = 300 * time.Millisecond
	target := newRawTarget(t)
	p := peerProxy(t, target.addr())
	p.Delay(2, d) // before the connection exists

	start := time.Now()
	c := dialPeer(t, p.Addr(), 2)
	write(t, c, []byte("x"))
	s := target.accept(t)
	got := readN(t, s, PeerHandshakeBytes+1)
	if elapsed := time.Since(start); elapsed < d {
		t.Fatalf("handshake arrived after %v, want at least %v", elapsed, d)
	}
	if got[PeerHandshakeBytes] != 'x' {
		t.Fatalf("target read %q", got)
	}
}

func TestCut(t *testing.T) {
	p := newProxy(t, Config{Target: echoServer(t)})
	c1, c2 := dial(t, p.Addr()), dial(t, p.Addr())
	roundTrip(t, c1, "one")
	roundTrip(t, c2, "two")
	if n := p.Cut(0); n != 2 {
		t.Fatalf("Cut(0) = %d, want 2", n)
	}
	expectClosed(t, c1)
	expectClosed(t, c2)
	roundTrip(t, dial(t, p.Addr()), "three")
	if n := p.CutAll(); n != 1 {
		t.Fatalf("CutAll = %d, want 1", n)
	}
	roundTrip(t, dial(t, p.Addr()), "four")
	if s := p.Stats(); s.Cut != 3 || s.Accepted != 4 {
		t.Fatalf("stats %+v, want 3 cut of 4 accepted", s)
	}
}

func TestCutSource(t *testing.T) {
	p := peerProxy(t, echoServer(t))
	a, b := dialPeer(t, p.Addr(), 2), dialPeer(t, p.Addr(), 3)
	readN(t, a, PeerHandshakeBytes) // echoed
	readN(t, b, PeerHandshakeBytes)
	if n := p.Cut(2); n != 1 {
		t.Fatalf("Cut(2) = %d, want 1", n)
	}
	expectClosed(t, a)
	roundTrip(t, b, "unaffected")
}

func TestTargetUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone := ln.Addr().String()
	_ = ln.Close()
	p := newProxy(t, Config{Target: gone})
	expectClosed(t, dial(t, p.Addr()))
	waitFor(t, "a failed dial", func() bool { return p.Stats().DialFailed == 1 })
}

func TestMaxConns(t *testing.T) {
	p := newProxy(t, Config{Target: echoServer(t), MaxConns: 1})
	c := dial(t, p.Addr())
	roundTrip(t, c, "one")
	expectClosed(t, dial(t, p.Addr()))
	roundTrip(t, c, "still")
	if s := p.Stats(); s.Rejected != 1 {
		t.Fatalf("stats %+v, want 1 rejected", s)
	}
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	target := echoServer(t)
	p, err := New(Config{Target: target, PeekBytes: PeerHandshakeBytes, Identify: PeerSource, QueueBytes: 1 << 10})
	if err != nil {
		t.Fatal(err)
	}
	// A connection in every state: forwarding, delayed with data queued,
	// black-holed, black-holed from the start, being identified, and one
	// whose dialer writes much and reads nothing, to fill its queues.
	fwd := dialPeer(t, p.Addr(), 1)
	readN(t, fwd, PeerHandshakeBytes)
	p.Delay(2, time.Hour)
	delayed := dialPeer(t, p.Addr(), 2)
	write(t, delayed, []byte("queued"))
	holed := dialPeer(t, p.Addr(), 3)
	readN(t, holed, PeerHandshakeBytes)
	p.Block(3)
	p.Block(4)
	dialPeer(t, p.Addr(), 4)
	write(t, dial(t, p.Addr()), []byte("AR"))
	stalled := dialPeer(t, p.Addr(), 5)
	go func() {
		_ = stalled.SetWriteDeadline(time.Now().Add(patience))
		_, _ = stalled.Write(make([]byte, 8<<20))
	}()
	waitFor(t, "6 connections", func() bool { return p.Stats().Active == 6 })

	if len(proxyGoroutines()) == 0 {
		t.Fatal("found no proxy goroutines: the leak check would see nothing")
	}
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// Close has waited for every goroutine, but one may still be on its
	// way out after its deferred Done: it may be runnable, never blocked.
	for _, g := range proxyGoroutines() {
		if !strings.Contains(g, "[runnable]") && !strings.Contains(g, "[running]") {
			t.Errorf("goroutine blocked after Close:\n%s", g)
		}
	}
	deadline := time.Now().Add(patience)
	for g := proxyGoroutines(); len(g) > 0; g = proxyGoroutines() {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines left after Close:\n%s", len(g), strings.Join(g, "\n\n"))
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	expectClosed(t, fwd)
	expectClosed(t, holed)
	if _, err := net.DialTimeout("tcp", p.Addr(), patience); err == nil {
		t.Fatal("dial after Close succeeded")
	}
}

func TestConfig(t *testing.T) {
	target := echoServer(t)
	for _, listen := range []string{"0.0.0.0:0", ":0", "192.0.2.1:0", "[::]:0", "example.com:0"} {
		_, err := New(Config{Listen: listen, Target: target})
		if !errors.Is(err, ErrNotLoopback) {
			t.Errorf("Listen %q: err %v, want ErrNotLoopback", listen, err)
		}
	}
	for _, cfg := range []Config{
		{},                                     // no target
		{Target: "no-port"},                    // not host:port
		{Target: target, PeekBytes: 32},        // PeekBytes without Identify
		{Target: target, Identify: PeerSource}, // Identify without PeekBytes
		{Target: target, Identify: PeerSource, PeekBytes: 1 << 20}, // too long a head
		{Target: target, QueueBytes: -1},
	} {
		if p, err := New(cfg); err == nil {
			_ = p.Close()
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
	p := newProxy(t, Config{Listen: "localhost:0", Target: target})
	roundTrip(t, dial(t, p.Addr()), "localhost")
}
