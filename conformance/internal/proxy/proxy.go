package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

// Defaults for the zero values of Config.
const (
	DefaultListen          = "127.0.0.1:0"
	DefaultIdentifyTimeout = 5 * time.Second
	DefaultDialTimeout     = 5 * time.Second
	DefaultQueueBytes      = 4 << 20
	DefaultMaxConns        = 1024
)

// maxPeekBytes caps Config.PeekBytes: the head is read into memory before
// the connection is known to be anyone's.
const maxPeekBytes = 64 << 10

// ErrNotLoopback reports a Config.Listen that is not a loopback address.
var ErrNotLoopback = errors.New("proxy: listen address is not loopback")

// Config configures a Proxy. Target is required; the zero value of every
// other field is a usable default.
type Config struct {
	// Listen is the address to listen on: a loopback IP or "localhost",
	// with a port (0 picks one). Default DefaultListen.
	Listen string
	// Target is the host:port every accepted connection is forwarded to.
	Target string

	// Identify, if set, names the source of each accepted connection from
	// the first PeekBytes bytes the dialer sends. They are read before
	// anything is forwarded, and then forwarded unchanged. A connection
	// that does not send them within IdentifyTimeout, or whose head
	// Identify rejects, is closed. Without Identify every connection's
	// source is 0. Identify is called from many goroutines at once.
	Identify func(head []byte) (source uint64, err error)
	// PeekBytes is the length of the head given to Identify, 1 to 64 KiB.
	// Required with Identify, and must be 0 without it.
	PeekBytes int
	// IdentifyTimeout bounds the wait for the head. Default
	// DefaultIdentifyTimeout.
	IdentifyTimeout time.Duration

	// DialTimeout bounds the dial to Target. A connection whose dial fails
	// is closed. Default DefaultDialTimeout.
	DialTimeout time.Duration
	// QueueBytes bounds the bytes read but not yet delivered in each
	// direction of each connection. When a queue is full, its reader
	// stops reading until there is room. Default DefaultQueueBytes.
	QueueBytes int
	// MaxConns bounds the connections open at once; one accepted beyond it
	// is closed at once. Default DefaultMaxConns.
	MaxConns int

	// Logger receives the proxy's log lines: faults applied at info,
	// per-connection events at debug. Nil discards them.
	Logger *slog.Logger
}

// Stats counts a Proxy's connections.
type Stats struct {
	Accepted   uint64 // connections accepted, ever
	Active     int    // connections open now, black-holed ones included
	BlackHoled int    // connections black-holed now
	Cut        uint64 // connections reset by Cut or CutAll, ever
	Rejected   uint64 // connections closed for a missing or rejected head, or over MaxConns, ever
	DialFailed uint64 // connections closed because Target could not be dialled, ever
}

// Proxy forwards connections from a loopback listener to a target and
// injects faults into them per source. Its methods are safe for concurrent
// use.
//
// Lock order: Proxy.mu before conn.mu.
type Proxy struct {
	cfg    Config
	logger *slog.Logger
	ln     net.Listener
	ctx    context.Context // ends at Close; bounds dials
	cancel context.CancelFunc
	wg     sync.WaitGroup // the accept loop and one serve per connection

	mu       sync.Mutex
	closed   bool
	conns    map[*conn]struct{}
	blockAll bool
	blocked  map[uint64]bool
	delays   map[uint64]time.Duration
	stats    Stats // Active and BlackHoled are computed by Stats
}

// New validates cfg, listens at once and serves in the background until
// Close.
func New(cfg Config) (*Proxy, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("proxy: listen: %w", err)
	}
	// "localhost" might resolve to something else; check what we got.
	if a, ok := ln.Addr().(*net.TCPAddr); !ok || !a.IP.IsLoopback() {
		_ = ln.Close()
		return nil, fmt.Errorf("proxy: listening on %s: %w", ln.Addr(), ErrNotLoopback)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Proxy{
		cfg:     cfg,
		logger:  cfg.Logger.With("proxy", ln.Addr().String(), "target", cfg.Target),
		ln:      ln,
		ctx:     ctx,
		cancel:  cancel,
		conns:   make(map[*conn]struct{}),
		blocked: make(map[uint64]bool),
		delays:  make(map[uint64]time.Duration),
	}
	p.wg.Add(1)
	go p.acceptLoop()
	return p, nil
}

