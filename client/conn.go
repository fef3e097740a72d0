package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/arbor-coord/arbor/internal/errcode"
	"github.com/arbor-coord/arbor/internal/wire"
	"github.com/gorilla/websocket"
)

// conn is one WebSocket connection to a member. Request ids are per
// connection; pending maps them to their calls.
type conn struct {
	ws     *websocket.Conn
	wmu    sync.Mutex // gorilla allows one writer at a time
	member uint64     // the member's id, from the handshake
	server string     // the address dialled

	mu      sync.Mutex
	nextID  uint64
	pending map[uint64]*call

	closeOnce sync.Once
	dead      chan struct{}
}

func (cn *conn) register(cl *call) uint64 {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	cn.nextID++
	cn.pending[cn.nextID] = cl
	return cn.nextID
}

func (cn *conn) take(id uint64) *call {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	cl := cn.pending[id]
	delete(cn.pending, id)
	return cl
}

func (cn *conn) write(frame []byte) error {
	cn.wmu.Lock()
	defer cn.wmu.Unlock()
	return cn.ws.WriteMessage(websocket.BinaryMessage, frame)
}

// close closes the connection; the reader then sees an error and exits.
func (cn *conn) close() {
	cn.closeOnce.Do(func() {
		cn.ws.Close()
		close(cn.dead)
	})
}

// dial opens a connection to server and completes the handshake, opening
// or resuming the session. On success the connection's reader and pinger
// are running.
func (c *Client) dial(ctx context.Context, server string) (*conn, error) {
	d := websocket.Dialer{Subprotocols: []string{wire.SubprotocolProto}}
	ws, _, err := d.DialContext(ctx, "ws://"+server+c.cfg.path, nil)
	if err != nil {
		return nil, err
	}
	if ws.Subprotocol() != wire.SubprotocolProto {
		ws.Close()
		return nil, fmt.Errorf("member chose subprotocol %q", ws.Subprotocol())
	}
	ws.SetReadLimit(wire.MaxFrameBytes)
	stop := context.AfterFunc(ctx, func() { ws.Close() })
	res, zxid, err := c.handshake(ws)
	if !stop() || err != nil {
		ws.Close()
		if err == nil {
			err = ctx.Err()
		}
		return nil, err
	}

	c.mu.Lock()
	if c.sessionID != 0 && res.SessionId != c.sessionID {
		c.mu.Unlock()
		ws.Close()
		return nil, fmt.Errorf("member resumed session %#x instead of %#x", res.SessionId, c.sessionID)
	}
	c.sessionID = res.SessionId
	c.password = res.Password
	c.timeout = time.Duration(res.TimeoutMs) * time.Millisecond
	c.lastZxid = max(c.lastZxid, zxid)
	c.lastContact = time.Now()
	c.mu.Unlock()

	cn := &conn{ws: ws, member: res.MemberId, server: server, nextID: 1, pending: make(map[uint64]*call), dead: make(chan struct{})}
	c.wg.Add(2)
	go c.read(cn)
	go c.ping(cn)
	return cn, nil
}

