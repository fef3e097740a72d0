package server

import (
	"context"
	"crypto/rand"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/arbor-coord/arbor/internal/errcode"
	"github.com/arbor-coord/arbor/internal/wire"
	"github.com/arbor-coord/arbor/internal/zpath"
	"github.com/arbor-coord/arbor/server/raftnode"
	"github.com/arbor-coord/arbor/server/ws"
	"github.com/arbor-coord/arbor/session"
	"github.com/arbor-coord/arbor/tree"
	"github.com/arbor-coord/arbor/watch"
)

// Version is the member's build version, reported in ConnectResult.
const Version = "0.1.0-dev"

// handler adapts Server to the WebSocket endpoint.
type handler struct{ s *Server }

// Open starts the pipeline of a new connection.
func (h handler) Open(wc ws.Conn) ws.Session { return newConn(h.s, wc) }

// conn is one client connection's request pipeline. Requests are taken
// in the order they arrive and answered in that order (docs/PROTOCOL.md,
// Ordering). Writes are proposed as they arrive, so that many are in
// flight at once; every other request waits until the writes before it
// are answered, then is served from the applied state. One goroutine (run)
// does all of this, except that a read arriving when nothing is pending
// is served by the endpoint's read goroutine itself (Request), which saves
// two goroutine switches per read.
type conn struct {
	s      *Server
	ws     ws.Conn
	ctx    context.Context
	cancel context.CancelFunc
	reqs   chan *wire.Request

	watcher watch.WatcherID // set by hub.register, then fixed
	session atomic.Int64    // 0 until connected
	closing atomic.Bool     // a close_session is in progress

	sawConnect bool // the endpoint's read goroutine only
	// busy counts the requests handed to run and not yet answered: while
	// it is 0, run touches nothing the read goroutine may.
	busy atomic.Int64

	mu  sync.Mutex
	ids []tree.Identity // replaced on add_auth, never modified in place

	sendMu sync.Mutex
	zxid   uint64 // highest zxid sent in a response or event

	touchedAt time.Duration // run only: last touch, on the sessions' clock
}

func newConn(s *Server, wc ws.Conn) *conn {
	ctx, cancel := context.WithCancel(s.loopsCtx)
	c := &conn{s: s, ws: wc, ctx: ctx, cancel: cancel, reqs: make(chan *wire.Request, s.cfg.MaxInFlight)}
	s.hub.register(c)
	go c.run()
	return c
}

// Request queues r. When MaxInFlight requests are queued it blocks, so
// the endpoint stops reading from a client that does not wait for its
// responses (TCP backpressure).
func (c *conn) Request(r *wire.Request) {
	if !c.sawConnect {
		if r.GetConnect() == nil {
			c.close(notice(wire.NoticeKind_NOTICE_KIND_GOODBYE, errcode.BadArguments, "the first request must be connect"))
			return
		}
		c.sawConnect = true
	}
	if c.busy.Load() == 0 && servedInline(r) && c.sessionID() != 0 && !c.closing.Load() {
		c.serve(r)
		return
	}
	c.busy.Add(1)
	select {
	case c.reqs <- r:
	case <-c.ctx.Done():
	}
}

// servedInline reports whether r may be served on the endpoint's read
// goroutine when nothing is pending: a read of the applied state that
// looks at a node or a few, never waits, and so cannot keep the
// connection from being read (its pongs included) for long. The reads
// that walk a subtree (count_descendants, get_ephemerals) go to run.
func servedInline(r *wire.Request) bool {
	switch r.GetOp().(type) {
	case *wire.Request_GetData, *wire.Request_Exists, *wire.Request_GetChildren, *wire.Request_GetAcl,
		*wire.Request_ReadMulti, *wire.Request_Ping:
		return true
	}
	return false
}

// Closed ends the pipeline; the session lives on for its timeout.
func (c *conn) Closed(error) {
	c.cancel()
	c.s.hub.detach(c)
}

func (c *conn) sessionID() int64 { return c.session.Load() }

func (c *conn) identities() []tree.Identity {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ids
}

// close says n (if not nil) after the queued messages and closes.
func (c *conn) close(n *wire.Notice) {
	c.ws.Close(n)
	c.cancel()
}

// respond sends a response, writing it from the calling goroutine when
// nothing is queued before it (ws.Conn.Write): only run and the endpoint's
// read goroutine respond. Its zxid is raised to the highest zxid this
// connection has been sent, so that zxids never go backwards on it.
func (c *conn) respond(r *wire.Response) { c.respondThen(r, nil) }

