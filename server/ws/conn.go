package ws

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"google.golang.org/protobuf/proto"

	"github.com/arbor-coord/arbor/internal/errcode"
	"github.com/arbor-coord/arbor/internal/wire"
)

// conn is one connection: a read goroutine (readPump), a write goroutine
// (writePump) and the send queue between the server and the latter.
type conn struct {
	e           *Endpoint
	ws          *websocket.Conn
	session     Session // set before the pumps start
	remote      string
	subprotocol string
	frameType   int // websocket.BinaryMessage or websocket.TextMessage
	encode      func([]byte, *wire.ServerMessage) ([]byte, error)
	decode      func([]byte) (*wire.Request, error)
	wbuf        []byte    // the encoding buffer, reused (wmu's)
	wdeadline   time.Time // the write deadline last set (wmu's)

	queue       chan queued
	queuedBytes atomic.Int64
	// queued counts the messages in queue or being written from it; Send
	// raises it before queueing, writePump lowers it once written.
	queued atomic.Int64
	// wmu is held by whoever writes to the socket: writePump, or Write
	// writing in its caller's goroutine. wbuf and wdeadline are its.
	wmu sync.Mutex

	closeOnce sync.Once
	intent    closeIntent   // written once, before closeReq is closed
	closeReq  chan struct{} // closed when the connection begins to close

	readerDone chan struct{} // closed when readPump has stopped reading
	writerDone chan struct{} // closed when writePump has closed the socket
}

type queued struct {
	m    *wire.ServerMessage
	size int64
}

// closeIntent is how a connection is to end; the first one wins.
type closeIntent struct {
	cause  error        // for Session.Closed
	notice *wire.Notice // written before the close frame, if not nil
	code   int          // the close frame's code
	text   string       // the close frame's reason
	drain  bool         // write the queued messages first
}

func newConn(e *Endpoint, wsc *websocket.Conn) *conn {
	c := &conn{
		e:           e,
		ws:          wsc,
		remote:      wsc.RemoteAddr().String(),
		subprotocol: wsc.Subprotocol(),
		queue:       make(chan queued, e.cfg.SendQueueMessages),
		closeReq:    make(chan struct{}),
		readerDone:  make(chan struct{}),
		writerDone:  make(chan struct{}),
	}
	switch c.subprotocol {
	case wire.SubprotocolProto:
		c.frameType, c.encode, c.decode = websocket.BinaryMessage, wire.AppendServerMessage, wire.DecodeRequest
	case wire.SubprotocolJSON:
		c.frameType, c.encode, c.decode = websocket.TextMessage, wire.AppendServerMessageJSON, wire.DecodeRequestJSON
	default:
		// ServeHTTP refuses a handshake without one of ours, and the
		// upgrader picks only from ours.
		panic(fmt.Sprintf("ws: negotiated subprotocol %q", c.subprotocol))
	}
	return c
}

func (c *conn) RemoteAddr() string  { return c.remote }
func (c *conn) Subprotocol() string { return c.subprotocol }

func (c *conn) closing() bool {
	select {
	case <-c.closeReq:
		return true
	default:
		return false
	}
}

// requestClose starts closing the connection as i says, unless it has
// begun to close already. It never blocks.
func (c *conn) requestClose(i closeIntent) {
	c.closeOnce.Do(func() {
		c.intent = i
		close(c.closeReq)
	})
}

func (c *conn) Close(notice *wire.Notice) {
	c.requestClose(closeIntent{cause: ErrClosed, notice: notice, code: websocket.CloseNormalClosure, drain: true})
}

func (c *conn) Send(m *wire.ServerMessage) error {
	if m == nil {
		panic("ws: Send of a nil message")
	}
	if c.closing() {
		return ErrClosed
	}
	size := int64(proto.Size(m))
	if n := c.queuedBytes.Add(size); n > c.e.cfg.SendQueueBytes {
		c.queuedBytes.Add(-size)
		return c.drop(fmt.Sprintf("send queue full (%d bytes)", c.e.cfg.SendQueueBytes))
	}
	c.queued.Add(1)
	select {
	case c.queue <- queued{m: m, size: size}:
		return nil
	default:
		c.queued.Add(-1)
		c.queuedBytes.Add(-size)
		return c.drop(fmt.Sprintf("send queue full (%d messages)", c.e.cfg.SendQueueMessages))
	}
}

func (c *conn) Write(m *wire.ServerMessage, ordered func()) error {
	if m == nil {
		panic("ws: Write of a nil message")
	}
	if ordered == nil {
		ordered = func() {}
	}
	// The socket is ours only if nothing is queued before m (queued is
	// read after wmu is taken: writePump lowers it only once a message is
	// written) and the connection is not closing (finish writes the last
	// frames under wmu).
	if c.queued.Load() != 0 || !c.wmu.TryLock() {
		err := c.Send(m)
		ordered()
		return err
	}
	if c.queued.Load() != 0 || c.closing() {
		c.wmu.Unlock()
		err := c.Send(m)
		ordered()
		return err
	}
	ordered()
	err := c.write(m)
	c.wmu.Unlock()
	if err != nil {
		return c.writeFailed(err)
	}
	return nil
}

