package client

import (
	"log/slog"
	"time"
)

// Option configures Connect.
type Option func(*config)

type config struct {
	path           string
	sessionTimeout time.Duration
	dialTimeout    time.Duration
	minBackoff     time.Duration
	maxBackoff     time.Duration
	maxInFlight    int
	watchBuffer    int
	logger         *slog.Logger
	auth           []authInfo
	onState        func(State)
	ordered        bool
}

type authInfo struct {
	scheme string
	auth   []byte
}

func defaultConfig() config {
	return config{
		path:           "/ws",
		sessionTimeout: 10 * time.Second,
		dialTimeout:    5 * time.Second,
		minBackoff:     50 * time.Millisecond,
		maxBackoff:     2 * time.Second,
		maxInFlight:    4096,
		watchBuffer:    1024,
		logger:         slog.New(slog.DiscardHandler),
	}
}

// WithPath sets the HTTP path of the members' WebSocket endpoint (default
// "/ws").
func WithPath(p string) Option { return func(c *config) { c.path = p } }

// WithSessionTimeout sets the session timeout requested (default 10s); the
// member clamps it to its bounds and Client.SessionTimeout reports the result.
func WithSessionTimeout(d time.Duration) Option {
	return func(c *config) { c.sessionTimeout = d }
}

// WithOrderedServers makes the client try the servers in the order given
// to Connect, and after losing a member, the ones after it first. By
// default the order is random, which spreads clients across members.
func WithOrderedServers() Option { return func(c *config) { c.ordered = true } }

// WithDialTimeout bounds each attempt to open a connection and complete the
// handshake (default 5s). An attempt is also bounded by the session timeout
// divided by the number of servers (at least 100ms), so that one server
// that never answers cannot use up the time the session has left to reach
// another.
func WithDialTimeout(d time.Duration) Option { return func(c *config) { c.dialTimeout = d } }

// WithBackoff sets the bounds of the exponential backoff between connection
// attempts (default 50ms to 2s; jittered).
func WithBackoff(lo, hi time.Duration) Option {
	return func(c *config) { c.minBackoff, c.maxBackoff = lo, hi }
}

// WithMaxInFlight bounds the operations in flight at once (default 4096);
// past it, operations wait (honouring their context) for one to finish.
func WithMaxInFlight(n int) Option { return func(c *config) { c.maxInFlight = n } }

// WithWatchBuffer sets how many events a Watcher holds for a slow consumer
// (default 1024); past it the Watcher ends with ErrWatcherOverflow.
func WithWatchBuffer(n int) Option { return func(c *config) { c.watchBuffer = n } }

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithAuth adds an identity authenticated in the handshake, as AddAuth
// would ("digest" scheme: auth is "user:password").
func WithAuth(scheme string, auth []byte) Option {
	return func(c *config) {
		c.auth = append(c.auth, authInfo{scheme, append([]byte(nil), auth...)})
	}
}

// WithStateFunc registers f to observe every change of the session's state.
// f is called from one goroutine of the client, in order, never with the
// client's locks held; it should return promptly (later changes queue
// behind it) and must not call Close, which waits for it.
func WithStateFunc(f func(State)) Option { return func(c *config) { c.onState = f } }
