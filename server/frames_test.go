package server_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/arbor-coord/arbor/internal/errcode"
	"github.com/arbor-coord/arbor/internal/wire"
	"github.com/arbor-coord/arbor/server"
	"github.com/arbor-coord/arbor/server/servertest"
)

// rawConn dials the member's WebSocket endpoint without the client, to
// send what the client never would.
func rawConn(t *testing.T, addr, subprotocol string) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{subprotocol}, HandshakeTimeout: 5 * time.Second}
	c, _, err := d.Dial("ws://"+addr+server.WebSocketPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	return c
}

func readMessage(t *testing.T, c *websocket.Conn) *wire.ServerMessage {
	t.Helper()
	typ, b, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var m *wire.ServerMessage
	if typ == websocket.TextMessage {
		m, err = wire.DecodeServerMessageJSON(b)
	} else {
		m, err = wire.DecodeServerMessage(b)
	}
	if err != nil {
		t.Fatalf("decode %q: %v", b, err)
	}
	return m
}

// wantClosed reads until the connection closes and returns the close code.
func wantClosed(t *testing.T, c *websocket.Conn) int {
	t.Helper()
	for {
		if _, _, err := c.ReadMessage(); err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				return ce.Code
			}
			return -1
		}
	}
}

func send(t *testing.T, c *websocket.Conn, r *wire.Request) {
	t.Helper()
	b, err := wire.EncodeRequest(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WriteMessage(websocket.BinaryMessage, b); err != nil {
		t.Fatal(err)
	}
}

func connectReq(id uint64) *wire.Request {
	return &wire.Request{Id: id, Op: &wire.Request_Connect{Connect: &wire.Connect{ProtocolVersion: 1, TimeoutMs: 10000}}}
}

func TestMalformedFrames(t *testing.T) {
	m := servertest.Start(t, server.Config{})

	t.Run("garbage", func(t *testing.T) {
		c := rawConn(t, m.Addr(), wire.SubprotocolProto)
		if err := c.WriteMessage(websocket.BinaryMessage, []byte{0xff, 0xff, 0xff, 0x01, 0x02}); err != nil {
			t.Fatal(err)
		}
		msg := readMessage(t, c)
		if r := msg.GetResponse(); r == nil || errcode.Code(r.GetCode()) != errcode.MarshallingError {
			t.Fatalf("got %v, want a MarshallingError response", msg)
		}
		if n := readMessage(t, c).GetNotice(); n == nil || n.GetKind() != wire.NoticeKind_NOTICE_KIND_GOODBYE {
			t.Fatalf("want a GOODBYE notice")
		}
		wantClosed(t, c)
	})
	t.Run("oversized", func(t *testing.T) {
		c := rawConn(t, m.Addr(), wire.SubprotocolProto)
		_ = c.WriteMessage(websocket.BinaryMessage, bytes.Repeat([]byte{0}, wire.MaxFrameBytes+1))
		if code := wantClosed(t, c); code != websocket.CloseMessageTooBig {
			t.Fatalf("close code %d, want %d", code, websocket.CloseMessageTooBig)
		}
	})
	t.Run("request before connect", func(t *testing.T) {
		c := rawConn(t, m.Addr(), wire.SubprotocolProto)
		send(t, c, &wire.Request{Id: 1, Op: &wire.Request_Ping{Ping: &wire.Ping{}}})
		n := readMessage(t, c).GetNotice()
		if n == nil || errcode.Code(n.GetCode()) != errcode.BadArguments {
			t.Fatalf("got %v, want GOODBYE BadArguments", n)
		}
		wantClosed(t, c)
	})
	t.Run("second connect", func(t *testing.T) {
		c := rawConn(t, m.Addr(), wire.SubprotocolProto)
		send(t, c, connectReq(1))
		send(t, c, connectReq(2))
		if r := readMessage(t, c).GetResponse(); r.GetId() != 1 || r.GetCode() != 0 || r.GetConnect().GetSessionId() == 0 {
			t.Fatalf("first connect: %v", r)
		}
		if r := readMessage(t, c).GetResponse(); r.GetId() != 2 || errcode.Code(r.GetCode()) != errcode.BadArguments {
			t.Fatalf("second connect: %v", r)
		}
	})
	t.Run("json subprotocol", func(t *testing.T) {
		c := rawConn(t, m.Addr(), wire.SubprotocolJSON)
		frame := `{"id":"1","connect":{"protocol_version":1,"timeout_ms":5000}}`
		if err := c.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
			t.Fatal(err)
		}
		if r := readMessage(t, c).GetResponse(); r.GetConnect().GetSessionId() == 0 {
			t.Fatalf("json connect: %v", r)
		}
		frame = `{"id":"2","seq":"1","lowest_unacked_seq":"1","create":{"path":"/j","data":"aGk=","acl":[{"perms":31,"scheme":"world","id":"anyone"}]}}`
		if err := c.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
			t.Fatal(err)
		}
		if r := readMessage(t, c).GetResponse(); r.GetCreate().GetPath() != "/j" {
			t.Fatalf("json create: %v", r)
		}
	})
	t.Run("bad resume", func(t *testing.T) {
		c := rawConn(t, m.Addr(), wire.SubprotocolProto)
		send(t, c, &wire.Request{Id: 1, Op: &wire.Request_Connect{Connect: &wire.Connect{ProtocolVersion: 1, SessionId: 12345, Password: make([]byte, 16), TimeoutMs: 5000}}})
		if r := readMessage(t, c).GetResponse(); errcode.Code(r.GetCode()) != errcode.SessionExpired {
			t.Fatalf("resume of an unknown session: %v", r)
		}
		if n := readMessage(t, c).GetNotice(); n.GetKind() != wire.NoticeKind_NOTICE_KIND_SESSION_EXPIRED {
			t.Fatalf("notice %v", n)
		}
		wantClosed(t, c)
	})
	// The member still serves.
	c := connect(t, m)
	if _, err := c.Exists(ctxFor(t, 5*time.Second), "/"); err != nil {
		t.Fatal(err)
	}
}