// writeFailed ends the connection on a failed write and returns the
// cause: a write that timed out is a peer that does not read, dropped as
// a slow consumer.
func (c *conn) writeFailed(err error) error {
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return c.drop(fmt.Sprintf("a write blocked for %v", c.e.cfg.WriteTimeout))
	}
	c.requestClose(closeIntent{cause: err})
	return fmt.Errorf("%w: %w", ErrClosed, err)
}

// drop ends a connection whose peer does not keep up.
func (c *conn) drop(why string) error {
	err := fmt.Errorf("%w: %s", ErrSlowConsumer, why)
	first := false
	c.closeOnce.Do(func() {
		first = true
		c.intent = closeIntent{
			cause:  err,
			notice: goodbye(errcode.Throttled, "slow consumer: "+why),
			code:   websocket.ClosePolicyViolation,
			text:   "slow consumer",
		}
		close(c.closeReq)
	})
	if !first {
		return ErrClosed
	}
	c.e.stats.slowConsumerDrops.Add(1)
	c.e.log.Warn("ws: dropping connection", "remote", c.remote, "reason", "slow consumer: "+why)
	return err
}

// readPump reads frames until the connection ends, then waits for the
// write goroutine and calls Session.Closed.
func (c *conn) readPump() {
	c.ws.SetReadLimit(c.e.cfg.MaxFrameBytes)
	var rdeadline time.Time
	deadline := func() { refreshDeadline(&rdeadline, c.e.cfg.ReadTimeout, c.ws.SetReadDeadline) }
	deadline()
	c.ws.SetPongHandler(func(string) error { deadline(); return nil })
	var (
		readErr error
		buf     bytes.Buffer // each frame in turn: the decoders do not alias it
	)
	for {
		typ, data, err := readFrame(c.ws, &buf)
		if err != nil {
			readErr = err
			break
		}
		deadline()
		c.e.stats.framesIn.Add(1)
		c.e.stats.bytesIn.Add(uint64(len(data)))
		if c.closing() {
			continue // keep reading for the peer's close frame
		}
		if typ != c.frameType {
			c.badFrame(0, fmt.Errorf("%w: %w", wire.ErrMalformed, ErrFrameType), websocket.CloseUnsupportedData,
				fmt.Sprintf("%s frame on %s", frameTypeName(typ), c.subprotocol))
			continue
		}
		r, err := c.decode(data)
		if err != nil {
			code := websocket.CloseInvalidFramePayloadData
			if errors.Is(err, wire.ErrTooLarge) {
				code = websocket.CloseMessageTooBig
			}
			c.badFrame(wire.PeekRequestID(data, c.subprotocol == wire.SubprotocolJSON), err, code, err.Error())
			continue
		}
		c.session.Request(r)
	}
	close(c.readerDone)

	cause := readErr
	var netErr net.Error
	switch {
	case errors.Is(readErr, websocket.ErrReadLimit):
		// gorilla has sent close 1009 already.
		cause = fmt.Errorf("%w: %w: frame over %d bytes", wire.ErrMalformed, wire.ErrTooLarge, c.e.cfg.MaxFrameBytes)
		if !c.closing() {
			c.e.stats.badFrames.Add(1)
			c.e.log.Info("ws: closing connection", "remote", c.remote, "reason", cause)
		}
	case errors.As(readErr, &netErr) && netErr.Timeout():
		cause = fmt.Errorf("%w (%v)", ErrPeerTimeout, c.e.cfg.ReadTimeout)
		if !c.closing() {
			c.e.log.Info("ws: closing connection", "remote", c.remote, "reason", cause)
		}
	}
	// Nothing more can be read: close at once (no drain, no notice) unless
	// a close is under way already.
	c.requestClose(closeIntent{cause: cause})
	<-c.writerDone
	c.e.release(c)
	c.e.log.Debug("ws: connection closed", "remote", c.remote, "cause", c.intent.cause)
	c.session.Closed(c.intent.cause)
	c.e.wg.Done() // Shutdown waits for Closed
}

// badFrame answers a frame the peer may not send with a MarshallingError
// response (with the request's id, if it could be read) and ends the
// connection.
func (c *conn) badFrame(id uint64, err error, code int, text string) {
	c.e.stats.badFrames.Add(1)
	_ = c.Send(&wire.ServerMessage{Kind: &wire.ServerMessage_Response{Response: &wire.Response{Id: id, Code: int32(errcode.MarshallingError)}}})
	c.e.log.Info("ws: closing connection on a bad frame", "remote", c.remote, "err", err)
	c.requestClose(closeIntent{
		cause:  err,
		notice: goodbye(errcode.MarshallingError, truncate(text, 200)),
		code:   code,
		text:   text,
		drain:  true,
	})
}

