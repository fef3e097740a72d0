package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/arbor-coord/arbor/internal/errcode"
	"github.com/arbor-coord/arbor/internal/wire"
)

// Lock order: Client.sendMu, then Client.mu, then conn.mu. conn.wmu is taken
// with none of them held except sendMu.

// Client is a session with an arbor cluster. It is safe for concurrent use.
type Client struct {
	cfg     config
	log     *slog.Logger
	servers []string
	// current indexes the server of the connection, or of the last one;
	// used by Connect and the reconnect loop only.
	current int

	// sendMu serialises transmissions so that writes go out in seq order
	// and, after a reconnect, the resent requests go out before new ones.
	sendMu sync.Mutex

	mu          sync.Mutex
	state       State
	term        error // non-nil once the session ended: ErrSessionExpired or ErrClosed
	sessionID   int64
	password    []byte
	timeout     time.Duration // negotiated
	lastZxid    uint64
	lastContact time.Time // last frame received from any member
	nextSeq     uint64
	conn        *conn   // nil while disconnected
	calls       []*call // unanswered operations, in transmission order
	auth        []authInfo
	watches     map[watchKey][]chan Event // one-shot
	persistent  map[watchKey][]*Watcher
	pendingAdds map[watchKey]int // AddWatch calls sent and not answered
	stateQ      []State

	inFlight  chan struct{} // a semaphore of cfg.maxInFlight
	stateWake chan struct{}
	stopCtx   context.Context // ends when the client is finished
	stop      context.CancelFunc
	done      chan struct{}
	wg        sync.WaitGroup
}

// call is one operation until it is answered or abandoned.
type call struct {
	op, path string
	req      *wire.Request // Id, Seq and LowestUnackedSeq are set at each transmission
	write    bool
	internal bool // a ping: no caller waits for it
	active   bool // in Client.calls; guarded by Client.mu
	reply    chan reply
	watch    chan Event // for a watching read: registered on success
	watchKnd wire.WatchKind
	watcher  *Watcher    // for AddWatch: registered on success
	precheck func() bool // if set, run under Client.mu before sending: false skips the call
}

type reply struct {
	resp *wire.Response
	err  error
}

type watchKey struct {
	path string
	kind wire.WatchKind
}

// Connect dials the servers ("HOST:PORT", tried in random order, with
// backoff) and opens a new session. It returns once the session is
// established, or with an error when ctx ends or a member refuses the
// session for a reason that retrying will not cure.
func Connect(ctx context.Context, servers []string, opts ...Option) (*Client, error) {
	if len(servers) == 0 {
		return nil, errors.New("arbor: connect: no servers")
	}
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.sessionTimeout <= 0 || cfg.dialTimeout <= 0 || cfg.minBackoff <= 0 || cfg.maxBackoff < cfg.minBackoff || cfg.maxInFlight <= 0 || cfg.watchBuffer <= 0 {
		return nil, errors.New("arbor: connect: invalid options")
	}
	c := &Client{
		cfg:         cfg,
		log:         cfg.logger,
		servers:     slices.Clone(servers),
		state:       StateDisconnected,
		timeout:     cfg.sessionTimeout,
		auth:        slices.Clone(cfg.auth),
		watches:     make(map[watchKey][]chan Event),
		persistent:  make(map[watchKey][]*Watcher),
		pendingAdds: make(map[watchKey]int),
		inFlight:    make(chan struct{}, cfg.maxInFlight),
		stateWake:   make(chan struct{}, 1),
		done:        make(chan struct{}),
	}
	if !cfg.ordered {
		rand.Shuffle(len(c.servers), func(i, j int) { c.servers[i], c.servers[j] = c.servers[j], c.servers[i] })
	}
	c.stopCtx, c.stop = context.WithCancel(context.Background())

	backoff := cfg.minBackoff
	var lastErr error
	for i := 0; ; i++ {
		server := c.servers[i%len(c.servers)]
		dctx, cancel := context.WithTimeout(ctx, c.attemptTimeout(cfg.sessionTimeout))
		cn, err := c.dial(dctx, server)
		cancel()
		if err == nil {
			c.current = i % len(c.servers)
			c.wg.Add(2)
			go c.notifyStates()
			c.resume(cn)
			go c.run(cn)
			return c, nil
		}
		lastErr = err
		c.log.Info("arbor: connect failed", "server", server, "err", err)
		var e *Error
		if errors.As(err, &e) && e.Code != errcode.OperationTimeout {
			c.stop()
			return nil, err
		}
		if ctx.Err() != nil || !sleep(ctx, jitter(backoff)) {
			c.stop()
			return nil, fmt.Errorf("arbor: connect: %w (last error: %v)", ctx.Err(), lastErr)
		}
		backoff = min(2*backoff, cfg.maxBackoff)
	}
}

// SessionID returns the session's id.
func (c *Client) SessionID() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sessionID
}

// SessionTimeout returns the session timeout the member negotiated.
func (c *Client) SessionTimeout() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.timeout
}

// Member returns the id of the member the client is connected to and its
// address, or 0 and "" while it is disconnected.
func (c *Client) Member() (id uint64, addr string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil {
		return 0, ""
	}
	return c.conn.member, c.conn.server
}