// respondThen is respond, calling then (if not nil) once r's place among
// the connection's messages is fixed, before r is written: a caller that
// holds a lock to order r among events releases it there.
func (c *conn) respondThen(r *wire.Response, then func()) {
	c.sendMu.Lock()
	if r.Zxid < c.zxid {
		r.Zxid = c.zxid
	} else {
		c.zxid = r.Zxid
	}
	err := c.ws.Write(&wire.ServerMessage{Kind: &wire.ServerMessage_Response{Response: r}}, func() {
		c.sendMu.Unlock()
		if then != nil {
			then()
		}
	})
	c.sendFailed(err)
}

// sendEvent sends a watch event. Live events come in zxid order; a
// catch-up event carries the zxid of the node's state, which may be lower.
func (c *conn) sendEvent(e *wire.Event) {
	c.sendMu.Lock()
	c.zxid = max(c.zxid, e.Zxid)
	err := c.ws.Send(&wire.ServerMessage{Kind: &wire.ServerMessage_Event{Event: e}})
	c.sendMu.Unlock()
	c.sendFailed(err)
}

func (c *conn) sendFailed(err error) {
	if err == nil {
		return
	}
	if errors.Is(err, ws.ErrSlowConsumer) {
		c.s.log.Warn("client too slow for its responses and events; connection dropped",
			"remote", c.ws.RemoteAddr(), "session", c.sessionID(), "err", err)
	}
	c.cancel()
}

// inflight is a write whose response is pending.
type inflight struct {
	req     *wire.Request
	p       pending
	failed  *wire.Response // set when the proposal could not be started
	started time.Time
}

// run serves the connection's requests in order until it closes.
func (c *conn) run() {
	var queue []inflight
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	armed := false
	defer func() {
		for _, w := range queue {
			if w.failed == nil {
				c.s.replica.waits.cancel(w.p.id)
			}
		}
	}()
	for {
		var head <-chan tree.Result
		if len(queue) > 0 {
			if queue[0].failed != nil {
				c.respond(queue[0].failed)
				queue = queue[1:]
				c.busy.Add(-1)
				continue
			}
			head = queue[0].p.result
			if !armed {
				timer.Reset(time.Until(queue[0].started.Add(c.s.cfg.RequestTimeout)))
				armed = true
			}
		}
		reqs := c.reqs
		if len(queue) >= c.s.cfg.MaxInFlight {
			reqs = nil
		}
		var timeout <-chan time.Time
		if armed {
			timeout = timer.C
		}
		select {
		case <-c.ctx.Done():
			return
		case res := <-head:
			c.respond(writeResponse(queue[0].req, res))
			queue = queue[1:]
			c.busy.Add(-1)
			armed = stopTimer(timer, armed)
		case <-timeout:
			armed = false
			c.s.replica.waits.cancel(queue[0].p.id)
			c.respond(&wire.Response{Id: queue[0].req.GetId(), Code: int32(errcode.OperationTimeout)})
			queue = queue[1:]
			c.busy.Add(-1)
		case r := <-reqs:
			if op, ok := writeOp(r); ok {
				queue = append(queue, c.startWrite(r, op))
				continue
			}
			// Everything else is served after the writes before it.
			for len(queue) > 0 {
				armed = stopTimer(timer, armed)
				w := queue[0]
				queue = queue[1:]
				if !c.finishWrite(w) {
					return
				}
				c.busy.Add(-1)
			}
			c.serve(r)
			c.busy.Add(-1)
		}
	}
}

func stopTimer(t *time.Timer, armed bool) bool {
	if armed {
		t.Stop()
	}
	return false
}

// startWrite proposes a write request's command.
func (c *conn) startWrite(r *wire.Request, op tree.Op) inflight {
	c.touch()
	cmd := &tree.Command{
		Session:       c.sessionID(),
		Identities:    c.identities(),
		Seq:           r.GetSeq(),
		LowestUnacked: r.GetLowestUnackedSeq(),
		Op:            op,
	}
	w := inflight{req: r, started: time.Now()}
	p, err := c.s.replica.start(c.ctx, cmd)
	if err != nil {
		w.failed = &wire.Response{Id: r.GetId(), Code: int32(c.codeOf(err))}
		return w
	}
	w.p = p
	return w
}