// handshake sends Connect (id 1) and reads its result.
func (c *Client) handshake(ws *websocket.Conn) (*wire.ConnectResult, uint64, error) {
	c.mu.Lock()
	req := &wire.Connect{
		ProtocolVersion: wire.ProtocolVersion,
		SessionId:       c.sessionID,
		Password:        c.password,
		TimeoutMs:       int32(c.cfg.sessionTimeout / time.Millisecond),
		LastZxid:        c.lastZxid,
	}
	for _, a := range c.auth {
		req.Auth = append(req.Auth, &wire.AuthInfo{Scheme: a.scheme, Auth: a.auth})
	}
	for k := range c.watches {
		req.Watches = append(req.Watches, &wire.WatchRegistration{Path: k.path, Kind: k.kind})
	}
	for k := range c.persistent {
		req.Watches = append(req.Watches, &wire.WatchRegistration{Path: k.path, Kind: k.kind})
	}
	c.mu.Unlock()
	frame, err := wire.EncodeRequest(&wire.Request{Id: 1, Op: &wire.Request_Connect{Connect: req}})
	if err != nil {
		return nil, 0, err
	}
	if err := ws.WriteMessage(websocket.BinaryMessage, frame); err != nil {
		return nil, 0, err
	}
	for {
		_, b, err := ws.ReadMessage()
		if err != nil {
			return nil, 0, err
		}
		m, err := wire.DecodeServerMessage(b)
		if err != nil {
			return nil, 0, err
		}
		switch k := m.Kind.(type) {
		case *wire.ServerMessage_Notice:
			if k.Notice.Kind == wire.NoticeKind_NOTICE_KIND_SESSION_EXPIRED {
				return nil, 0, &Error{Op: "connect", Code: errcode.SessionExpired, Reason: k.Notice.Reason}
			}
			return nil, 0, fmt.Errorf("member said goodbye: %v (%s)", errcode.Code(k.Notice.Code), k.Notice.Reason)
		case *wire.ServerMessage_Response:
			r := k.Response
			if r.Id != 1 {
				return nil, 0, fmt.Errorf("response %d before the connect result", r.Id)
			}
			if code := errcode.Code(r.Code); code != errcode.Ok {
				return nil, 0, &Error{Op: "connect", Code: code}
			}
			res := r.GetConnect()
			if res == nil || res.SessionId == 0 || res.TimeoutMs <= 0 {
				return nil, 0, errors.New("malformed connect result")
			}
			return res, r.Zxid, nil
		case *wire.ServerMessage_Event:
			return nil, 0, errors.New("event before the connect result")
		}
	}
}

// read dispatches cn's frames until it fails; nothing arriving for two
// thirds of the session timeout counts as a failure.
func (c *Client) read(cn *conn) {
	defer c.wg.Done()
	defer cn.close()
	c.mu.Lock()
	idle := c.timeout * 2 / 3 // set before this connection's reader starts
	c.mu.Unlock()
	var (
		deadline time.Time
		buf      bytes.Buffer // each frame in turn: the decoder does not alias it
	)
	for {
		// Moved at most every eighth of idle: setting a deadline costs a
		// runtime timer update per frame otherwise.
		if now := time.Now(); deadline.Sub(now) < idle-idle/8 {
			deadline = now.Add(idle)
			cn.ws.SetReadDeadline(deadline)
		}
		b, err := readFrame(cn.ws, &buf)
		if err != nil {
			c.log.Debug("arbor: connection lost", "err", err)
			return
		}
		m, err := wire.DecodeServerMessage(b)
		if err != nil {
			c.log.Warn("arbor: malformed frame from member; reconnecting", "err", err)
			return
		}
		c.mu.Lock()
		c.lastContact = time.Now()
		switch k := m.Kind.(type) {
		case *wire.ServerMessage_Response:
			c.lastZxid = max(c.lastZxid, k.Response.Zxid)
			if cl := cn.take(k.Response.Id); cl != nil {
				c.answerLocked(cl, k.Response)
			}
		case *wire.ServerMessage_Event:
			c.lastZxid = max(c.lastZxid, k.Event.Zxid)
			c.fireLocked(k.Event)
		case *wire.ServerMessage_Notice:
			n := k.Notice
			if n.Kind == wire.NoticeKind_NOTICE_KIND_SESSION_EXPIRED {
				c.log.Warn("arbor: session expired", "reason", n.Reason)
				c.terminateLocked(&Error{Op: "session", Code: errcode.SessionExpired, Reason: n.Reason}, StateExpired)
			} else {
				c.log.Info("arbor: member closes the connection", "code", errcode.Code(n.Code).Name(), "reason", n.Reason)
			}
		}
		c.mu.Unlock()
	}
}