// fill checks c and sets its defaults.
func (c *Config) fill() error {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	host, _, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return fmt.Errorf("proxy: Listen %q: %w", c.Listen, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("proxy: Listen %q: %w (use 127.0.0.1, ::1 or localhost)", c.Listen, ErrNotLoopback)
	}
	if c.Target == "" {
		return errors.New("proxy: Target is required")
	}
	if _, _, err := net.SplitHostPort(c.Target); err != nil {
		return fmt.Errorf("proxy: Target %q: %w", c.Target, err)
	}
	switch {
	case c.Identify != nil && (c.PeekBytes < 1 || c.PeekBytes > maxPeekBytes):
		return fmt.Errorf("proxy: PeekBytes %d: want 1 to %d with Identify", c.PeekBytes, maxPeekBytes)
	case c.Identify == nil && c.PeekBytes != 0:
		return fmt.Errorf("proxy: PeekBytes %d without Identify", c.PeekBytes)
	}
	if c.IdentifyTimeout < 0 || c.DialTimeout < 0 || c.QueueBytes < 0 || c.MaxConns < 0 {
		return errors.New("proxy: negative IdentifyTimeout, DialTimeout, QueueBytes or MaxConns")
	}
	if c.IdentifyTimeout == 0 {
		c.IdentifyTimeout = DefaultIdentifyTimeout
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.QueueBytes == 0 {
		c.QueueBytes = DefaultQueueBytes
	}
	if c.MaxConns == 0 {
		c.MaxConns = DefaultMaxConns
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Addr returns the address the proxy listens on, for dialers to use in
// place of Target.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Close stops listening, closes every connection and waits for every
// goroutine the Proxy started. Later calls do nothing and return nil.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	for c := range p.conns {
		c.abort(false)
	}
	p.mu.Unlock()
	p.cancel()
	err := p.ln.Close()
	p.wg.Wait()
	if err != nil {
		return fmt.Errorf("proxy: close listener: %w", err)
	}
	return nil
}

// Block black-holes source: until Unblock, every byte of its connections is
// read and discarded in both directions, and none is closed. Connections
// from source accepted meanwhile are black-holed too, without dialling the
// target.
func (p *Proxy) Block(source uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.blocked[source] = true
	n := 0
	for c := range p.conns {
		if c.identified && c.source == source && c.blackHole() {
			n++
		}
	}
	p.logger.Info("block", "source", source, "conns", n)
}

// Unblock ends Block(source) and closes, with a reset, every connection
// from source that was black-holed. It does not override BlockAll.
func (p *Proxy) Unblock(source uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.blocked, source)
	if p.blockAll {
		p.logger.Info("unblock: BlockAll still holds", "source", source)
		return
	}
	n := p.closeHoledLocked(func(c *conn) bool { return c.source == source })
	p.logger.Info("unblock", "source", source, "closed", n)
}

// BlockAll black-holes every source, present and future, as Block.
func (p *Proxy) BlockAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.blockAll = true
	n := 0
	for c := range p.conns {
		if c.identified && c.blackHole() {
			n++
		}
	}
	p.logger.Info("block all", "conns", n)
}

// UnblockAll ends BlockAll and every Block, and closes, with a reset, every
// black-holed connection.
func (p *Proxy) UnblockAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.blockAll = false
	clear(p.blocked)
	n := p.closeHoledLocked(func(*conn) bool { return true })
	p.logger.Info("unblock all", "closed", n)
}

// closeHoledLocked resets the black-holed connections that match. p.mu is
// held.
func (p *Proxy) closeHoledLocked(match func(*conn) bool) int {
	n := 0
	for c := range p.conns {
		if c.identified && c.holed() && match(c) && c.abort(true) {
			n++
		}
	}
	return n
}

// Delay makes every chunk read from now on, in either direction of a
// connection from source, wait d before it is delivered. Zero (or less)
// clears the delay.
func (p *Proxy) Delay(source uint64, d time.Duration) {
	d = max(d, 0)
	p.mu.Lock()
	defer p.mu.Unlock()
	if d == 0 {
		delete(p.delays, source)
	} else {
		p.delays[source] = d
	}
	for c := range p.conns {
		if c.identified && c.source == source {
			c.delay.Store(int64(d))
		}
	}
	p.logger.Info("delay", "source", source, "delay", d)
}

// Cut resets the connections from source open now, black-holed ones
// included, and returns how many. Later connections are served as usual.
func (p *Proxy) Cut(source uint64) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.cutLocked(func(c *conn) bool { return c.identified && c.source == source })
	p.logger.Info("cut", "source", source, "conns", n)
	return n
}

