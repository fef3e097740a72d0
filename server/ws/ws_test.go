package ws_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/arbor-coord/arbor/internal/errcode"
	"github.com/arbor-coord/arbor/internal/wire"
	"github.com/arbor-coord/arbor/server/ws"
)

// wait bounds every wait in these tests: long enough never to fire on a
// slow machine, short enough that a hang fails the test.
const wait = 10 * time.Second

// fakeHandler answers every request with a Response of the same id (when
// echo is set) and reports each connection's session on opened.
type fakeHandler struct {
	echo   bool
	opened chan *fakeSession
}

func newFakeHandler(echo bool) *fakeHandler {
	return &fakeHandler{echo: echo, opened: make(chan *fakeSession, 1000)}
}

func (h *fakeHandler) Open(c ws.Conn) ws.Session {
	s := &fakeSession{c: c, echo: h.echo, reqs: make(chan *wire.Request, 10000), closed: make(chan error, 1)}
	h.opened <- s
	return s
}

type fakeSession struct {
	c      ws.Conn
	echo   bool
	reqs   chan *wire.Request
	closed chan error

	mu       sync.Mutex
	nClosed  int
	afterEnd bool // a Request after Closed
}

func (s *fakeSession) Request(r *wire.Request) {
	s.mu.Lock()
	if s.nClosed > 0 {
		s.afterEnd = true
	}
	s.mu.Unlock()
	if s.echo {
		_ = s.c.Send(response(r.GetId()))
		return
	}
	select {
	case s.reqs <- r:
	default:
		panic("fakeSession: too many requests")
	}
}

func (s *fakeSession) Closed(err error) {
	s.mu.Lock()
	s.nClosed++
	s.mu.Unlock()
	s.closed <- err // a second Closed would block here and hang the test
}

// waitClosed returns the cause passed to Closed.
func (s *fakeSession) waitClosed(t *testing.T) error {
	t.Helper()
	select {
	case err := <-s.closed:
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.afterEnd {
			t.Error("Request after Closed")
		}
		return err
	case <-time.After(wait):
		t.Fatal("Closed was not called")
		return nil
	}
}

func (h *fakeHandler) waitOpen(t *testing.T) *fakeSession {
	t.Helper()
	select {
	case s := <-h.opened:
		return s
	case <-time.After(wait):
		t.Fatal("Open was not called")
		return nil
	}
}

// waitStats polls the endpoint's counters until ok (bounded by wait) and
// returns the last read.
func waitStats(t *testing.T, e *ws.Endpoint, ok func(ws.Stats) bool) ws.Stats {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		st := e.Stats()
		if ok(st) || time.Now().After(deadline) {
			return st
		}
		time.Sleep(time.Millisecond)
	}
}

func response(id uint64) *wire.ServerMessage {
	return &wire.ServerMessage{Kind: &wire.ServerMessage_Response{Response: &wire.Response{Id: id, Zxid: 7}}}
}

func ping(id uint64) *wire.Request {
	return &wire.Request{Id: id, Op: &wire.Request_Ping{Ping: &wire.Ping{}}}
}

type harness struct {
	e   *ws.Endpoint
	srv *httptest.Server
	h   *fakeHandler
	url string
}

func start(t testing.TB, cfg ws.Config, echo bool) *harness {
	t.Helper()
	h := newFakeHandler(echo)
	cfg.Handler = h
	e := ws.New(cfg)
	mux := http.NewServeMux()
	mux.Handle(ws.DefaultPath, e)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := e.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		srv.Close()
	})
	return &harness{e: e, srv: srv, h: h, url: "ws" + strings.TrimPrefix(srv.URL, "http") + ws.DefaultPath}
}

// client is a test client speaking one subprotocol.
type client struct {
	t     testing.TB
	c     *websocket.Conn
	proto string
}

func (hs *harness) dial(t testing.TB, protos ...string) *client {
	t.Helper()
	d := websocket.Dialer{Subprotocols: protos, HandshakeTimeout: wait}
	c, resp, err := d.Dial(hs.url, nil)
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, resp)
	}
	t.Cleanup(func() { c.Close() })
	return &client{t: t, c: c, proto: c.Subprotocol()}
}

func (c *client) send(r *wire.Request) {
	c.t.Helper()
	var b []byte
	var err error
	typ := websocket.BinaryMessage
	if c.proto == wire.SubprotocolJSON {
		b, err = wire.EncodeRequestJSON(r)
		typ = websocket.TextMessage
	} else {
		b, err = wire.EncodeRequest(r)
	}
	if err != nil {
		c.t.Fatal(err)
	}
	c.sendRaw(typ, b)
}

