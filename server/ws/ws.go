package ws

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/arbor-coord/arbor/internal/errcode"
	"github.com/arbor-coord/arbor/internal/wire"
)

// DefaultPath is the HTTP path at which the server mounts the endpoint
// unless configured otherwise.
const DefaultPath = "/ws"

// Handler is the server's side of the endpoint.
type Handler interface {
	// Open is called for each new connection, after the upgrade and
	// before its first Request. It must return a non-nil Session. It may
	// call c.Send and c.Close.
	Open(c Conn) Session
}

// Session is the server's side of one connection.
type Session interface {
	// Request is called for each decoded frame, in frame order, from the
	// connection's read goroutine, never concurrently with itself or with
	// Closed. It must not block for long, as nothing else is read from
	// the connection meanwhile, except in a Write to this connection (a
	// peer that does not read is not read from either, until
	// Config.WriteTimeout drops it). r is the Session's to keep.
	Request(r *wire.Request)
	// Closed is called once when the connection has ended, after the last
	// Request, with the first cause (see the package doc). Send returns
	// ErrClosed from then on.
	Closed(err error)
}

// Conn is one client connection as the server sees it. Its methods are
// safe for concurrent use.
type Conn interface {
	// Send queues m for writing and returns at once. m must not be modified
	// afterwards (it may be shared between connections). A nil error means
	// queued, not delivered. When the queue is full Send drops the
	// connection and returns an error wrapping ErrSlowConsumer; after the
	// connection has begun to close it returns ErrClosed.
	Send(m *wire.ServerMessage) error
	// Write is Send for a goroutine that may wait: when nothing is queued
	// or being written, it writes m itself, at once, instead of handing it
	// to the connection's write goroutine, which saves a goroutine switch
	// per message; otherwise it queues m as Send does. m's place in the
	// connection's order is fixed before Write calls ordered (if not nil),
	// exactly once, and before m is written: a caller that orders its
	// messages under a lock of its own releases it there rather than for
	// the write. Write may block for up to Config.WriteTimeout (a peer that
	// does not read), so call it only from a goroutine of this
	// connection's, never from one that serves many. Its errors are Send's
	// and, when the write fails, the write's (the connection then closes).
	Write(m *wire.ServerMessage, ordered func()) error
	// Close ends the connection gracefully: the messages already queued are
	// written (within Config.WriteTimeout), then notice if it is not nil,
	// then a normal close frame. Messages sent after Close are refused, and
	// frames read after it are discarded. Close does not wait.
	Close(notice *wire.Notice)
	// RemoteAddr is the peer's address, for logs.
	RemoteAddr() string
	// Subprotocol is the negotiated subprotocol, wire.SubprotocolProto or
	// wire.SubprotocolJSON.
	Subprotocol() string
}

// The causes of a connection's end that the endpoint decides, as passed to
// Session.Closed (wrapped, where there is more to say).
var (
	// ErrClosed: the server closed the connection with Conn.Close; also
	// returned by Send on a connection that is closing.
	ErrClosed = errors.New("ws: connection closed")
	// ErrSlowConsumer: the connection's send queue was full.
	ErrSlowConsumer = errors.New("ws: slow consumer")
	// ErrShutdown: the endpoint is shutting down.
	ErrShutdown = errors.New("ws: endpoint shutting down")
	// ErrPeerTimeout: nothing arrived from the peer for Config.ReadTimeout.
	ErrPeerTimeout = errors.New("ws: peer silent past the read timeout")
	// ErrFrameType: a text frame on arbor.v1.proto or a binary frame on
	// arbor.v1.json. It is wrapped with wire.ErrMalformed.
	ErrFrameType = errors.New("ws: wrong frame type for the subprotocol")
)