// CutAll resets every connection open now, those still being identified
// included, and returns how many.
func (p *Proxy) CutAll() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.cutLocked(func(*conn) bool { return true })
	p.logger.Info("cut all", "conns", n)
	return n
}

// cutLocked resets the connections that match. p.mu is held.
func (p *Proxy) cutLocked(match func(*conn) bool) int {
	n := 0
	for c := range p.conns {
		if match(c) && c.abort(true) {
			n++
		}
	}
	p.stats.Cut += uint64(n)
	return n
}

// Stats returns the proxy's counts.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	for c := range p.conns {
		// A closed conn lingers in p.conns until its goroutines are done.
		if c.open() {
			s.Active++
			if c.holed() {
				s.BlackHoled++
			}
		}
	}
	return s
}

// acceptLoop accepts connections until the listener is closed.
func (p *Proxy) acceptLoop() {
	defer p.wg.Done()
	backoff := time.Duration(0)
	for {
		nc, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || p.ctx.Err() != nil {
				return
			}
			// Out of file descriptors, say: wait, boundedly, and retry.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			p.logger.Warn("accept failed", "err", err, "retry_in", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-p.ctx.Done():
				t.Stop()
				return
			}
			continue
		}
		backoff = 0
		c := newConn(nc)
		p.mu.Lock()
		p.stats.Accepted++
		switch {
		case p.closed:
			p.mu.Unlock()
			_ = nc.Close()
			return
		case len(p.conns) >= p.cfg.MaxConns: // closed ones count until they are gone
			p.stats.Rejected++
			p.mu.Unlock()
			p.logger.Warn("too many connections, closing", "remote", nc.RemoteAddr(), "max_conns", p.cfg.MaxConns)
			_ = nc.Close()
			continue
		}
		p.conns[c] = struct{}{}
		p.wg.Add(1)
		p.mu.Unlock()
		go p.serve(c)
	}
}

// serve runs one accepted connection to its end.
func (p *Proxy) serve(c *conn) {
	defer p.wg.Done()
	defer p.forget(c)
	log := p.logger.With("remote", c.client.RemoteAddr().String())

	var head []byte
	var source uint64
	if p.cfg.Identify != nil {
		var err error
		head, source, err = p.identify(c)
		if err != nil {
			p.mu.Lock()
			p.stats.Rejected++
			p.mu.Unlock()
			log.Debug("closing unidentified connection", "err", err)
			return
		}
		log = log.With("source", source)
	}
	if p.label(c, source) {
		// Black-holed from the start: never dial, only drain the dialer
		// until Unblock, Cut or Close resets it, or it hangs up.
		log.Debug("black-holing new connection")
		_, _ = io.Copy(io.Discard, c.client)
		return
	}

	d := net.Dialer{Timeout: p.cfg.DialTimeout}
	up, err := d.DialContext(p.ctx, "tcp", p.cfg.Target)
	if err != nil {
		p.mu.Lock()
		p.stats.DialFailed++
		p.mu.Unlock()
		log.Debug("target unreachable, closing", "err", err)
		return
	}
	if !c.setUpstream(up) {
		return
	}
	log.Debug("forwarding")
	c.pump(head, p.cfg.QueueBytes)
}

// identify reads c's head, bounded by IdentifyTimeout, and names its
// source.
func (p *Proxy) identify(c *conn) ([]byte, uint64, error) {
	head := make([]byte, p.cfg.PeekBytes)
	if err := c.client.SetReadDeadline(time.Now().Add(p.cfg.IdentifyTimeout)); err != nil {
		return nil, 0, fmt.Errorf("set deadline: %w", err)
	}
	if _, err := io.ReadFull(c.client, head); err != nil {
		return nil, 0, fmt.Errorf("read head: %w", err)
	}
	if err := c.client.SetReadDeadline(time.Time{}); err != nil {
		return nil, 0, fmt.Errorf("clear deadline: %w", err)
	}
	source, err := p.cfg.Identify(head)
	if err != nil {
		return nil, 0, fmt.Errorf("identify: %w", err)
	}
	return head, source, nil
}

// label records c's source, gives it the source's delay and black-holes it
// if the source is blocked, which it reports.
func (p *Proxy) label(c *conn, source uint64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	c.source, c.identified = source, true
	c.delay.Store(int64(p.delays[source]))
	if p.blockAll || p.blocked[source] {
		c.blackHole()
	}
	return c.holed()
}

// forget closes c and drops it from the proxy.
func (p *Proxy) forget(c *conn) {
	c.abort(false)
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}