func (c *client) sendRaw(typ int, b []byte) {
	c.t.Helper()
	_ = c.c.SetWriteDeadline(time.Now().Add(wait))
	if err := c.c.WriteMessage(typ, b); err != nil {
		c.t.Fatal(err)
	}
}

// recv reads one message; err is the read error (a *websocket.CloseError
// when the server closed).
func (c *client) recv() (*wire.ServerMessage, error) {
	c.t.Helper()
	_ = c.c.SetReadDeadline(time.Now().Add(wait))
	typ, b, err := c.c.ReadMessage()
	if err != nil {
		return nil, err
	}
	want := websocket.BinaryMessage
	decode := wire.DecodeServerMessage
	if c.proto == wire.SubprotocolJSON {
		want, decode = websocket.TextMessage, wire.DecodeServerMessageJSON
	}
	if typ != want {
		c.t.Fatalf("frame type %d on %s", typ, c.proto)
	}
	m, err := decode(b)
	if err != nil {
		c.t.Fatal(err)
	}
	return m, nil
}

func (c *client) mustRecv() *wire.ServerMessage {
	c.t.Helper()
	m, err := c.recv()
	if err != nil {
		c.t.Fatal(err)
	}
	return m
}

// recvClose reads until the connection ends and returns the notice seen
// last (nil if none) and the close code (-1 if the connection ended
// without a close frame).
func (c *client) recvClose() (*wire.Notice, int) {
	c.t.Helper()
	var notice *wire.Notice
	for {
		m, err := c.recv()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				return notice, ce.Code
			}
			return notice, -1
		}
		if n := m.GetNotice(); n != nil {
			notice = n
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for _, proto := range []string{wire.SubprotocolProto, wire.SubprotocolJSON} {
		t.Run(proto, func(t *testing.T) {
			hs := start(t, ws.Config{}, true)
			c := hs.dial(t, proto)
			if c.proto != proto {
				t.Fatalf("negotiated %q", c.proto)
			}
			s := hs.h.waitOpen(t)
			if s.c.Subprotocol() != proto || s.c.RemoteAddr() == "" {
				t.Errorf("Conn: subprotocol %q, remote %q", s.c.Subprotocol(), s.c.RemoteAddr())
			}
			const n = 100
			for i := uint64(1); i <= n; i++ { // pipelined
				c.send(ping(i))
			}
			for i := uint64(1); i <= n; i++ {
				r := c.mustRecv().GetResponse()
				if r.GetId() != i || r.GetZxid() != 7 {
					t.Fatalf("response %d: %v", i, r)
				}
			}
			// The writer counts a frame after writing it: the client may
			// have read the last one first.
			st := waitStats(t, hs.e, func(st ws.Stats) bool { return st.FramesOut == n })
			if st.FramesIn != n || st.FramesOut != n || st.ConnectionsOpen != 1 || st.ConnectionsAccepted != 1 || st.BytesIn == 0 || st.BytesOut == 0 {
				t.Errorf("stats %+v", st)
			}
			c.c.Close()
			if err := s.waitClosed(t); err == nil {
				t.Error("Closed(nil)")
			}
		})
	}
}

func TestSubprotocolPreference(t *testing.T) {
	hs := start(t, ws.Config{}, true)
	for _, offer := range [][]string{
		{wire.SubprotocolJSON, wire.SubprotocolProto},
		{"other", wire.SubprotocolProto, wire.SubprotocolJSON},
	} {
		if c := hs.dial(t, offer...); c.proto != wire.SubprotocolProto {
			t.Errorf("offered %v: negotiated %q", offer, c.proto)
		}
	}
	if c := hs.dial(t, "other", wire.SubprotocolJSON); c.proto != wire.SubprotocolJSON {
		t.Errorf("negotiated %q", c.proto)
	}
}