func frameTypeName(typ int) string {
	if typ == websocket.TextMessage {
		return "text"
	}
	return "binary"
}

// writePump writes queued messages and pings until the connection begins
// to close, then ends it as the closeIntent says and closes the socket.
func (c *conn) writePump() {
	defer close(c.writerDone)
	defer c.ws.NetConn().Close()
	ping := time.NewTicker(c.e.cfg.PingInterval)
	defer ping.Stop()
	for {
		if c.closing() { // before the queue: a dropped connection is not drained
			break
		}
		select {
		case <-c.closeReq:
		case q := <-c.queue:
			c.wmu.Lock()
			err := c.writeQueued(q)
			c.wmu.Unlock()
			if err != nil {
				c.writeFailed(err)
				return
			}
		case <-ping.C:
			if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.e.cfg.WriteTimeout)); err != nil {
				c.requestClose(closeIntent{cause: err})
				return
			}
		}
	}
	c.finish()
}

// writeQueued writes a message taken from the queue. wmu must be held.
func (c *conn) writeQueued(q queued) error {
	c.queuedBytes.Add(-q.size)
	err := c.write(q.m)
	c.queued.Add(-1)
	return err
}

// write encodes and writes one message. wmu must be held.
func (c *conn) write(m *wire.ServerMessage) error {
	b, err := c.encode(c.wbuf[:0], m)
	if cap(b) <= maxKeptBuffer {
		c.wbuf = b
	}
	if err != nil {
		// The server built a message that is not valid: its bug, but one
		// connection's end, not the member's.
		err = fmt.Errorf("ws: encoding a server message: %w", err)
		c.e.log.Error("ws: closing connection", "remote", c.remote, "err", err)
		_ = c.ws.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseInternalServerErr, "internal error"), time.Now().Add(c.e.cfg.WriteTimeout))
		return err
	}
	refreshDeadline(&c.wdeadline, c.e.cfg.WriteTimeout, c.ws.SetWriteDeadline)
	if err := c.ws.WriteMessage(c.frameType, b); err != nil {
		return err
	}
	c.e.stats.framesOut.Add(1)
	c.e.stats.bytesOut.Add(uint64(len(b)))
	return nil
}

// finish ends the connection as c.intent says: all its writes together
// within WriteTimeout, then a short wait for the peer's close frame.
func (c *conn) finish() {
	i := c.intent
	if i.code == 0 { // the read side ended: nothing to say
		return
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	deadline := time.Now().Add(c.e.cfg.WriteTimeout)
	_ = c.ws.SetWriteDeadline(deadline)
	var err error
	for i.drain && err == nil {
		select {
		case q := <-c.queue:
			err = c.writeQueued(q)
			_ = c.ws.SetWriteDeadline(deadline)
			continue
		default:
		}
		break
	}
	if err == nil && i.notice != nil {
		var b []byte
		if b, err = c.encode(nil, &wire.ServerMessage{Kind: &wire.ServerMessage_Notice{Notice: i.notice}}); err == nil {
			if err = c.ws.WriteMessage(c.frameType, b); err == nil {
				c.e.stats.framesOut.Add(1)
				c.e.stats.bytesOut.Add(uint64(len(b)))
			}
		}
	}
	if err == nil {
		err = c.ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(i.code, truncate(i.text, 120)))
	}
	if err != nil {
		return
	}
	// Closing the socket with the peer's data unread could reset the
	// connection before the peer reads our last frames; the read goroutine
	// sees the peer's close frame (or its own deadline) and stops.
	t := time.NewTimer(min(c.e.cfg.WriteTimeout, maxCloseGrace))
	defer t.Stop()
	select {
	case <-c.readerDone:
	case <-t.C:
	}
}

// truncate cuts s to at most n bytes, for close frames (123 bytes at most)
// and notices.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

// maxKeptBuffer bounds the read and write buffers a connection keeps
// between frames; a larger frame's buffer is let go after it.
const maxKeptBuffer = 64 << 10

// readFrame reads the next whole message into buf, which it reuses: the
// returned bytes are valid until the next call.
func readFrame(ws *websocket.Conn, buf *bytes.Buffer) (int, []byte, error) {
	if buf.Cap() > maxKeptBuffer {
		*buf = bytes.Buffer{}
	}
	buf.Reset()
	typ, r, err := ws.NextReader()
	if err != nil {
		return 0, nil, err
	}
	if _, err := buf.ReadFrom(r); err != nil {
		return 0, nil, err
	}
	return typ, buf.Bytes(), nil
}

// refreshDeadline moves a read or write deadline to timeout from now, but
// only once an eighth of timeout has passed since it was last moved:
// setting a deadline costs a runtime timer update, and a deadline between
// 7/8 and all of timeout away does the same job.
func refreshDeadline(last *time.Time, timeout time.Duration, set func(time.Time) error) {
	now := time.Now()
	if !last.IsZero() && last.Sub(now) > timeout-timeout/8 {
		return
	}
	*last = now.Add(timeout)
	_ = set(*last)
}