// TestSlowConsumerDropped: a client that sends requests but does not
// read its responses is dropped once a response has waited WriteTimeout
// for its socket (or its queue is full); the member stays up and serves
// others.
func TestSlowConsumerDropped(t *testing.T) {
	m := servertest.Start(t, server.Config{MaxInFlight: 16, WriteTimeout: 2 * time.Second})
	other := connect(t, m)
	ctx := ctxFor(t, 60*time.Second)
	must(other.Create(ctx, "/big", bytes.Repeat([]byte("x"), 512<<10)))(t)

	c := rawConn(t, m.Addr(), wire.SubprotocolProto)
	send(t, c, connectReq(1))
	if r := readMessage(t, c).GetResponse(); r.GetConnect() == nil {
		t.Fatalf("connect: %v", r)
	}
	// Ask for 512 KiB many times and never read: 200 answers are 100 MiB,
	// far past the socket buffers and the queue (64 messages, 16 MiB).
	c.SetWriteDeadline(time.Now().Add(20 * time.Second))
	for i := 0; i < 200; i++ {
		b, _ := wire.EncodeRequest(&wire.Request{Id: uint64(i + 2), Op: &wire.Request_GetData{GetData: &wire.GetData{Path: "/big"}}})
		if err := c.WriteMessage(websocket.BinaryMessage, b); err != nil {
			break // the member dropped us
		}
	}
	waitFor(t, 20*time.Second, "slow consumer dropped", func() bool { return m.Server().Stats().SlowConsumerDrops > 0 })
	if _, err := other.Exists(ctx, "/big"); err != nil {
		t.Fatalf("member after dropping a slow consumer: %v", err)
	}
}

// TestReadsBehindPipelinedWrites: a read sent right behind a write, on
// the same connection and without waiting for the write's response, is
// answered after the write and sees it; a read sent when nothing is
// pending (served on the connection's read goroutine) is answered in its
// place too. Responses come in the order the requests were sent.
func TestReadsBehindPipelinedWrites(t *testing.T) {
	m := servertest.Start(t, server.Config{})
	c := rawConn(t, m.Addr(), wire.SubprotocolProto)
	send(t, c, connectReq(1))
	if r := readMessage(t, c).GetResponse(); r.GetConnect() == nil {
		t.Fatalf("connect: %v", r)
	}
	acl := []*wire.ACL{{Perms: 31, Scheme: "world", Id: "anyone"}}
	const n = 200
	id, seq := uint64(1), uint64(0)
	var frames [][]byte
	for i := range n {
		path := fmt.Sprintf("/r%d", i)
		id, seq = id+1, seq+1
		frames = append(frames, mustEncodeRequest(t, &wire.Request{Id: id, Seq: seq, LowestUnackedSeq: seq,
			Op: &wire.Request_Create{Create: &wire.Create{Path: path, Data: []byte(path), Acl: acl}}}))
		id++
		frames = append(frames, mustEncodeRequest(t, &wire.Request{Id: id, Op: &wire.Request_GetData{GetData: &wire.GetData{Path: path}}}))
	}
	// All of them at once, then all the answers.
	for _, b := range frames {
		if err := c.WriteMessage(websocket.BinaryMessage, b); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		path := fmt.Sprintf("/r%d", i)
		cr := readMessage(t, c).GetResponse()
		if cr.GetId() != uint64(2+2*i) || cr.GetCreate().GetPath() != path {
			t.Fatalf("response %d: %v, want the create of %s", 2*i, cr, path)
		}
		gr := readMessage(t, c).GetResponse()
		if gr.GetId() != uint64(3+2*i) || errcode.Code(gr.GetCode()) != errcode.Ok || string(gr.GetGetData().GetData()) != path {
			t.Fatalf("response %d: %v, want the data of %s", 2*i+1, gr, path)
		}
	}
	// Now nothing is pending: a read is served on the read goroutine, a
	// write and a read behind it are not, and the order holds throughout.
	id++
	send(t, c, &wire.Request{Id: id, Op: &wire.Request_Exists{Exists: &wire.Exists{Path: "/r0"}}})
	if r := readMessage(t, c).GetResponse(); r.GetId() != id || r.GetStat().GetStat() == nil {
		t.Fatalf("exists: %v", r)
	}
	id, seq = id+1, seq+1
	send(t, c, &wire.Request{Id: id, Seq: seq, LowestUnackedSeq: seq, Op: &wire.Request_Delete{Delete: &wire.Delete{Path: "/r0", Version: -1}}})
	send(t, c, &wire.Request{Id: id + 1, Op: &wire.Request_Exists{Exists: &wire.Exists{Path: "/r0"}}})
	if r := readMessage(t, c).GetResponse(); r.GetId() != id || errcode.Code(r.GetCode()) != errcode.Ok {
		t.Fatalf("delete: %v", r)
	}
	if r := readMessage(t, c).GetResponse(); r.GetId() != id+1 || errcode.Code(r.GetCode()) != errcode.NoNode {
		t.Fatalf("exists after the delete: %v", r)
	}
}

func mustEncodeRequest(t *testing.T, r *wire.Request) []byte {
	t.Helper()
	b, err := wire.EncodeRequest(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