func TestSubprotocolRefused(t *testing.T) {
	hs := start(t, ws.Config{}, true)
	for _, offer := range [][]string{nil, {"arbor.v2.proto", "chat"}} {
		d := websocket.Dialer{Subprotocols: offer, HandshakeTimeout: wait}
		c, resp, err := d.Dial(hs.url, nil)
		if err == nil {
			c.Close()
			t.Fatalf("offered %v: dial succeeded", offer)
		}
		if resp == nil || resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("offered %v: %v, %v", offer, err, resp)
		}
	}
	resp, err := http.Get(hs.srv.URL + ws.DefaultPath) // not a WebSocket handshake at all
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("plain GET: %s", resp.Status)
	}
	if st := hs.e.Stats(); st.UpgradesRefused != 3 || st.ConnectionsAccepted != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestOrigin(t *testing.T) {
	cases := []struct {
		allowed []string
		origin  string
		ok      bool
	}{
		{nil, "", true}, // not a browser
		{nil, "http://evil.example", false},
		{[]string{"https://ui.example.com"}, "https://UI.example.com", true},
		{[]string{"https://ui.example.com"}, "http://ui.example.com", false},
		{[]string{"*"}, "http://evil.example", true},
	}
	for _, tc := range cases {
		hs := start(t, ws.Config{AllowedOrigins: tc.allowed}, true)
		h := http.Header{}
		if tc.origin != "" {
			h.Set("Origin", tc.origin)
		}
		d := websocket.Dialer{Subprotocols: []string{wire.SubprotocolProto}, HandshakeTimeout: wait}
		c, resp, err := d.Dial(hs.url, h)
		if tc.ok != (err == nil) {
			t.Errorf("allowed %v, origin %q: err %v", tc.allowed, tc.origin, err)
		}
		if err == nil {
			c.Close()
		} else if resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("allowed %v, origin %q: %v", tc.allowed, tc.origin, resp)
		}
	}
	// Same origin: the Origin's host is the request's Host.
	hs := start(t, ws.Config{}, true)
	h := http.Header{"Origin": {hs.srv.URL}}
	d := websocket.Dialer{Subprotocols: []string{wire.SubprotocolProto}, HandshakeTimeout: wait}
	c, _, err := d.Dial(hs.url, h)
	if err != nil {
		t.Fatalf("same origin: %v", err)
	}
	c.Close()
}

func TestBadFrames(t *testing.T) {
	cases := []struct {
		name, proto string
		typ         int
		frame       []byte
		wantCode    int
		wantNotice  bool
	}{
		{"text on proto", wire.SubprotocolProto, websocket.TextMessage, []byte(`{"id":"1","ping":{}}`), websocket.CloseUnsupportedData, true},
		{"binary on json", wire.SubprotocolJSON, websocket.BinaryMessage, []byte{0x08, 0x01}, websocket.CloseUnsupportedData, true},
		{"garbage proto", wire.SubprotocolProto, websocket.BinaryMessage, []byte{0xff, 0xff, 0xff}, websocket.CloseInvalidFramePayloadData, true},
		{"garbage json", wire.SubprotocolJSON, websocket.TextMessage, []byte(`{"id":`), websocket.CloseInvalidFramePayloadData, true},
		{"no op", wire.SubprotocolJSON, websocket.TextMessage, []byte(`{"id":"1"}`), websocket.CloseInvalidFramePayloadData, true},
		{"oversized", wire.SubprotocolProto, websocket.BinaryMessage, make([]byte, 3000), websocket.CloseMessageTooBig, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hs := start(t, ws.Config{MaxFrameBytes: 1024}, true)
			other := hs.dial(t, tc.proto)
			otherSession := hs.h.waitOpen(t)
			bad := hs.dial(t, tc.proto)
			badSession := hs.h.waitOpen(t)

			bad.send(ping(1)) // answered: frames before the bad one are served
			if r := bad.mustRecv().GetResponse(); r.GetId() != 1 {
				t.Fatalf("response %v", r)
			}
			bad.sendRaw(tc.typ, tc.frame)
			notice, code := bad.recvClose()
			if code != tc.wantCode {
				t.Errorf("close code %d, want %d", code, tc.wantCode)
			}
			if tc.wantNotice {
				if notice.GetKind() != wire.NoticeKind_NOTICE_KIND_GOODBYE || notice.GetCode() != int32(errcode.MarshallingError) || notice.GetReason() == "" {
					t.Errorf("notice %v", notice)
				}
			}
			if err := badSession.waitClosed(t); !errors.Is(err, wire.ErrMalformed) {
				t.Errorf("Closed(%v), want ErrMalformed", err)
			}
			if st := hs.e.Stats(); st.BadFrames != 1 {
				t.Errorf("BadFrames %d", st.BadFrames)
			}

			// The other connection is unaffected.
			other.send(ping(9))
			if r := other.mustRecv().GetResponse(); r.GetId() != 9 {
				t.Fatalf("response %v", r)
			}
			select {
			case err := <-otherSession.closed:
				t.Fatalf("other connection closed: %v", err)
			default:
			}
		})
	}
}

