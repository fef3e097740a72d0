package proxy

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// chunkBytes is the most one read takes from a socket.
const chunkBytes = 32 << 10

// conn is one accepted connection and, once dialled, its upstream.
//
// A conn is forwarding, black-holed or aborted. Black-holing is one-way:
// a black-holed conn stays so until it is aborted. Aborted means closed:
// done is closed and both sockets with it.
type conn struct {
	client net.Conn

	// Guarded by Proxy.mu.
	source     uint64
	identified bool

	delay   atomic.Int64  // time.Duration added to each chunk read from now on
	holeCh  chan struct{} // closed when black-holed
	holeOne sync.Once
	done    chan struct{} // closed when aborted

	mu       sync.Mutex
	aborted  bool
	upstream net.Conn // nil until dialled
}

func newConn(client net.Conn) *conn {
	return &conn{client: client, holeCh: make(chan struct{}), done: make(chan struct{})}
}

// blackHole makes c discard every byte from now on and reports whether it
// was forwarding until now.
func (c *conn) blackHole() bool {
	first := false
	c.holeOne.Do(func() { close(c.holeCh); first = true })
	return first
}

// holed reports whether c is black-holed.
func (c *conn) holed() bool {
	select {
	case <-c.holeCh:
		return true
	default:
		return false
	}
}

// abort closes both of c's sockets, with a reset if rst, and reports
// whether c was open until now.
func (c *conn) abort(rst bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.aborted {
		return false
	}
	c.aborted = true
	close(c.done)
	closeConn(c.client, rst)
	if c.upstream != nil {
		closeConn(c.upstream, rst)
	}
	return true
}

// open reports whether c has not been aborted.
func (c *conn) open() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.aborted
}

// setUpstream gives c its dialled upstream, or closes up and reports false
// if c was aborted meanwhile.
func (c *conn) setUpstream(up net.Conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.aborted {
		_ = up.Close()
		return false
	}
	c.upstream = up
	return true
}

// closeConn closes nc; with rst, so that the other end reads a reset
// rather than an end of stream.
func closeConn(nc net.Conn, rst bool) {
	if tc, ok := nc.(*net.TCPConn); ok && rst {
		_ = tc.SetLinger(0)
	}
	_ = nc.Close()
}

// closeWrite sends an end of stream on nc, keeping its read side open.
func closeWrite(nc net.Conn) error {
	if cw, ok := nc.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nc.Close()
}

// pump forwards c in both directions until both are done or c is aborted.
// head, already read from the client, goes first.
func (c *conn) pump(head []byte, queueBytes int) {
	c.mu.Lock()
	up := c.upstream
	c.mu.Unlock()
	toTarget := &queue{limitBytes: queueBytes, ready: make(chan struct{}, 1), room: make(chan struct{}, 1)}
	toClient := &queue{limitBytes: queueBytes, ready: make(chan struct{}, 1), room: make(chan struct{}, 1)}
	if len(head) > 0 {
		toTarget.push(c, chunk{data: head, at: time.Now().Add(time.Duration(c.delay.Load()))})
	}
	var wg sync.WaitGroup
	wg.Go(func() { c.read(c.client, toTarget, true) })
	wg.Go(func() { c.write(up, toTarget) })
	wg.Go(func() { c.read(up, toClient, false) })
	c.write(c.client, toClient)
	wg.Wait()
}

// read moves chunks from src into q until src ends, or discards them while
// c is black-holed. fromClient says which side src is.
func (c *conn) read(src net.Conn, q *queue, fromClient bool) {
	buf := make([]byte, chunkBytes)
	for {
		n, err := src.Read(buf)
		if n > 0 && !c.holed() {
			data := append([]byte(nil), buf[:n]...)
			if !q.push(c, chunk{data: data, at: time.Now().Add(time.Duration(c.delay.Load()))}) {
				return
			}
		}
		if err == nil {
			continue
		}
		if c.holed() {
			if fromClient {
				// The dialer hung up: nobody is left to partition.
				c.abort(false)
			} else {
				// The target hung up: the dialer must not learn of it,
				// so close the upstream only.
				_ = src.Close()
			}
		}
		q.push(c, chunk{end: true, err: endErr(err), at: time.Now().Add(time.Duration(c.delay.Load()))})
		return
	}
}

// endErr is nil for an end of stream and err otherwise.
func endErr(err error) error {
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

// write delivers q's chunks to dst, each at its time, until the end of
// stream or until c is aborted. While c is black-holed it drops them.
func (c *conn) write(dst net.Conn, q *queue) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		ch, ok := q.peek(c)
		if !ok {
			return
		}
		if !c.holed() {
			if wait := time.Until(ch.at); wait > 0 {
				timer.Reset(wait)
				select {
				case <-timer.C:
				case <-c.holeCh:
					timer.Stop()
				case <-c.done:
					return
				}
				continue
			}
		}
		var err error
		switch {
		case c.holed():
		case !ch.end:
			_, err = dst.Write(ch.data)
		case ch.err == nil:
			err = closeWrite(dst)
		default:
			// The source failed: pass a reset on.
			c.abort(true)
			return
		}
		q.pop()
		if err != nil && !c.holed() {
			c.abort(true)
			return
		}
		if ch.end {
			return
		}
	}
}

// chunk is a piece of one direction's stream, or its end.
type chunk struct {
	data []byte
	at   time.Time // when to deliver it
	end  bool      // the stream ends here: cleanly if err is nil
	err  error
}

// queue holds one direction's chunks between its reader and its writer,
// at most limitBytes of data (but always one chunk).
type queue struct {
	limitBytes int
	ready      chan struct{} // signalled when a chunk is pushed
	room       chan struct{} // signalled when a chunk is popped

	mu     sync.Mutex
	chunks []chunk
	bytes  int
}

// push appends ch, waiting for room while the queue holds more than
// limitBytes with it. It reports false if c was aborted first; a chunk of
// data waiting when c is black-holed is dropped.
func (q *queue) push(c *conn, ch chunk) bool {
	q.mu.Lock()
	// The end takes no room, so it never waits.
	for !ch.end && q.bytes > 0 && q.bytes+len(ch.data) > q.limitBytes {
		q.mu.Unlock()
		select {
		case <-q.room:
		case <-c.holeCh:
			return true
		case <-c.done:
			return false
		}
		q.mu.Lock()
	}
	q.chunks = append(q.chunks, ch)
	q.bytes += len(ch.data)
	q.mu.Unlock()
	signal(q.ready)
	return true
}

// peek returns the first chunk, waiting for one. It reports false if c was
// aborted first.
func (q *queue) peek(c *conn) (chunk, bool) {
	for {
		q.mu.Lock()
		if len(q.chunks) > 0 {
			ch := q.chunks[0]
			q.mu.Unlock()
			return ch, true
		}
		q.mu.Unlock()
		select {
		case <-q.ready:
		case <-c.done:
			return chunk{}, false
		}
	}
}

// pop removes the first chunk, which peek returned.
func (q *queue) pop() {
	q.mu.Lock()
	q.bytes -= len(q.chunks[0].data)
	q.chunks[0] = chunk{}
	q.chunks = q.chunks[1:]
	q.mu.Unlock()
	signal(q.room)
}

// signal wakes the one waiter on ch, if any, without blocking.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