// finishWrite waits for an in-flight write and answers it. It reports
// false if the connection ended meanwhile.
func (c *conn) finishWrite(w inflight) bool {
	if w.failed != nil {
		c.respond(w.failed)
		return true
	}
	ctx, cancel := context.WithDeadline(c.ctx, w.started.Add(c.s.cfg.RequestTimeout))
	defer cancel()
	res, err := c.s.replica.await(ctx, w.p)
	if err != nil {
		if c.ctx.Err() != nil {
			return false
		}
		c.respond(&wire.Response{Id: w.req.GetId(), Code: int32(c.codeOf(err))})
		return true
	}
	c.respond(writeResponse(w.req, res))
	return true
}

// codeOf maps an error of the pipeline to the code a client is sent.
func (c *conn) codeOf(err error) errcode.Code {
	var code errcode.Code
	switch {
	case errors.As(err, &code):
		return code
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, raftnode.ErrProposalDropped):
		return errcode.OperationTimeout
	}
	c.s.log.Error("request failed", "session", c.sessionID(), "err", err)
	return errcode.SystemError
}

// touch tells the session tracker the client was heard from, at most once
// per tracker tick.
func (c *conn) touch() {
	id := c.sessionID()
	if id == 0 {
		return
	}
	now := c.s.sessions.now()
	if c.touchedAt != 0 && now-c.touchedAt < c.s.sessions.limits.Tick {
		return
	}
	c.touchedAt = now
	c.s.sessions.touch(id)
}

// serve answers a request that is not a write, in the connection's order.
func (c *conn) serve(r *wire.Request) {
	if cn := r.GetConnect(); cn != nil {
		if c.sessionID() != 0 || c.closing.Load() {
			c.respond(&wire.Response{Id: r.GetId(), Code: int32(errcode.BadArguments)})
			return
		}
		c.connect(r.GetId(), cn)
		return
	}
	if c.sessionID() == 0 {
		return // the connect failed and the connection is closing
	}
	c.touch()
	resp := &wire.Response{Id: r.GetId()}
	switch op := r.GetOp().(type) {
	case *wire.Request_Ping:
		resp.Zxid = c.s.replica.applied.get()
	case *wire.Request_Sync:
		c.sync(resp)
	case *wire.Request_AddAuth:
		resp.Code = int32(c.addAuth(op.AddAuth.GetScheme(), op.AddAuth.GetAuth()))
		resp.Zxid = c.s.replica.applied.get()
	case *wire.Request_CloseSession:
		c.closeSession(resp)
		return
	case *wire.Request_RemoveWatches:
		resp.Code = int32(c.removeWatches(op.RemoveWatches))
		resp.Zxid = c.s.replica.applied.get()
	default:
		// Under the view's read lock until the response is ordered: an
		// event for a change this read did not see (its watch's, say)
		// goes after the response.
		c.s.hub.view.RLock()
		c.read(r, resp)
		resp.Zxid = c.s.replica.tree.Applied()
		c.respondThen(resp, c.s.hub.view.RUnlock)
		return
	}
	c.respond(resp)
}

// read serves a read (or add_watch) from the applied state. The caller
// holds the hub's view read-locked.
func (c *conn) read(r *wire.Request, resp *wire.Response) {
	t := c.s.replica.tree
	ids := c.identities()
	var err error
	switch op := r.GetOp().(type) {
	case *wire.Request_GetData:
		var data []byte
		var st tree.Stat
		if data, st, err = t.Get(op.GetData.GetPath(), ids); err == nil {
			resp.Result = &wire.Response_GetData{GetData: &wire.GetDataResult{Data: data, Stat: wireStat(st)}}
			if op.GetData.GetWatch() {
				err = c.s.hub.addWatch(c, op.GetData.GetPath(), watch.Data)
			}
		}
	case *wire.Request_Exists:
		var st tree.Stat
		st, err = t.Exists(op.Exists.GetPath())
		if err == nil {
			resp.Result = &wire.Response_Stat{Stat: &wire.StatResult{Stat: wireStat(st)}}
		}
		if op.Exists.GetWatch() && (err == nil || errors.Is(err, errcode.NoNode)) {
			if werr := c.s.hub.addWatch(c, op.Exists.GetPath(), watch.Data); werr != nil {
				err = werr
			}
		}
	case *wire.Request_GetChildren:
		var names []string
		var st tree.Stat
		if names, st, err = t.Children(op.GetChildren.GetPath(), ids); err == nil {
			resp.Result = &wire.Response_GetChildren{GetChildren: &wire.GetChildrenResult{Children: names, Stat: wireStat(st)}}
			if op.GetChildren.GetWatch() {
				err = c.s.hub.addWatch(c, op.GetChildren.GetPath(), watch.Child)
			}
		}
	case *wire.Request_GetAcl:
		var acl []tree.ACL
		var st tree.Stat
		if acl, st, err = t.GetACL(op.GetAcl.GetPath(), ids); err == nil {
			resp.Result = &wire.Response_GetAcl{GetAcl: &wire.GetACLResult{Acl: wireACL(acl), Stat: wireStat(st)}}
		}
	case *wire.Request_CountDescendants:
		var n int64
		if n, err = t.CountDescendants(op.CountDescendants.GetPath(), ids); err == nil {
			resp.Result = &wire.Response_CountDescendants{CountDescendants: &wire.CountDescendantsResult{Count: n}}
		}
	case *wire.Request_GetEphemerals:
		var paths []string
		if paths, err = t.Ephemerals(c.sessionID(), op.GetEphemerals.GetPathPrefix()); err == nil {
			resp.Result = &wire.Response_GetEphemerals{GetEphemerals: &wire.GetEphemeralsResult{Paths: paths}}
		}
	case *wire.Request_ReadMulti:
		err = c.readMulti(op.ReadMulti, ids, resp)
	case *wire.Request_AddWatch:
		err = c.addWatch(op.AddWatch)
	default:
		err = errcode.Unimplemented
	}
	if err != nil {
		resp.Result = nil
		resp.Code = int32(c.codeOf(err))
	}
}