func TestSlowConsumer(t *testing.T) {
	const queue = 8
	hs := start(t, ws.Config{SendQueueMessages: queue, WriteTimeout: 200 * time.Millisecond}, false)
	slow := hs.dial(t, wire.SubprotocolProto) // never reads
	s := hs.h.waitOpen(t)
	fast := hs.dial(t, wire.SubprotocolProto)
	fastSession := hs.h.waitOpen(t)

	big := &wire.ServerMessage{Kind: &wire.ServerMessage_Response{Response: &wire.Response{
		Id: 1, Result: &wire.Response_GetData{GetData: &wire.GetDataResult{Data: make([]byte, 64<<10)}}}}}
	var err error
	sends := 0
	// The socket buffers take some messages; then the queue fills. 64 KiB
	// × 100,000 is far beyond any socket buffer.
	for sends = 0; sends < 100000 && err == nil; sends++ {
		err = s.c.Send(big)
	}
	if !errors.Is(err, ws.ErrSlowConsumer) || !strings.Contains(err.Error(), "send queue full (8 messages)") {
		t.Fatalf("after %d sends: %v", sends, err)
	}
	if err := s.c.Send(big); !errors.Is(err, ws.ErrClosed) {
		t.Errorf("Send after the drop: %v", err)
	}
	if err := s.waitClosed(t); !errors.Is(err, ws.ErrSlowConsumer) {
		t.Errorf("Closed(%v)", err)
	}
	if st := hs.e.Stats(); st.SlowConsumerDrops != 1 || st.ConnectionsOpen != 1 {
		t.Errorf("stats %+v", st)
	}
	_ = slow

	// The other connection is unaffected.
	if err := fastSession.c.Send(response(5)); err != nil {
		t.Fatal(err)
	}
	if r := fast.mustRecv().GetResponse(); r.GetId() != 5 {
		t.Fatalf("response %v", r)
	}
}