// answerLocked delivers resp to cl, registering its watch if it set one and
// ending the one-shot watches it removed.
func (c *Client) answerLocked(cl *call, resp *wire.Response) {
	code := errcode.Code(resp.Code)
	// Even for an abandoned call: the member no longer has these watches,
	// so their channels would never receive an event.
	if rw := cl.req.GetRemoveWatches(); rw != nil && (code == errcode.Ok || code == errcode.NoWatcher) {
		for _, k := range rw.Kinds {
			c.closeWatchesLocked(watchKey{rw.Path, k})
		}
	}
	if cl.internal || !cl.active {
		return
	}
	if cl.watch != nil {
		kind := cl.watchKnd
		if kind == wire.WatchKind_WATCH_KIND_DATA && cl.req.GetExists() != nil && code == errcode.NoNode {
			kind = wire.WatchKind_WATCH_KIND_EXISTS
		}
		if code == errcode.Ok || kind == wire.WatchKind_WATCH_KIND_EXISTS {
			k := watchKey{cl.path, kind}
			c.watches[k] = append(c.watches[k], cl.watch)
		}
	}
	if cl.req.GetCloseSession() != nil && code == errcode.Ok {
		c.finishLocked(cl, resp, nil)
		c.terminateLocked(ErrClosed, StateClosed)
		return
	}
	if code != errcode.Ok && cl.req.GetMulti() == nil && cl.watch == nil {
		c.finishLocked(cl, nil, &Error{Op: cl.op, Path: cl.path, Code: code})
		return
	}
	c.finishLocked(cl, resp, nil)
}

// fireLocked delivers an event to the watches it fired.
func (c *Client) fireLocked(ev *wire.Event) {
	out := Event{Type: EventType(ev.Type), Path: ev.Path, Zxid: ev.Zxid, CatchUp: ev.CatchUp}
	c.firePersistentLocked(ev, out)
	var kinds []wire.WatchKind
	for _, k := range ev.Kinds {
		switch k {
		case wire.WatchKind_WATCH_KIND_DATA, wire.WatchKind_WATCH_KIND_EXISTS:
			// The member keeps DATA and EXISTS as one watch.
			kinds = append(kinds, wire.WatchKind_WATCH_KIND_DATA, wire.WatchKind_WATCH_KIND_EXISTS)
		case wire.WatchKind_WATCH_KIND_CHILDREN:
			kinds = append(kinds, k)
		}
	}
	for _, kind := range kinds {
		key := watchKey{ev.Path, kind}
		for _, ch := range c.watches[key] {
			ch <- out // buffered 1, one event ever
			close(ch)
		}
		delete(c.watches, key)
	}
}

// ping sends a ping every third of the session timeout, so the member
// hears from the client and the client from the member.
func (c *Client) ping(cn *conn) {
	defer c.wg.Done()
	for {
		c.mu.Lock()
		every := max(c.timeout/3, time.Millisecond)
		c.mu.Unlock()
		if !sleepOrDone(cn.dead, every) {
			return
		}
		cl := &call{op: "ping", internal: true, req: &wire.Request{Op: &wire.Request_Ping{Ping: &wire.Ping{}}}}
		c.mu.Lock()
		cl.req.Id = cn.register(cl)
		c.mu.Unlock()
		frame, err := wire.EncodeRequest(cl.req)
		if err != nil {
			panic("arbor: client: ping does not encode: " + err.Error())
		}
		if err := cn.write(frame); err != nil {
			cn.close()
			return
		}
	}
}

func sleepOrDone(done <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-done:
		return false
	}
}

// readFrame reads the next message into buf, which it reuses (and lets go
// of after a frame over 64 KiB): the bytes are valid until the next call.
func readFrame(ws *websocket.Conn, buf *bytes.Buffer) ([]byte, error) {
	if buf.Cap() > 64<<10 {
		*buf = bytes.Buffer{}
	}
	buf.Reset()
	_, r, err := ws.NextReader()
	if err != nil {
		return nil, err
	}
	if _, err := buf.ReadFrom(r); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