func (c *conn) readMulti(m *wire.ReadMulti, ids []tree.Identity, resp *wire.Response) error {
	ops := make([]tree.ReadOp, len(m.GetOps()))
	for i, o := range m.GetOps() {
		ops[i] = tree.ReadOp{Kind: tree.ReadKind(o.GetKind()), Path: o.GetPath()}
	}
	results, _, err := c.s.replica.tree.ReadMulti(ops, ids)
	if err != nil {
		return err
	}
	out := &wire.ReadMultiResult{Results: make([]*wire.ReadResult, len(results))}
	for i, res := range results {
		rr := &wire.ReadResult{Code: int32(res.Code)}
		if res.Code == errcode.Ok {
			rr.Data, rr.Children, rr.Stat = res.Data, res.Children, wireStat(res.Stat)
		}
		out.Results[i] = rr
	}
	resp.Result = &wire.Response_ReadMulti{ReadMulti: out}
	return nil
}

func (c *conn) addWatch(aw *wire.AddWatch) error {
	if err := zpath.Validate(aw.GetPath()); err != nil {
		return errcode.BadArguments
	}
	k, ok := watchKind(aw.GetKind())
	if !ok || (k != watch.Persistent && k != watch.PersistentRecursive) {
		return errcode.BadArguments
	}
	return c.s.hub.addWatch(c, aw.GetPath(), k)
}

func (c *conn) removeWatches(rw *wire.RemoveWatches) errcode.Code {
	if err := zpath.Validate(rw.GetPath()); err != nil {
		return errcode.BadArguments
	}
	var ks watch.Kind
	for _, wk := range rw.GetKinds() {
		k, ok := watchKind(wk)
		if !ok {
			return errcode.BadArguments
		}
		ks |= k
	}
	if ks == 0 {
		ks = watch.AnyKind
	}
	if !c.s.hub.removeWatches(c, rw.GetPath(), ks) {
		return errcode.NoWatcher
	}
	return errcode.Ok
}

// sync answers with a linearizable read index once it is applied here.
func (c *conn) sync(resp *wire.Response) {
	ctx, cancel := context.WithTimeout(c.ctx, c.s.cfg.RequestTimeout)
	defer cancel()
	idx, err := c.s.replica.node.ReadIndex(ctx)
	if err == nil {
		err = c.s.replica.applied.wait(ctx, idx)
	}
	if err != nil {
		resp.Code = int32(c.codeOf(err))
		return
	}
	resp.Zxid = idx
}

// addAuth adds an identity to the connection's session.
func (c *conn) addAuth(scheme string, auth []byte) errcode.Code {
	ids, code := c.s.authenticate(c.identities(), scheme, auth)
	if code != errcode.Ok {
		return code
	}
	c.mu.Lock()
	c.ids = ids
	c.mu.Unlock()
	return errcode.Ok
}

// authenticate returns ids with the identity of (scheme, auth) added, or
// AuthFailed. Only the digest scheme authenticates.
func (s *Server) authenticate(ids []tree.Identity, scheme string, auth []byte) ([]tree.Identity, errcode.Code) {
	if scheme != tree.SchemeDigest {
		return nil, errcode.AuthFailed
	}
	id, err := digestIdentity(auth)
	if err != nil {
		return nil, errcode.AuthFailed
	}
	add := []tree.Identity{id}
	if s.cfg.SuperDigest != "" && id.ID == s.cfg.SuperDigest {
		add = append(add, tree.Identity{Scheme: tree.SchemeSuper, ID: id.ID})
	}
	out := append([]tree.Identity(nil), ids...)
	for _, a := range add {
		dup := false
		for _, have := range out {
			dup = dup || have == a
		}
		if !dup {
			out = append(out, a)
		}
	}
	return out, errcode.Ok
}

