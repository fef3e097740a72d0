package transport

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"
)

// Member messages over TCP. Each peer has a member-message link beside
// its raft stream: a queue bounded in count (QueueMessages) and bytes
// (MessageQueueBytes), and a writer that dials a stream of kind
// streamMessages and redials with backoff as the raft writer does. A
// failed stream loses what it held; nothing about member messages is
// reported to Raft.

// tcpMessageReadBufferBytes sizes the reader of an inbound member-message
// stream: its messages are few and small.
const tcpMessageReadBufferBytes = 4 << 10

// TCPStats counts a TCP transport's member messages since NewTCP.
type TCPStats struct {
	// MessagesSent counts the member messages written to a stream. The
	// peer may still have lost them, with the stream.
	MessagesSent uint64
	// MessagesDropped counts the member messages lost here: refused by
	// SendMessage, discarded from a queue when its stream could not be
	// opened or its peer was removed, in a write that failed (some of
	// which may have arrived), or received when no handler was set.
	MessagesDropped uint64
	// MessagesReceived counts the member messages handed to the handler.
	MessagesReceived uint64
}

// tcpMessageState is the member-message state of a TCP transport.
type tcpMessageState struct {
	handler                 atomic.Pointer[func(from uint64, data []byte)]
	sent, dropped, received atomic.Uint64
}

// tcpMessageLink is a peer's member-message stream and its queue.
type tcpMessageLink struct {
	tcpLink
	queue chan []byte
	// queuedBytes is the data in queue, added by SendMessage before it
	// queues and taken off by the writer as it dequeues.
	queuedBytes atomic.Int64
}

// Handle sets the function that receives member messages from peers; nil
// drops them. Call it before Start: a message received before is dropped.
// h is called on the reader goroutine of each peer's stream, one message
// at a time per sending peer and in the order sent; it must not block for
// long, since that peer's messages wait for it. h may keep data.
func (t *TCP) Handle(h func(from uint64, data []byte)) {
	if h == nil {
		t.messages.handler.Store(nil)
		return
	}
	t.messages.handler.Store(&h)
}

// SendMessage queues data, a member message, for peer to and returns at
// once. It reports false, and counts the message dropped, when data is
// longer than MaxMessageBytes, the peer is unknown, its last dial failed,
// its queue is full (QueueMessages messages or MessageQueueBytes bytes),
// or the transport is closed. True promises nothing about delivery. The
// transport keeps data until it is written; the caller must not modify it.
func (t *TCP) SendMessage(to uint64, data []byte) bool {
	if len(data) > MaxMessageBytes {
		t.log.Debug("transport: member message larger than MaxMessageBytes dropped",
			"peer", to, "bytes", len(data), "max", MaxMessageBytes)
		t.messages.dropped.Add(1)
		return false
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	if p := t.peers[to]; p != nil && !t.closed && p.msgs.enqueue(data, t.cfg.MessageQueueBytes) {
		return true
	}
	t.messages.dropped.Add(1)
	return false
}

// Stats returns the transport's member-message counts.
func (t *TCP) Stats() TCPStats {
	return TCPStats{
		MessagesSent:     t.messages.sent.Load(),
		MessagesDropped:  t.messages.dropped.Load(),
		MessagesReceived: t.messages.received.Load(),
	}
}

// startMessageLinkLocked makes the member-message link to peer id at addr
// and starts its writer. t.mu must be held.
func (t *TCP) startMessageLinkLocked(id uint64, addr string) *tcpMessageLink {
	ctx, cancel := context.WithCancel(t.ctx)
	l := &tcpMessageLink{
		tcpLink: tcpLink{id: id, addr: addr, kind: streamMessages, ctx: ctx, cancel: cancel},
		queue:   make(chan []byte, t.cfg.QueueMessages),
	}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		t.redialLoop(&l.tcpLink,
			func(conn net.Conn) error { return t.writeMessages(l, conn) },
			func() { t.discardMessages(l) },
			func() {})
	}()
	return l
}

// enqueue queues data unless the link is unreachable or its queue is
// full in count or in bytes (maxBytes).
func (l *tcpMessageLink) enqueue(data []byte, maxBytes int) bool {
	if l.unreachable.Load() {
		return false
	}
	size := int64(len(data))
	if l.queuedBytes.Add(size) > int64(maxBytes) {
		l.queuedBytes.Add(-size)
		return false
	}
	select {
	case l.queue <- data:
		return true
	default:
		l.queuedBytes.Add(-size)
		return false
	}
}

// dequeued accounts for data, just taken off the queue.
func (l *tcpMessageLink) dequeued(data []byte) {
	l.queuedBytes.Add(-int64(len(data)))
}

// discardMessages empties l's queue, counting its messages dropped.
func (t *TCP) discardMessages(l *tcpMessageLink) {
	for {
		select {
		case data := <-l.queue:
			l.dequeued(data)
			t.messages.dropped.Add(1)
		default:
			return
		}
	}
}

// writeMessages writes l's queue to conn until a write fails, the peer
// closes the stream, or l is stopped. What is queued when a message
// arrives goes out with it in one write.
func (t *TCP) writeMessages(l *tcpMessageLink, conn net.Conn) error {
	remoteClosed := t.watchRemoteClose(conn)
	defer func() {
		conn.Close()
		<-remoteClosed
	}()
	var buf []byte
	for {
		var data []byte
		select {
		case data = <-l.queue:
		case <-remoteClosed:
			return errors.New("closed by peer")
		case <-l.ctx.Done():
			return l.ctx.Err()
		}
		l.dequeued(data)
		buf = appendMessageFrame(buf[:0], data)
		frames := uint64(1)
	gather:
		for len(buf) < tcpWriteBufferBytes {
			select {
			case data = <-l.queue:
				l.dequeued(data)
				buf = appendMessageFrame(buf, data)
				frames++
			default:
				break gather
			}
		}
		if err := conn.SetWriteDeadline(time.Now().Add(t.cfg.WriteTimeout)); err != nil {
			t.messages.dropped.Add(frames)
			return fmt.Errorf("set write deadline: %w", err)
		}
		if _, err := conn.Write(buf); err != nil {
			t.messages.dropped.Add(frames)
			return fmt.Errorf("write: %w", err)
		}
		t.messages.sent.Add(frames)
		if cap(buf) > tcpWriteBufferBytes {
			buf = nil // do not keep a large message's buffer
		}
	}
}

func appendMessageFrame(b, data []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(data)))
	return append(b, data...)
}

// readMessages hands the member messages of an inbound stream from peer
// from to the handler. It starts once the stream this one replaced (old,
// if not nil) has handed its last, so that the handler gets one peer's
// messages one at a time, in order.
func (t *TCP) readMessages(conn net.Conn, from uint64, old *inboundStream) error {
	if old != nil {
		select {
		case <-old.done:
		case <-t.ctx.Done():
			return t.ctx.Err()
		}
	}
	br := bufio.NewReaderSize(conn, tcpMessageReadBufferBytes)
	for {
		// A new buffer for each message: the handler may keep it.
		data, err := readFrame(br, nil, MaxMessageBytes, "MaxMessageBytes")
		if err != nil {
			return err
		}
		h := t.messages.handler.Load()
		if h == nil {
			t.log.Debug("transport: member message dropped: no handler", "peer", from)
			t.messages.dropped.Add(1)
			continue
		}
		t.messages.received.Add(1)
		(*h)(from, data)
	}
}