// Config configures an Endpoint. Zero values take the defaults given.
type Config struct {
	// Handler receives the connections. Required.
	Handler Handler
	// MaxFrameBytes is the largest frame read; default and maximum
	// wire.MaxFrameBytes.
	MaxFrameBytes int64
	// SendQueueMessages bounds the messages queued on one connection;
	// default 1024.
	SendQueueMessages int
	// SendQueueBytes bounds the bytes (proto.Size) queued on one
	// connection; default 16 MiB, at least MaxFrameBytes.
	SendQueueBytes int64
	// MaxConnections bounds the open connections; past it the upgrade is
	// refused with 503. Default 10000.
	MaxConnections int
	// HandshakeTimeout bounds writing the upgrade response; default 10s.
	HandshakeTimeout time.Duration
	// WriteTimeout bounds every write, and the draining of the queue when
	// a connection closes; default 10s.
	WriteTimeout time.Duration
	// PingInterval is how often the endpoint pings each peer; default 10s.
	PingInterval time.Duration
	// ReadTimeout: a peer from which nothing arrives (frame or pong) for
	// this long is closed. Default 30s or 3×PingInterval, whichever is
	// longer; must exceed PingInterval.
	ReadTimeout time.Duration
	// AllowedOrigins lists the browser origins ("https://ui.example.com")
	// accepted besides the endpoint's own host; "*" accepts every origin.
	// Requests without an Origin header are always accepted.
	AllowedOrigins []string
	// Logger receives the endpoint's logs; nil discards them.
	Logger *slog.Logger
}

// The defaults of Config.
const (
	defaultSendQueueMessages = 1024
	defaultSendQueueBytes    = 16 << 20
	defaultMaxConnections    = 10000
	defaultHandshakeTimeout  = 10 * time.Second
	defaultWriteTimeout      = 10 * time.Second
	defaultPingInterval      = 10 * time.Second
	defaultReadTimeout       = 30 * time.Second
	// maxCloseGrace bounds the wait for the peer's close frame after ours.
	maxCloseGrace = time.Second
)