// LastZxid returns the highest zxid the client has seen in a response or an
// event. A member the session moves to answers only once it has applied at
// least this far, so the client never reads backwards.
func (c *Client) LastZxid() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastZxid
}

// State returns the session's current state.
func (c *Client) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// Done is closed when the session has ended (expired or closed); Err then
// says which.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns nil while the session lives, then ErrSessionExpired (an
// *Error's code) or ErrClosed.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.term
}

// Close ends the session (its ephemeral nodes are deleted at once) and the
// connection. If ctx ends first, or the member cannot be reached, the client
// is shut down all the same and the session expires on its own after its
// timeout. Close after the session ended returns nil.
func (c *Client) Close(ctx context.Context) error {
	c.mu.Lock()
	ended := c.term != nil
	c.mu.Unlock()
	var err error
	if !ended {
		_, err = c.do(ctx, &call{op: "close", req: &wire.Request{Op: &wire.Request_CloseSession{CloseSession: &wire.CloseSession{}}}})
		if errors.Is(err, ErrClosed) || errors.Is(err, ErrSessionExpired) {
			err = nil
		}
	}
	c.terminate(ErrClosed, StateClosed)
	c.wg.Wait()
	return err
}

// do sends cl and waits for its response. It returns the response when its
// code is Ok (or, for a multi or a watching exists, whatever the code), and
// an error otherwise.
func (c *Client) do(ctx context.Context, cl *call) (*wire.Response, error) {
	select {
	case c.inFlight <- struct{}{}:
	case <-ctx.Done():
		return nil, opError(cl.op, cl.path, ctx.Err())
	}
	defer func() { <-c.inFlight }()

	cl.reply = make(chan reply, 1)
	cl.write = cl.req.IsWrite()
	c.sendMu.Lock()
	c.mu.Lock()
	if c.term != nil {
		err := c.term
		c.mu.Unlock()
		c.sendMu.Unlock()
		return nil, opError(cl.op, cl.path, err)
	}
	if cl.precheck != nil && !cl.precheck() {
		c.mu.Unlock()
		c.sendMu.Unlock()
		return &wire.Response{}, nil
	}
	cl.active = true
	c.calls = append(c.calls, cl)
	if cl.watcher != nil {
		c.pendingAdds[cl.watcher.key]++
	}
	cn := c.conn
	c.mu.Unlock()
	if cn != nil {
		c.transmit(cn, cl)
	}
	c.sendMu.Unlock()

	var r reply
	select {
	case r = <-cl.reply:
	case <-ctx.Done():
		c.mu.Lock()
		abandoned := c.removeLocked(cl)
		c.mu.Unlock()
		if abandoned {
			return nil, opError(cl.op, cl.path, ctx.Err())
		}
		r = <-cl.reply // answered meanwhile: report the true result
	}
	if r.err != nil {
		return nil, opError(cl.op, cl.path, r.err)
	}
	return r.resp, nil
}