// TestWriteOrder: Write keeps the connection's order with Send. A message
// Written while others are queued goes after them, and ordered is called
// once per Write, before its message reaches the peer.
func TestWriteOrder(t *testing.T) {
	const n = 5000
	// Room for all: a Write behind queued messages queues too, and never
	// waits for the queue to drain.
	hs := start(t, ws.Config{SendQueueMessages: n + 1}, false)
	c := hs.dial(t, wire.SubprotocolProto)
	s := hs.h.waitOpen(t)

	got := make(chan error, 1)
	go func() {
		for i := uint64(1); i <= n+1; i++ {
			m, err := c.recv()
			if err == nil && m.GetResponse().GetId() != i {
				err = fmt.Errorf("message %d arrived as number %d", m.GetResponse().GetId(), i)
			}
			if err != nil {
				got <- err
				return
			}
		}
		got <- nil
	}()
	calls := 0
	for i := uint64(1); i <= n; i++ {
		var err error
		if i%3 == 0 {
			err = s.c.Send(response(i))
		} else {
			err = s.c.Write(response(i), func() { calls++ })
		}
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	if err := s.c.Write(response(n+1), nil); err != nil {
		t.Fatalf("Write with no ordered func: %v", err)
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if want := n - n/3; calls != want {
		t.Fatalf("ordered called %d times for %d Writes", calls, want)
	}

	// On a closing connection Write refuses, and still calls ordered.
	s.c.Close(nil)
	called := 0
	if err := s.c.Write(response(1), func() { called++ }); !errors.Is(err, ws.ErrClosed) {
		t.Errorf("Write after Close: %v", err)
	}
	if called != 1 {
		t.Errorf("ordered called %d times on a refused Write", called)
	}
}

// TestWriteBlockedPeer: a Write to a peer that reads nothing blocks until
// WriteTimeout, then drops the connection as a slow consumer.
func TestWriteBlockedPeer(t *testing.T) {
	hs := start(t, ws.Config{WriteTimeout: 300 * time.Millisecond}, false)
	hs.dial(t, wire.SubprotocolProto) // never reads
	s := hs.h.waitOpen(t)
	big := &wire.ServerMessage{Kind: &wire.ServerMessage_Response{Response: &wire.Response{
		Id: 1, Result: &wire.Response_GetData{GetData: &wire.GetDataResult{Data: make([]byte, 64<<10)}}}}}
	var err error
	writes := 0
	// 64 KiB × 10,000 is far beyond any socket buffer.
	for writes = 0; writes < 10000 && err == nil; writes++ {
		err = s.c.Write(big, nil)
	}
	if !errors.Is(err, ws.ErrSlowConsumer) || !strings.Contains(err.Error(), "a write blocked for 300ms") {
		t.Fatalf("after %d writes: %v", writes, err)
	}
	if err := s.waitClosed(t); !errors.Is(err, ws.ErrSlowConsumer) {
		t.Errorf("Closed(%v)", err)
	}
	if st := hs.e.Stats(); st.SlowConsumerDrops != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestSlowConsumerBytes(t *testing.T) {
	hs := start(t, ws.Config{MaxFrameBytes: 1 << 10, SendQueueBytes: 1 << 20, WriteTimeout: 200 * time.Millisecond}, false)
	hs.dial(t, wire.SubprotocolProto) // never reads
	s := hs.h.waitOpen(t)
	big := &wire.ServerMessage{Kind: &wire.ServerMessage_Response{Response: &wire.Response{
		Id: 1, Result: &wire.Response_GetData{GetData: &wire.GetDataResult{Data: make([]byte, 64<<10)}}}}}
	var err error
	for i := 0; i < 100000 && err == nil; i++ {
		err = s.c.Send(big)
	}
	if !errors.Is(err, ws.ErrSlowConsumer) || !strings.Contains(err.Error(), "bytes") {
		t.Fatalf("%v", err)
	}
	if err := s.waitClosed(t); !errors.Is(err, ws.ErrSlowConsumer) {
		t.Errorf("Closed(%v)", err)
	}
}

func TestReadTimeout(t *testing.T) {
	hs := start(t, ws.Config{PingInterval: 50 * time.Millisecond, ReadTimeout: 300 * time.Millisecond}, true)

	// A peer that reads answers the pings and stays, silent, for several
	// read timeouts.
	alive := hs.dial(t, wire.SubprotocolProto)
	aliveSession := hs.h.waitOpen(t)
	go func() {
		for {
			if _, _, err := alive.c.ReadMessage(); err != nil {
				return
			}
		}
	}()

	// A peer that never reads never answers a ping.
	hs.dial(t, wire.SubprotocolProto)
	silent := hs.h.waitOpen(t)
	if err := silent.waitClosed(t); !errors.Is(err, ws.ErrPeerTimeout) {
		t.Errorf("Closed(%v)", err)
	}

	time.Sleep(time.Second) // > 3 read timeouts
	select {
	case err := <-aliveSession.closed:
		t.Fatalf("a peer answering pings was closed: %v", err)
	default:
	}
}

func TestServerClose(t *testing.T) {
	for _, proto := range []string{wire.SubprotocolProto, wire.SubprotocolJSON} {
		t.Run(proto, func(t *testing.T) {
			hs := start(t, ws.Config{}, false)
			c := hs.dial(t, proto)
			s := hs.h.waitOpen(t)
			for i := uint64(1); i <= 3; i++ {
				if err := s.c.Send(response(i)); err != nil {
					t.Fatal(err)
				}
			}
			s.c.Close(&wire.Notice{Kind: wire.NoticeKind_NOTICE_KIND_SESSION_EXPIRED, Code: int32(errcode.SessionExpired), Reason: "expired"})
			if err := s.c.Send(response(4)); !errors.Is(err, ws.ErrClosed) {
				t.Errorf("Send after Close: %v", err)
			}
			for i := uint64(1); i <= 3; i++ { // queued messages are flushed first
				if r := c.mustRecv().GetResponse(); r.GetId() != i {
					t.Fatalf("response %v", r)
				}
			}
			notice, code := c.recvClose()
			if notice.GetKind() != wire.NoticeKind_NOTICE_KIND_SESSION_EXPIRED || code != websocket.CloseNormalClosure {
				t.Errorf("notice %v, code %d", notice, code)
			}
			if err := s.waitClosed(t); !errors.Is(err, ws.ErrClosed) {
				t.Errorf("Closed(%v)", err)
			}
		})
	}
}

func TestShutdown(t *testing.T) {
	hs := start(t, ws.Config{}, false)
	const n = 6
	type result struct {
		first  *wire.ServerMessage
		notice *wire.Notice
		code   int
	}
	results := make(chan result, n)
	var sessions []*fakeSession
	for i := range n {
		proto := wire.SubprotocolProto
		if i%2 == 1 {
			proto = wire.SubprotocolJSON
		}
		c := hs.dial(t, proto)
		s := hs.h.waitOpen(t)
		sessions = append(sessions, s)
		if err := s.c.Send(response(uint64(i + 1))); err != nil {
			t.Fatal(err)
		}
		go func() {
			m, err := c.recv()
			if err != nil {
				results <- result{code: -2}
				return
			}
			notice, code := c.recvClose()
			results <- result{m, notice, code}
		}()
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := hs.e.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	// Shutdown has waited for every Closed.
	for _, s := range sessions {
		select {
		case err := <-s.closed:
			if !errors.Is(err, ws.ErrShutdown) {
				t.Errorf("Closed(%v)", err)
			}
		default:
			t.Fatal("Shutdown returned before Closed")
		}
	}
	if st := hs.e.Stats(); st.ConnectionsOpen != 0 {
		t.Errorf("ConnectionsOpen %d", st.ConnectionsOpen)
	}
	for range n {
		select {
		case r := <-results:
			if r.first.GetResponse() == nil || r.notice.GetCode() != int32(errcode.ConnectionLoss) ||
				r.notice.GetKind() != wire.NoticeKind_NOTICE_KIND_GOODBYE || r.code != websocket.CloseGoingAway {
				t.Errorf("client saw %v, %v, %d", r.first, r.notice, r.code)
			}
		case <-time.After(wait):
			t.Fatal("a client did not see the end")
		}
	}
	d := websocket.Dialer{Subprotocols: []string{wire.SubprotocolProto}, HandshakeTimeout: wait}
	if c, resp, err := d.Dial(hs.url, nil); err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		if c != nil {
			c.Close()
		}
		t.Errorf("dial after Shutdown: %v, %v", err, resp)
	}
}

func TestShutdownDeadline(t *testing.T) {
	// A client that never reads with a full socket: the graceful close
	// cannot finish before ctx, so Shutdown closes it at once.
	hs := start(t, ws.Config{WriteTimeout: time.Minute, SendQueueMessages: 100000, SendQueueBytes: 1 << 30}, false)
	hs.dial(t, wire.SubprotocolProto)
	s := hs.h.waitOpen(t)
	big := &wire.ServerMessage{Kind: &wire.ServerMessage_Response{Response: &wire.Response{
		Id: 1, Result: &wire.Response_GetData{GetData: &wire.GetDataResult{Data: make([]byte, 64<<10)}}}}}
	for range 1000 { // 64 MiB: more than the socket buffers hold
		if err := s.c.Send(big); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := hs.e.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := s.waitClosed(t); !errors.Is(err, ws.ErrShutdown) {
		t.Errorf("Closed(%v)", err)
	}
}

func TestConcurrentSends(t *testing.T) {
	const senders, each = 16, 200
	hs := start(t, ws.Config{SendQueueMessages: senders * each}, false)
	c := hs.dial(t, wire.SubprotocolJSON)
	s := hs.h.waitOpen(t)
	var wg sync.WaitGroup
	for g := range senders {
		wg.Go(func() {
			for i := range each {
				if err := s.c.Send(response(uint64(g*each + i + 1))); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	seen := make(map[uint64]bool)
	for range senders * each {
		seen[c.mustRecv().GetResponse().GetId()] = true
	}
	wg.Wait()
	if len(seen) != senders*each {
		t.Errorf("%d distinct responses", len(seen))
	}
}

func TestMaxConnections(t *testing.T) {
	hs := start(t, ws.Config{MaxConnections: 2}, true)
	hs.dial(t, wire.SubprotocolProto)
	hs.dial(t, wire.SubprotocolProto)
	d := websocket.Dialer{Subprotocols: []string{wire.SubprotocolProto}, HandshakeTimeout: wait}
	c, resp, err := d.Dial(hs.url, nil)
	if err == nil {
		c.Close()
	}
	if resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("third connection: %v, %v", err, resp)
	}
}

func TestConfigPanics(t *testing.T) {
	h := newFakeHandler(true)
	for name, cfg := range map[string]ws.Config{
		"no handler":      {},
		"frame too large": {Handler: h, MaxFrameBytes: wire.MaxFrameBytes + 1},
		"queue bytes":     {Handler: h, SendQueueBytes: 10},
		"read timeout":    {Handler: h, PingInterval: time.Second, ReadTimeout: time.Second},
		"origin":          {Handler: h, AllowedOrigins: []string{"ui.example.com"}},
		"negative":        {Handler: h, WriteTimeout: -1},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			ws.New(cfg)
		}()
	}
}