// withDefaults fills in defaults and panics on a configuration that is a
// programmer's error.
func (cfg Config) withDefaults() Config {
	if cfg.Handler == nil {
		panic("ws: Config.Handler is nil")
	}
	if cfg.MaxFrameBytes < 0 || cfg.SendQueueMessages < 0 || cfg.SendQueueBytes < 0 || cfg.MaxConnections < 0 ||
		cfg.HandshakeTimeout < 0 || cfg.WriteTimeout < 0 || cfg.PingInterval < 0 || cfg.ReadTimeout < 0 {
		panic("ws: negative Config value")
	}
	if cfg.MaxFrameBytes == 0 {
		cfg.MaxFrameBytes = wire.MaxFrameBytes
	}
	if cfg.MaxFrameBytes > wire.MaxFrameBytes {
		panic(fmt.Sprintf("ws: Config.MaxFrameBytes %d is over wire.MaxFrameBytes", cfg.MaxFrameBytes))
	}
	if cfg.SendQueueMessages == 0 {
		cfg.SendQueueMessages = defaultSendQueueMessages
	}
	if cfg.SendQueueBytes == 0 {
		cfg.SendQueueBytes = max(defaultSendQueueBytes, cfg.MaxFrameBytes)
	}
	if cfg.SendQueueBytes < cfg.MaxFrameBytes {
		panic("ws: Config.SendQueueBytes is under MaxFrameBytes")
	}
	if cfg.MaxConnections == 0 {
		cfg.MaxConnections = defaultMaxConnections
	}
	if cfg.HandshakeTimeout == 0 {
		cfg.HandshakeTimeout = defaultHandshakeTimeout
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = defaultWriteTimeout
	}
	if cfg.PingInterval == 0 {
		cfg.PingInterval = defaultPingInterval
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = max(defaultReadTimeout, 3*cfg.PingInterval)
	}
	if cfg.ReadTimeout <= cfg.PingInterval {
		panic("ws: Config.ReadTimeout must exceed PingInterval")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return cfg
}

// Endpoint is the client WebSocket endpoint: an http.Handler that upgrades
// requests and runs their connections. Create it with New.
type Endpoint struct {
	cfg       Config
	log       *slog.Logger
	upgrader  websocket.Upgrader
	anyOrigin bool
	origins   map[string]bool // lower-case "scheme://host[:port]"
	stats     counters

	// mu guards the fields below. Lock order: Endpoint.mu, then nothing.
	mu       sync.Mutex
	closing  bool
	reserved int // connections counted against MaxConnections
	conns    map[*conn]struct{}
	wg       sync.WaitGroup // one per reserved connection, until its Closed returns
}

// New returns an Endpoint for cfg. It panics if cfg.Handler is nil or a
// value is out of range.
func New(cfg Config) *Endpoint {
	cfg = cfg.withDefaults()
	e := &Endpoint{
		cfg:     cfg,
		log:     cfg.Logger,
		origins: make(map[string]bool),
		conns:   make(map[*conn]struct{}),
	}
	for _, o := range cfg.AllowedOrigins {
		if o == "*" {
			e.anyOrigin = true
			continue
		}
		u, err := url.Parse(o)
		if err != nil || u.Scheme == "" || u.Host == "" || (u.Path != "" && u.Path != "/") {
			panic(fmt.Sprintf("ws: Config.AllowedOrigins: %q is not scheme://host[:port]", o))
		}
		e.origins[strings.ToLower(u.Scheme+"://"+u.Host)] = true
	}
	e.upgrader = websocket.Upgrader{
		HandshakeTimeout:  cfg.HandshakeTimeout,
		Subprotocols:      []string{wire.SubprotocolProto, wire.SubprotocolJSON},
		CheckOrigin:       e.checkOrigin,
		EnableCompression: false,
		Error:             e.upgradeError,
	}
	return e
}

// checkOrigin accepts requests without an Origin (not from a browser), from
// the endpoint's own host, and from the allowed origins.
func (e *Endpoint) checkOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || e.anyOrigin {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	return e.origins[strings.ToLower(u.Scheme+"://"+u.Host)]
}

func (e *Endpoint) upgradeError(w http.ResponseWriter, r *http.Request, status int, reason error) {
	e.refuse(w, r, status, reason.Error())
}

func (e *Endpoint) refuse(w http.ResponseWriter, r *http.Request, status int, reason string) {
	e.stats.upgradesRefused.Add(1)
	e.log.Info("ws: upgrade refused", "remote", r.RemoteAddr, "status", status, "reason", reason)
	http.Error(w, "arbor: "+reason, status)
}

// ServeHTTP upgrades r to a WebSocket connection and starts its goroutines.
func (e *Endpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !websocket.IsWebSocketUpgrade(r) {
		e.refuse(w, r, http.StatusBadRequest, "this endpoint speaks WebSocket only")
		return
	}
	offered := websocket.Subprotocols(r)
	if !slices.Contains(offered, wire.SubprotocolProto) && !slices.Contains(offered, wire.SubprotocolJSON) {
		e.refuse(w, r, http.StatusBadRequest, fmt.Sprintf("offer subprotocol %s or %s in Sec-WebSocket-Protocol",
			wire.SubprotocolProto, wire.SubprotocolJSON))
		return
	}
	e.mu.Lock()
	switch {
	case e.closing:
		e.mu.Unlock()
		e.refuse(w, r, http.StatusServiceUnavailable, "shutting down")
		return
	case e.reserved >= e.cfg.MaxConnections:
		e.mu.Unlock()
		e.refuse(w, r, http.StatusServiceUnavailable, fmt.Sprintf("too many connections (%d)", e.cfg.MaxConnections))
		return
	}
	e.reserved++
	e.wg.Add(1)
	e.mu.Unlock()

	wsc, err := e.upgrader.Upgrade(w, r, nil) // on error it has answered
	if err != nil {
		e.mu.Lock()
		e.reserved--
		e.mu.Unlock()
		e.wg.Done()
		return
	}
	c := newConn(e, wsc)
	e.mu.Lock()
	e.conns[c] = struct{}{}
	closing := e.closing
	e.mu.Unlock()
	e.stats.accepted.Add(1)
	e.stats.open.Add(1)
	e.log.Debug("ws: connection open", "remote", c.remote, "subprotocol", c.subprotocol)

	c.session = e.cfg.Handler.Open(c)
	if c.session == nil {
		panic("ws: Handler.Open returned a nil Session")
	}
	if closing {
		c.requestClose(shutdownIntent())
	}
	go c.writePump()
	go c.readPump()
}

// release forgets a connection that has ended, before its Session.Closed
// (the caller then calls e.wg.Done).
func (e *Endpoint) release(c *conn) {
	e.mu.Lock()
	e.reserved--
	delete(e.conns, c)
	e.mu.Unlock()
	e.stats.open.Add(-1)
}

func shutdownIntent() closeIntent {
	return closeIntent{
		cause:  ErrShutdown,
		notice: goodbye(errcode.ConnectionLoss, "server shutting down"),
		code:   websocket.CloseGoingAway,
		text:   "server shutting down",
		drain:  true,
	}
}

// Shutdown stops accepting connections, says GOODBYE (code ConnectionLoss)
// to every open one after its queued messages, closes them, and waits until
// every Session.Closed has returned. If ctx ends first it closes the
// remaining connections at once and returns ctx.Err() without waiting for
// them further.
func (e *Endpoint) Shutdown(ctx context.Context) error {
	e.mu.Lock()
	e.closing = true
	conns := make([]*conn, 0, len(e.conns))
	for c := range e.conns {
		conns = append(conns, c)
	}
	e.mu.Unlock()
	for _, c := range conns {
		c.requestClose(shutdownIntent())
	}
	done := make(chan struct{})
	go func() {
		e.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		e.mu.Lock()
		for c := range e.conns {
			_ = c.ws.NetConn().Close()
		}
		e.mu.Unlock()
		return ctx.Err()
	}
}

// Stats are the endpoint's counters since New, for metrics.
type Stats struct {
	ConnectionsOpen     int64  // open now
	ConnectionsAccepted uint64 // upgraded
	UpgradesRefused     uint64 // subprotocol, origin, limit, shutdown, bad handshake
	FramesIn            uint64 // frames read, whatever became of them
	FramesOut           uint64 // data frames written
	BytesIn             uint64 // payload bytes of FramesIn
	BytesOut            uint64 // payload bytes of FramesOut
	BadFrames           uint64 // connections closed for a malformed, oversized or wrong-type frame
	SlowConsumerDrops   uint64 // connections dropped because their send queue was full or a write timed out
}

type counters struct {
	open                                   atomic.Int64
	accepted, upgradesRefused              atomic.Uint64
	framesIn, framesOut, bytesIn, bytesOut atomic.Uint64
	badFrames, slowConsumerDrops           atomic.Uint64
}

// Stats returns a snapshot of the counters; each is read atomically, the
// set is not.
func (e *Endpoint) Stats() Stats {
	s := &e.stats
	return Stats{
		ConnectionsOpen:     s.open.Load(),
		ConnectionsAccepted: s.accepted.Load(),
		UpgradesRefused:     s.upgradesRefused.Load(),
		FramesIn:            s.framesIn.Load(),
		FramesOut:           s.framesOut.Load(),
		BytesIn:             s.bytesIn.Load(),
		BytesOut:            s.bytesOut.Load(),
		BadFrames:           s.badFrames.Load(),
		SlowConsumerDrops:   s.slowConsumerDrops.Load(),
	}
}

func goodbye(code errcode.Code, reason string) *wire.Notice {
	return &wire.Notice{Kind: wire.NoticeKind_NOTICE_KIND_GOODBYE, Code: int32(code), Reason: reason}
}