// transmit sends cl on cn, numbering it. sendMu must be held. A failed write
// leaves cl in calls, to be resent on the next connection.
func (c *Client) transmit(cn *conn, cl *call) {
	c.mu.Lock()
	if !cl.active && !cl.internal {
		c.mu.Unlock()
		return
	}
	if cl.write {
		if cl.req.Seq == 0 {
			c.nextSeq++
			cl.req.Seq = c.nextSeq
		}
		cl.req.LowestUnackedSeq = c.lowestUnackedLocked()
	}
	cl.req.Id = cn.register(cl)
	frame, err := wire.EncodeRequest(cl.req)
	if err != nil {
		cn.take(cl.req.Id)
		c.finishLocked(cl, nil, &Error{Op: cl.op, Path: cl.path, Code: errcode.BadArguments, Reason: err.Error()})
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	if err := cn.write(frame); err != nil {
		c.log.Debug("arbor: write failed", "err", err)
		cn.close()
	}
}

// lowestUnackedLocked is the lowest seq of a write sent and not answered.
// Calls are kept in transmission order, so it is the first one's.
func (c *Client) lowestUnackedLocked() uint64 {
	for _, cl := range c.calls {
		if cl.write && cl.req.Seq != 0 {
			return cl.req.Seq
		}
	}
	panic("arbor: client: no unacknowledged write while sending one")
}

// removeLocked takes cl out of calls; it reports false if cl was already
// answered.
func (c *Client) removeLocked(cl *call) bool {
	if !cl.active {
		return false
	}
	cl.active = false
	if w := cl.watcher; w != nil {
		if c.pendingAdds[w.key]--; c.pendingAdds[w.key] == 0 {
			delete(c.pendingAdds, w.key)
		}
	}
	if i := slices.Index(c.calls, cl); i >= 0 {
		c.calls = slices.Delete(c.calls, i, i+1)
	}
	return true
}

// finishLocked answers cl once.
func (c *Client) finishLocked(cl *call, resp *wire.Response, err error) {
	if c.removeLocked(cl) {
		if w := cl.watcher; w != nil {
			if resp != nil && resp.Code == 0 && c.term == nil {
				c.persistent[w.key] = append(c.persistent[w.key], w)
			}
		}
		cl.reply <- reply{resp, err}
	}
}

// terminate ends the session with err (first caller wins).
func (c *Client) terminate(err error, st State) {
	c.mu.Lock()
	c.terminateLocked(err, st)
	c.mu.Unlock()
}

func (c *Client) terminateLocked(err error, st State) {
	if c.term != nil {
		return
	}
	c.term = err
	for len(c.calls) > 0 {
		c.finishLocked(c.calls[0], nil, err)
	}
	for k := range c.watches {
		c.closeWatchesLocked(k)
	}
	for _, ws := range c.persistent {
		for _, w := range ws {
			c.endWatcherLocked(w, err)
		}
	}
	if c.conn != nil {
		c.conn.close()
		c.conn = nil
	}
	c.setStateLocked(st)
	c.stop()
	close(c.done)
}

func (c *Client) setStateLocked(st State) {
	if c.state == st || (c.term != nil && st != StateExpired && st != StateClosed) || c.state == StateExpired || c.state == StateClosed {
		return
	}
	c.state = st
	if c.cfg.onState != nil {
		c.stateQ = append(c.stateQ, st)
		select {
		case c.stateWake <- struct{}{}:
		default:
		}
	}
}

// notifyStates calls cfg.onState for each queued state, until the final one.
func (c *Client) notifyStates() {
	defer c.wg.Done()
	if c.cfg.onState == nil {
		return
	}
	for {
		<-c.stateWake
		c.mu.Lock()
		q := c.stateQ
		c.stateQ = nil
		c.mu.Unlock()
		for _, st := range q {
			c.cfg.onState(st)
			if st == StateExpired || st == StateClosed {
				return
			}
		}
	}
}

// run keeps the session connected until it ends: it waits for the current
// connection to die, then reconnects.
func (c *Client) run(cn *conn) {
	defer c.wg.Done()
	for {
		select {
		case <-cn.dead:
		case <-c.stopCtx.Done():
			return
		}
		c.mu.Lock()
		if c.conn == cn {
			c.conn = nil
		}
		c.setStateLocked(StateDisconnected)
		c.mu.Unlock()
		if cn = c.reconnect(); cn == nil {
			return
		}
	}
}

// attemptTimeout bounds one attempt to connect to one server: the dial
// timeout, but no more than the session timeout shared among the servers,
// as ZooKeeper's clients do. A server that accepts connections and never
// answers (a paused process, a lost network path) must not use up the time
// the session has left to reach another.
func (c *Client) attemptTimeout(sessionTimeout time.Duration) time.Duration {
	return max(min(c.cfg.dialTimeout, sessionTimeout/time.Duration(len(c.servers))), minAttemptTimeout)
}

// minAttemptTimeout is the shortest attempt attemptTimeout allows, for a
// long list of servers and a short session.
const minAttemptTimeout = 100 * time.Millisecond

// reconnect resumes the session on any server, within the session timeout
// since the last contact; it returns nil once the session has ended.
func (c *Client) reconnect() *conn {
	backoff := c.cfg.minBackoff
	for i := 0; ; i++ {
		c.mu.Lock()
		deadline := c.lastContact.Add(c.timeout)
		c.mu.Unlock()
		if !time.Now().Before(deadline) {
			c.log.Warn("arbor: no contact for the session timeout; session expired")
			c.terminate(&Error{Op: "session", Code: errcode.SessionExpired, Reason: "no contact for the session timeout"}, StateExpired)
			return nil
		}
		// Start with the server after the one lost: it is likely down.
		next := (c.current + 1 + i) % len(c.servers)
		server := c.servers[next]
		ctx, cancel := context.WithDeadline(c.stopCtx, deadline)
		dctx, dcancel := context.WithTimeout(ctx, c.attemptTimeout(c.timeout))
		cn, err := c.dial(dctx, server)
		dcancel()
		if err == nil {
			cancel()
			c.current = next
			if c.resume(cn) {
				return cn
			}
			return nil
		}
		c.log.Info("arbor: reconnect failed", "server", server, "err", err)
		if errors.Is(err, errcode.SessionExpired) {
			cancel()
			c.terminate(err, StateExpired)
			return nil
		}
		ok := sleep(ctx, jitter(backoff))
		cancel()
		if !ok && c.stopCtx.Err() != nil {
			return nil
		}
		backoff = min(2*backoff, c.cfg.maxBackoff)
	}
}

// resume makes cn the connection and resends every unanswered request, in
// order, before any new one. It reports false if the session ended meanwhile.
func (c *Client) resume(cn *conn) bool {
	c.sendMu.Lock()
	c.mu.Lock()
	if c.term != nil {
		c.mu.Unlock()
		c.sendMu.Unlock()
		cn.close()
		return false
	}
	c.conn = cn
	calls := slices.Clone(c.calls)
	c.setStateLocked(StateConnected)
	c.mu.Unlock()
	for _, cl := range calls {
		c.transmit(cn, cl)
	}
	c.sendMu.Unlock()
	return true
}

func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1)
}

// sleep waits d or until ctx ends; it reports whether it waited d.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