func (c *conn) closeSession(resp *wire.Response) {
	c.closing.Store(true)
	ctx, cancel := context.WithTimeout(c.ctx, c.s.cfg.RequestTimeout)
	defer cancel()
	if err := c.s.sessions.close(ctx, c.sessionID()); err != nil {
		resp.Code = int32(c.codeOf(err))
	}
	resp.Zxid = c.s.replica.applied.get()
	c.respond(resp)
	c.close(nil)
}

// connect opens or resumes the session (docs/PROTOCOL.md, Connection
// lifecycle) and re-registers the client's watches with their catch-up.
func (c *conn) connect(id uint64, cn *wire.Connect) {
	fail := func(code errcode.Code, kind wire.NoticeKind, reason string) {
		c.respond(&wire.Response{Id: id, Code: int32(code)})
		c.close(notice(kind, code, reason))
	}
	if c.s.leaderless() {
		fail(errcode.ConnectionLoss, wire.NoticeKind_NOTICE_KIND_GOODBYE, "member has no leader")
		return
	}
	ctx, cancel := context.WithTimeout(c.ctx, c.s.cfg.RequestTimeout)
	defer cancel()
	// Never serve a state older than the client has seen, nor, after a
	// restart, older than what the member had committed before it.
	if err := c.s.replica.applied.wait(ctx, max(cn.GetLastZxid(), c.s.replica.startCommit)); err != nil {
		fail(errcode.OperationTimeout, wire.NoticeKind_NOTICE_KIND_GOODBYE, "member is behind the client's last zxid, or still applying its log after a restart")
		return
	}
	var ids []tree.Identity
	for _, a := range cn.GetAuth() {
		var code errcode.Code
		if ids, code = c.s.authenticate(ids, a.GetScheme(), a.GetAuth()); code != errcode.Ok {
			fail(code, wire.NoticeKind_NOTICE_KIND_GOODBYE, "authentication failed")
			return
		}
	}
	var rec tree.Session
	var password []byte
	var err error
	if cn.GetSessionId() == 0 {
		password = make([]byte, session.PasswordLen)
		if _, err := rand.Read(password); err != nil {
			fail(errcode.SystemError, wire.NoticeKind_NOTICE_KIND_GOODBYE, "no randomness for a password")
			return
		}
		rec, err = c.s.sessions.create(ctx, time.Duration(cn.GetTimeoutMs())*time.Millisecond, password)
	} else {
		password = cn.GetPassword()
		rec, err = c.s.sessions.resume(cn.GetSessionId(), password)
	}
	if err != nil {
		code := c.codeOf(err)
		kind := wire.NoticeKind_NOTICE_KIND_GOODBYE
		if code == errcode.SessionExpired {
			kind = wire.NoticeKind_NOTICE_KIND_SESSION_EXPIRED
		}
		fail(code, kind, "cannot open the session")
		return
	}
	c.mu.Lock()
	c.ids = ids
	c.mu.Unlock()
	c.session.Store(rec.ID)
	c.s.hub.attach(rec.ID, c)

	// Under the view's read lock until the catch-up events are queued
	// behind the result: live events come after them.
	h := c.s.hub
	h.view.RLock()
	events, err := h.catchUp(c, cn.GetWatches(), cn.GetLastZxid(), ids)
	if err != nil {
		c.respondThen(&wire.Response{Id: id, Code: int32(c.codeOf(err))}, h.view.RUnlock)
		c.close(notice(wire.NoticeKind_NOTICE_KIND_GOODBYE, c.codeOf(err), "cannot re-register the watches"))
		return
	}
	c.respondThen(&wire.Response{Id: id, Zxid: c.s.replica.tree.Applied(), Result: &wire.Response_Connect{Connect: &wire.ConnectResult{
		ProtocolVersion: min(cn.GetProtocolVersion(), wire.ProtocolVersion),
		SessionId:       rec.ID,
		Password:        password,
		TimeoutMs:       rec.TimeoutMs,
		MemberId:        c.s.replica.id,
		ServerVersion:   Version,
	}}}, func() {
		for _, ev := range events {
			c.sendEvent(ev)
		}
		h.view.RUnlock()
	})
}
