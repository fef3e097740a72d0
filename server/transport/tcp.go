package transport

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Defaults for the zero values of TCPConfig.
const (
	DefaultQueueMessages = 4096
	DefaultDialTimeout   = time.Second
	DefaultWriteTimeout  = 5 * time.Second
	DefaultMaxBackoff    = time.Second
	DefaultMaxFrameBytes = 16 << 20

	DefaultMessageQueueBytes = 4 << 20
)

// The stream handshake. A TCP stream between two members starts with a
// header of handshakeBytes bytes, written by the dialer as soon as it is
// connected:
//
//	offset size  field
//	0      4     magic "ARBR" (0x41 0x52 0x42 0x52)
//	4      1     version, 1
//	5      1     stream kind: 1 = raft messages, 2 = one snapshot (see
//	             streamSnapshot in tcp_snapshot.go), 3 = member messages
//	6      2     reserved, zero
//	8      8     cluster id, big-endian uint64, non-zero
//	16     8     from: the dialer's raft id, big-endian uint64, non-zero
//	24     8     to: the acceptor's raft id, big-endian uint64, non-zero
//
// The acceptor answers with one status byte (statusOK, or the reason it
// refuses the stream) and, on a refusal, closes the connection. Both ends
// log a refusal with its reason; the dialer backs off before redialling.
//
// After statusOK, a raft stream (kind 1) carries frames from the dialer to
// the acceptor only, each a uvarint byte length followed by that many bytes
// of the protobuf encoding of a raftpb.Message. The acceptor closes the
// stream on a frame longer than its MaxFrameBytes, one that does not
// decode, or a message whose To is not its own id or whose From is not the
// handshake's from. The acceptor never writes after the status byte; the
// dialer reads only to learn that the stream was closed.
//
// A member-message stream (kind 3) is the same but for its frames: each
// a uvarint byte length followed by that many bytes of one member
// message's data, at most MaxMessageBytes (a longer frame closes the
// stream). Each member dials one raft stream and one member-message stream
// to each peer.
const (
	handshakeMagic   = "ARBR"
	handshakeVersion = 1
	handshakeBytes   = 32

	streamRaft     byte = 1
	streamMessages byte = 3
)

// Handshake status bytes, answered by the acceptor.
const (
	statusOK         byte = 0
	statusBadMagic   byte = 1 // not an arbor stream, or another version
	statusBadKind    byte = 2 // a stream kind this member does not serve
	statusBadCluster byte = 3 // the cluster ids differ
	statusBadTo      byte = 4 // to is not the acceptor's id
	statusBadFrom    byte = 5 // from is zero or the acceptor's own id
)

func statusText(s byte) string {
	switch s {
	case statusOK:
		return "ok"
	case statusBadMagic:
		return "bad magic or version"
	case statusBadKind:
		return "unsupported stream kind"
	case statusBadCluster:
		return "cluster id mismatch"
	case statusBadTo:
		return "stream addressed to another member id"
	case statusBadFrom:
		return "invalid sender id"
	}
	return fmt.Sprintf("unknown status %d", s)
}

func streamName(kind byte) string {
	switch kind {
	case streamRaft:
		return "raft"
	case streamSnapshot:
		return "snapshot"
	case streamMessages:
		return "messages"
	}
	return fmt.Sprintf("kind %d", kind)
}

const (
	tcpMinBackoff       = 10 * time.Millisecond
	tcpWriteBufferBytes = 64 << 10
	tcpReadBufferBytes  = 64 << 10
	// tcpMaxPendingReports bounds the peers with a report waiting for the
	// reporter goroutine (an id comes from a message's To, so a bad caller
	// could otherwise grow it without limit).
	tcpMaxPendingReports = 1024
)

// TCPConfig configures a TCP transport. Zero values of the optional fields
// take the Default constants.
type TCPConfig struct {
	// ID is this member's raft id, non-zero.
	ID uint64
	// ClusterID identifies the cluster, non-zero. Both ends of a stream
	// must agree; a stream from another cluster is refused (and logged).
	ClusterID uint64
	// Listen is the host:port to listen on for peers; "" means Peers[ID].
	Listen string
	// Peers are the peer addresses of the other members, by raft id. This
	// member's own entry, if present, is not dialled.
	Peers map[uint64]string
	// QueueMessages bounds each peer's outbound queue. A message that
	// finds the queue full is dropped and the peer reported unreachable.
	// It also bounds, separately, the count of each peer's queue of
	// member messages (SendMessage).
	QueueMessages int
	// MessageQueueBytes bounds the data queued in each peer's queue of
	// member messages; SendMessage drops (and reports false) past it.
	MessageQueueBytes int
	// DialTimeout bounds a dial plus the handshake on both ends.
	DialTimeout time.Duration
	// WriteTimeout bounds how long a peer may take to drain its socket;
	// past it the stream is closed and redialled.
	WriteTimeout time.Duration
	// MaxBackoff caps the redial backoff, which starts at 10ms and
	// doubles, with jitter, on each failure.
	MaxBackoff time.Duration
	// MaxFrameBytes bounds an incoming frame (and an outgoing one: a
	// larger message is dropped rather than sent to be refused). A larger
	// incoming frame closes its stream (logged).
	MaxFrameBytes int
	// Logger receives the transport's log lines; nil discards them.
	Logger *slog.Logger
}

func (c TCPConfig) withDefaults() (TCPConfig, error) {
	if c.ID == 0 {
		return c, errors.New("transport: TCPConfig.ID must be non-zero")
	}
	if c.ClusterID == 0 {
		return c, errors.New("transport: TCPConfig.ClusterID must be non-zero")
	}
	peers := make(map[uint64]string, len(c.Peers))
	for id, addr := range c.Peers {
		if id == 0 {
			return c, fmt.Errorf("transport: TCPConfig.Peers holds id 0 (address %q)", addr)
		}
		if err := checkTCPAddr(addr); err != nil {
			return c, fmt.Errorf("transport: TCPConfig.Peers[%d]: %w", id, err)
		}
		peers[id] = addr
	}
	c.Peers = peers
	if c.Listen == "" {
		c.Listen = c.Peers[c.ID]
		if c.Listen == "" {
			return c, fmt.Errorf("transport: TCPConfig.Listen is empty and Peers has no address for ID %d", c.ID)
		}
	}
	if err := checkTCPAddr(c.Listen); err != nil {
		return c, fmt.Errorf("transport: TCPConfig.Listen: %w", err)
	}
	defaultTo(&c.QueueMessages, DefaultQueueMessages)
	defaultTo(&c.DialTimeout, DefaultDialTimeout)
	defaultTo(&c.WriteTimeout, DefaultWriteTimeout)
	defaultTo(&c.MaxBackoff, DefaultMaxBackoff)
	defaultTo(&c.MaxFrameBytes, DefaultMaxFrameBytes)
	defaultTo(&c.MessageQueueBytes, DefaultMessageQueueBytes)
	switch {
	case c.QueueMessages < 0:
		return c, fmt.Errorf("transport: TCPConfig.QueueMessages %d is negative", c.QueueMessages)
	case c.DialTimeout < 0:
		return c, fmt.Errorf("transport: TCPConfig.DialTimeout %v is negative", c.DialTimeout)
	case c.WriteTimeout < 0:
		return c, fmt.Errorf("transport: TCPConfig.WriteTimeout %v is negative", c.WriteTimeout)
	case c.MaxBackoff < 0:
		return c, fmt.Errorf("transport: TCPConfig.MaxBackoff %v is negative", c.MaxBackoff)
	case c.MaxFrameBytes < 0:
		return c, fmt.Errorf("transport: TCPConfig.MaxFrameBytes %d is negative", c.MaxFrameBytes)
	case c.MessageQueueBytes < 0:
		return c, fmt.Errorf("transport: TCPConfig.MessageQueueBytes %d is negative", c.MessageQueueBytes)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// checkTCPAddr checks that addr is host:port with a numeric port.
func checkTCPAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("bad address %q: %w", addr, err)
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return fmt.Errorf("bad address %q: %w", addr, err)
	}
	return nil
}

func defaultTo[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// TCP is the transport between members over TCP: two outbound streams per
// peer (raft messages, member messages), each fed by a bounded queue and a
// writer goroutine that redials with backoff, and one reader goroutine per
// inbound stream.
//
// Reports to Raft (ReportUnreachable, ReportSnapshot) are made from a
// goroutine of the transport, never from Send, so the Ready loop that
// calls Send may also be the one serving the reports. They are coalesced
// per peer; those made before Start are held until Start.
//
// The methods are safe for concurrent use.
type TCP struct {
	cfg TCPConfig
	log *slog.Logger
	ln  net.Listener

	// ctx ends when Close is called: the ctx of Step, dials and backoffs.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	reports tcpReports
	snaps   tcpSnapshots

	// mu guards the fields below. Lock order: mu, then peer.mu, then
	// reports.mu.
	mu      sync.RWMutex
	closed  bool
	started bool
	raft    Raft // given to Start; opens the snapshots Send is given
	peers   map[uint64]*tcpPeer
	// inbound holds the newest inbound stream of each kind from each
	// peer; conns every accepted connection, handshaken or not, so that
	// Close can close it.
	inbound map[inboundKey]*inboundStream
	conns   map[net.Conn]struct{}

	messages tcpMessageState
}

type inboundKey struct {
	from uint64
	kind byte
}

// inboundStream is an accepted stream; done is closed when its reader
// has returned.
type inboundStream struct {
	conn net.Conn
	done chan struct{}
}

// NewTCP checks cfg, binds the listener (so Addr is known) and starts the
// outbound streams to cfg.Peers. Nothing is delivered before Start.
func NewTCP(cfg TCPConfig) (*TCP, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("transport: listen: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := &TCP{
		cfg:     cfg,
		log:     cfg.Logger.With("member", cfg.ID),
		ln:      ln,
		ctx:     ctx,
		cancel:  cancel,
		peers:   make(map[uint64]*tcpPeer),
		inbound: make(map[inboundKey]*inboundStream),
		conns:   make(map[net.Conn]struct{}),
	}
	t.reports.init()
	t.mu.Lock()
	for id, addr := range cfg.Peers {
		if id != cfg.ID {
			t.addPeerLocked(id, addr)
		}
	}
	t.mu.Unlock()
	return t, nil
}

// Addr returns the address the transport listens on.
func (t *TCP) Addr() net.Addr { return t.ln.Addr() }

// Start begins accepting inbound streams, delivering their messages to
// r.Step, and making the reports to r. It may be called once; a second
// call, or one after Close, does nothing.
func (t *TCP) Start(r Raft) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed || t.started {
		return
	}
	t.started = true
	t.raft = r
	t.wg.Add(2)
	go t.acceptLoop(r)
	go t.reportLoop(r)
}

// Send queues each message for the peer m.GetTo() names. It never blocks:
// a message to an unknown or unreachable peer, or one that finds its
// peer's queue full, is dropped and the peer is reported unreachable (and
// a dropped MsgSnap reported as a failed snapshot). A MsgSnap goes on a
// connection of its own with its state (tcp_snapshot.go). After Close,
// Send drops everything.
func (t *TCP) Send(msgs []*pb.Message) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.closed {
		return
	}
	for _, m := range msgs {
		to := m.GetTo()
		p := t.peers[to]
		if p == nil {
			t.drop(to, m)
			continue
		}
		if p.unreachable.Load() {
			t.drop(to, m)
			continue
		}
		if m.GetType() == pb.MsgSnap {
			t.sendSnapshot(p, m)
			continue
		}
		select {
		case p.queue <- m:
		default:
			t.drop(to, m)
		}
	}
}

// drop records a message that will not be sent, for the reporter.
func (t *TCP) drop(to uint64, m *pb.Message) {
	t.reports.add(to, m.GetType() == pb.MsgSnap)
}

// SetPeer adds peer id at addr, or moves it there: a peer whose address
// changes gets a new stream (and queue). Setting this member's own id, or
// a bad address, is logged and ignored.
func (t *TCP) SetPeer(id uint64, addr string) {
	if id == 0 || id == t.cfg.ID {
		t.log.Warn("transport: SetPeer ignored: not a peer id", "peer", id)
		return
	}
	if err := checkTCPAddr(addr); err != nil {
		t.log.Warn("transport: SetPeer ignored", "peer", id, "err", err)
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	if p := t.peers[id]; p != nil {
		if p.addr == addr {
			return
		}
		p.stop()
	}
	t.addPeerLocked(id, addr)
}

// RemovePeer drops peer id's stream and queue; messages to it are dropped
// from then on.
func (t *TCP) RemovePeer(id uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if p := t.peers[id]; p != nil {
		p.stop()
		delete(t.peers, id)
	}
}

// Close closes the listener and every stream, and waits for every
// goroutine the transport started. It may be called more than once; it
// returns the listener's close error the first time.
func (t *TCP) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		t.wg.Wait()
		return nil
	}
	t.closed = true
	t.cancel()
	err := t.ln.Close()
	for id, p := range t.peers {
		p.stop()
		delete(t.peers, id)
	}
	for c := range t.conns {
		c.Close()
	}
	t.mu.Unlock()
	t.wg.Wait()
	if err != nil {
		return fmt.Errorf("transport: close listener: %w", err)
	}
	return nil
}

// addPeerLocked starts the writer of a new peer. t.mu must be held.
func (t *TCP) addPeerLocked(id uint64, addr string) {
	ctx, cancel := context.WithCancel(t.ctx)
	p := &tcpPeer{
		tcpLink: tcpLink{id: id, addr: addr, kind: streamRaft, ctx: ctx, cancel: cancel},
		queue:   make(chan *pb.Message, t.cfg.QueueMessages),
		msgs:    t.startMessageLinkLocked(id, addr),
	}
	t.peers[id] = p
	t.wg.Add(1)
	go t.writeLoop(p)
}

// tcpLink is one outbound stream to a peer, of one kind, as its writer
// and stop share it.
type tcpLink struct {
	id   uint64
	addr string // fixed: a new address makes a new peer
	kind byte   // the handshake's stream kind
	// unreachable is set after a failed dial and cleared by a handshake
	// that succeeds; while set, the sender drops instead of queueing.
	unreachable atomic.Bool

	ctx    context.Context // ends when the link is stopped
	cancel context.CancelFunc

	mu   sync.Mutex
	conn net.Conn // the current stream, closed by stop
}

// tcpPeer is a peer's raft stream, with its queue, and its member-message
// stream.
type tcpPeer struct {
	tcpLink
	queue chan *pb.Message
	msgs  *tcpMessageLink
}

// stop ends the peer's writers.
func (p *tcpPeer) stop() {
	p.tcpLink.stop()
	p.msgs.stop()
}

// stop ends the link's writer: it cancels its ctx and closes its stream,
// which unblocks a write in progress.
func (l *tcpLink) stop() {
	l.cancel()
	l.mu.Lock()
	if l.conn != nil {
		l.conn.Close()
	}
	l.mu.Unlock()
}

// setConn records c as the current stream, or closes it and reports false
// if the link was stopped meanwhile.
func (l *tcpLink) setConn(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ctx.Err() != nil {
		return false
	}
	l.conn = c
	return true
}

func (l *tcpLink) clearConn() {
	l.mu.Lock()
	l.conn = nil
	l.mu.Unlock()
}

// writeLoop dials p, sends its queue, and redials until p is stopped.
func (t *TCP) writeLoop(p *tcpPeer) {
	defer t.wg.Done()
	t.redialLoop(&p.tcpLink,
		func(conn net.Conn) error { return t.stream(p, conn) },
		func() { t.dropQueue(p) },
		func() { t.reports.add(p.id, false) })
}

// redialLoop dials the link p, runs stream on each stream opened, and
// redials with backoff until p is stopped. discard empties p's queue
// (after a failed dial, and at the end); lost tells the sender that
// messages may have been lost (after a failed dial or a stream that
// ended).
func (t *TCP) redialLoop(p *tcpLink, stream func(net.Conn) error, discard, lost func()) {
	log := t.log.With("peer", p.id, "addr", p.addr, "stream", streamName(p.kind))
	backoff := tcpMinBackoff
	lastErr := ""
	for p.ctx.Err() == nil {
		conn, err := t.dial(p)
		if err != nil {
			if p.ctx.Err() != nil {
				break
			}
			// Log a failure at warn when it differs from the last one, so
			// that a peer that stays down does not fill the log.
			if msg := err.Error(); msg != lastErr {
				log.Warn("transport: cannot open stream to peer", "err", err)
				lastErr = msg
			} else {
				log.Debug("transport: cannot open stream to peer", "err", err)
			}
			p.unreachable.Store(true)
			discard()
			lost()
			if !sleepCtx(p.ctx, backoffJitter(backoff)) {
				break
			}
			backoff = min(backoff*2, t.cfg.MaxBackoff)
			continue
		}
		if lastErr != "" {
			log.Info("transport: stream to peer open")
			lastErr = ""
		} else {
			log.Debug("transport: stream to peer open")
		}
		p.unreachable.Store(false)
		opened := time.Now()
		err = stream(conn)
		conn.Close()
		p.clearConn()
		if p.ctx.Err() != nil {
			break
		}
		log.Warn("transport: stream to peer closed", "err", err)
		lost()
		// The backoff starts over only after a stream that lasted: a peer
		// that accepts and then drops every stream (another member
		// dialling it with our id, say) is redialled ever more slowly.
		if time.Since(opened) >= t.cfg.MaxBackoff {
			backoff = tcpMinBackoff
		}
		if !sleepCtx(p.ctx, backoffJitter(backoff)) {
			break
		}
		backoff = min(backoff*2, t.cfg.MaxBackoff)
	}
	discard()
}

// dial connects to p and runs the dialer's side of the handshake.
func (t *TCP) dial(p *tcpLink) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(p.ctx, t.cfg.DialTimeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	if !p.setConn(conn) {
		conn.Close()
		return nil, context.Canceled
	}
	deadline, _ := ctx.Deadline()
	if err := conn.SetDeadline(deadline); err != nil {
		return nil, t.failDial(p, conn, fmt.Errorf("handshake: %w", err))
	}
	hdr := appendHandshake(nil, p.kind, t.cfg.ClusterID, t.cfg.ID, p.id)
	if _, err := conn.Write(hdr); err != nil {
		return nil, t.failDial(p, conn, fmt.Errorf("handshake: write: %w", err))
	}
	var status [1]byte
	if _, err := io.ReadFull(conn, status[:]); err != nil {
		return nil, t.failDial(p, conn, fmt.Errorf("handshake: read status: %w", err))
	}
	if status[0] != statusOK {
		return nil, t.failDial(p, conn, fmt.Errorf("handshake: refused by peer: %s", statusText(status[0])))
	}
	if err := conn.SetDeadline(time.Time{}); err != nil {
		return nil, t.failDial(p, conn, fmt.Errorf("handshake: %w", err))
	}
	return conn, nil
}

func (t *TCP) failDial(p *tcpLink, conn net.Conn, err error) error {
	conn.Close()
	p.clearConn()
	return err
}

// stream writes p's queue to conn until a write fails, the peer closes
// the stream, or p is stopped. Frames are buffered and flushed whenever
// the queue is momentarily empty, so a busy queue goes out in large
// writes.
func (t *TCP) stream(p *tcpPeer, conn net.Conn) error {
	remoteClosed := t.watchRemoteClose(conn)
	defer func() {
		conn.Close()
		<-remoteClosed
	}()

	bw := bufio.NewWriterSize(conn, tcpWriteBufferBytes)
	var frame []byte
	// snapBuffered says a MsgSnap went into bw since the last flush that
	// succeeded: if the stream then fails, raft must hear that it failed.
	snapBuffered := false
	var deadlineSet time.Time
	// extendDeadline moves the write deadline only once per eighth of the
	// timeout: a deadline per frame would cost a timer reset per frame.
	extendDeadline := func() error {
		now := time.Now()
		if now.Sub(deadlineSet) < t.cfg.WriteTimeout/8 {
			return nil
		}
		deadlineSet = now
		return conn.SetWriteDeadline(now.Add(t.cfg.WriteTimeout))
	}
	fail := func(err error) error {
		if snapBuffered {
			t.reports.add(p.id, true)
		}
		return err
	}
	for {
		var m *pb.Message
		select {
		case m = <-p.queue:
		default:
			if bw.Buffered() > 0 {
				if err := extendDeadline(); err != nil {
					return fail(fmt.Errorf("set write deadline: %w", err))
				}
				if err := bw.Flush(); err != nil {
					return fail(fmt.Errorf("write: %w", err))
				}
				snapBuffered = false
			}
			select {
			case m = <-p.queue:
			case <-remoteClosed:
				return fail(errors.New("closed by peer"))
			case <-p.ctx.Done():
				return fail(p.ctx.Err())
			}
		}
		isSnap := m.GetType() == pb.MsgSnap
		size := proto.Size(m)
		if size > t.cfg.MaxFrameBytes {
			t.log.Error("transport: message larger than MaxFrameBytes dropped",
				"peer", p.id, "type", m.GetType().String(), "bytes", size, "max", t.cfg.MaxFrameBytes)
			t.reports.add(p.id, isSnap)
			continue
		}
		frame = binary.AppendUvarint(frame[:0], uint64(size))
		var err error
		frame, err = proto.MarshalOptions{UseCachedSize: true}.MarshalAppend(frame, m)
		if err != nil {
			// raft built the message: failing to encode it is a bug.
			panic(fmt.Sprintf("transport: encode %s to %d: %v", m.GetType(), p.id, err))
		}
		if isSnap {
			snapBuffered = true
		}
		if err := extendDeadline(); err != nil {
			return fail(fmt.Errorf("set write deadline: %w", err))
		}
		if _, err := bw.Write(frame); err != nil {
			return fail(fmt.Errorf("write: %w", err))
		}
	}
}

// watchRemoteClose returns a channel closed when the peer closes conn (or
// conn is closed here). The acceptor never writes after the handshake: a
// read returns only when the stream is closed, which a writer may not
// otherwise notice until its next write. The caller closes conn and then
// waits for the channel.
func (t *TCP) watchRemoteClose(conn net.Conn) <-chan struct{} {
	remoteClosed := make(chan struct{})
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		defer close(remoteClosed)
		var b [1]byte
		conn.Read(b[:])
	}()
	return remoteClosed
}

// dropQueue empties p's queue into the reports: the messages in it will
// not be sent.
func (t *TCP) dropQueue(p *tcpPeer) {
	for {
		select {
		case m := <-p.queue:
			t.reports.add(p.id, m.GetType() == pb.MsgSnap)
		default:
			return
		}
	}
}

// acceptLoop accepts inbound streams until the listener is closed.
func (t *TCP) acceptLoop(r Raft) {
	defer t.wg.Done()
	backoff := tcpMinBackoff
	for {
		conn, err := t.ln.Accept()
		if err != nil {
			if t.ctx.Err() != nil {
				return
			}
			// A temporary failure (out of file descriptors, say): back off
			// rather than spin.
			t.log.Warn("transport: accept", "err", err)
			if !sleepCtx(t.ctx, backoff) {
				return
			}
			backoff = min(backoff*2, t.cfg.MaxBackoff)
			continue
		}
		backoff = tcpMinBackoff
		t.mu.Lock()
		if t.closed {
			t.mu.Unlock()
			conn.Close()
			return
		}
		t.conns[conn] = struct{}{}
		t.wg.Add(1)
		t.mu.Unlock()
		go t.serve(r, conn)
	}
}

// serve runs the acceptor's side of the handshake on conn, then delivers
// its frames to r until the stream ends.
func (t *TCP) serve(r Raft, conn net.Conn) {
	defer t.wg.Done()
	log := t.log.With("remote", conn.RemoteAddr().String())
	defer func() {
		conn.Close()
		t.mu.Lock()
		delete(t.conns, conn)
		t.mu.Unlock()
	}()
	from, kind, err := t.accept(conn)
	if err != nil {
		log.Warn("transport: inbound stream refused", "err", err)
		return
	}
	log = log.With("peer", from, "stream", streamName(kind))
	if kind == streamSnapshot {
		if err := t.serveSnapshot(r, conn, from); err != nil && t.ctx.Err() == nil {
			log.Warn("transport: inbound snapshot failed", "err", err)
		}
		return
	}

	// The newest stream of a kind from a peer replaces an older one: the
	// peer redialled, so the older one is dead or about to be. The stream
	// is registered before the dialer hears ok, so that of two streams the
	// one answered last is the one kept.
	key := inboundKey{from, kind}
	cur := &inboundStream{conn: conn, done: make(chan struct{})}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	old := t.inbound[key]
	if old != nil {
		old.conn.Close()
	}
	t.inbound[key] = cur
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		if t.inbound[key] == cur {
			delete(t.inbound, key)
		}
		t.mu.Unlock()
		close(cur.done)
	}()
	if _, err := conn.Write([]byte{statusOK}); err != nil {
		log.Warn("transport: inbound stream: handshake: write status", "err", err)
		return
	}
	if err := conn.SetDeadline(time.Time{}); err != nil {
		log.Warn("transport: inbound stream: handshake", "err", err)
		return
	}

	log.Debug("transport: inbound stream open")
	if kind == streamMessages {
		err = t.readMessages(conn, from, old)
	} else {
		err = t.read(r, conn, from)
	}
	switch {
	case t.ctx.Err() != nil:
	case errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed):
		log.Debug("transport: inbound stream closed", "err", err)
	default:
		log.Warn("transport: inbound stream closed", "err", err)
	}
}

// accept reads and checks the handshake header on conn. It returns the
// dialer's id and the stream kind, for the caller to answer statusOK, or
// answers the refusal and returns why.
func (t *TCP) accept(conn net.Conn) (uint64, byte, error) {
	if err := conn.SetDeadline(time.Now().Add(t.cfg.DialTimeout)); err != nil {
		return 0, 0, fmt.Errorf("handshake: %w", err)
	}
	var hdr [handshakeBytes]byte
	if _, err := io.ReadFull(conn, hdr[:]); err != nil {
		return 0, 0, fmt.Errorf("handshake: read: %w", err)
	}
	kind, cluster, from, to := parseHandshake(hdr[:])
	var status byte
	var reason error
	switch {
	case string(hdr[:4]) != handshakeMagic || hdr[4] != handshakeVersion:
		status, reason = statusBadMagic, fmt.Errorf("bad magic or version % x", hdr[:5])
	case kind != streamRaft && kind != streamMessages && kind != streamSnapshot:
		status, reason = statusBadKind, fmt.Errorf("unsupported stream kind %d", kind)
	case cluster != t.cfg.ClusterID:
		status, reason = statusBadCluster, fmt.Errorf("cluster id %#x, want %#x", cluster, t.cfg.ClusterID)
	case to != t.cfg.ID:
		status, reason = statusBadTo, fmt.Errorf("stream addressed to member %d, this is %d", to, t.cfg.ID)
	case from == 0 || from == t.cfg.ID:
		status, reason = statusBadFrom, fmt.Errorf("invalid sender id %d", from)
	}
	if reason != nil {
		// The dialer may be gone already; the refusal is logged anyway.
		conn.Write([]byte{status})
		return 0, 0, fmt.Errorf("handshake from %d: %w", from, reason)
	}
	return from, kind, nil
}

// read delivers the frames of an inbound stream from peer from to r.
func (t *TCP) read(r Raft, conn net.Conn, from uint64) error {
	br := bufio.NewReaderSize(conn, tcpReadBufferBytes)
	var buf []byte
	stepFailing := false
	for {
		var err error
		buf, err = readFrame(br, buf, t.cfg.MaxFrameBytes, "MaxFrameBytes")
		if err != nil {
			return err
		}
		// Unmarshal copies what it keeps, so buf can be reused.
		m := new(pb.Message)
		if err := proto.Unmarshal(buf, m); err != nil {
			return fmt.Errorf("decode frame: %w", err)
		}
		if m.GetTo() != t.cfg.ID {
			return fmt.Errorf("message %s addressed to %d on a stream to %d", m.GetType(), m.GetTo(), t.cfg.ID)
		}
		if m.GetFrom() != from {
			return fmt.Errorf("message %s from %d on a stream from %d", m.GetType(), m.GetFrom(), from)
		}
		if err := r.Step(t.ctx, m); err != nil {
			if t.ctx.Err() != nil {
				return t.ctx.Err()
			}
			// Logged once per run of failures: a stopped node fails
			// every Step.
			if !stepFailing {
				t.log.Warn("transport: raft refused a message", "peer", from, "type", m.GetType().String(), "err", err)
				stepFailing = true
			}
			continue
		}
		stepFailing = false
	}
}

// readFrame reads one frame (a uvarint length, then that many bytes) into
// buf, grown if needed, and returns it. A length over maxBytes is an error
// that names the limit limitName.
func readFrame(br *bufio.Reader, buf []byte, maxBytes int, limitName string) ([]byte, error) {
	n, err := binary.ReadUvarint(br)
	if err != nil {
		return nil, fmt.Errorf("read frame length: %w", err)
	}
	if n > uint64(maxBytes) {
		return nil, fmt.Errorf("frame of %d bytes exceeds %s %d", n, limitName, maxBytes)
	}
	if uint64(cap(buf)) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(br, buf); err != nil {
		return nil, fmt.Errorf("read frame: %w", err)
	}
	return buf, nil
}

// appendHandshake appends the stream header (see handshakeBytes).
func appendHandshake(b []byte, kind byte, cluster, from, to uint64) []byte {
	b = append(b, handshakeMagic...)
	b = append(b, handshakeVersion, kind, 0, 0)
	b = binary.BigEndian.AppendUint64(b, cluster)
	b = binary.BigEndian.AppendUint64(b, from)
	b = binary.BigEndian.AppendUint64(b, to)
	return b
}

func parseHandshake(b []byte) (kind byte, cluster, from, to uint64) {
	return b[5], binary.BigEndian.Uint64(b[8:]), binary.BigEndian.Uint64(b[16:]), binary.BigEndian.Uint64(b[24:])
}

// tcpReports holds the reports to Raft that Send and the writers owe, one per
// peer, until the reporter goroutine makes them: a burst of drops to one
// peer becomes one report.
type tcpReports struct {
	mu      sync.Mutex
	pending map[uint64]bool // peer id -> a MsgSnap was dropped too
	notify  chan struct{}   // capacity 1: the reporter has work
}

func (rs *tcpReports) init() {
	rs.pending = make(map[uint64]bool)
	rs.notify = make(chan struct{}, 1)
}

func (rs *tcpReports) add(id uint64, snap bool) {
	if id == 0 {
		return
	}
	rs.mu.Lock()
	if _, ok := rs.pending[id]; ok || len(rs.pending) < tcpMaxPendingReports {
		rs.pending[id] = rs.pending[id] || snap
	}
	rs.mu.Unlock()
	select {
	case rs.notify <- struct{}{}:
	default:
	}
}

func (rs *tcpReports) take() map[uint64]bool {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if len(rs.pending) == 0 {
		return nil
	}
	p := rs.pending
	rs.pending = make(map[uint64]bool)
	return p
}

// reportLoop makes the pending reports to r until Close.
func (t *TCP) reportLoop(r Raft) {
	defer t.wg.Done()
	for {
		select {
		case <-t.reports.notify:
		case <-t.ctx.Done():
			return
		}
		for id, snap := range t.reports.take() {
			if t.ctx.Err() != nil {
				return
			}
			t.log.Debug("transport: reporting peer unreachable", "peer", id, "snapshot_failed", snap)
			r.ReportUnreachable(id)
			if snap {
				r.ReportSnapshot(id, raft.SnapshotFailure)
			}
		}
	}
}

// backoffJitter returns d less up to a quarter of it, at random, so that members
// that lost each other at once do not redial in step.
func backoffJitter(d time.Duration) time.Duration {
	if d <= 0 {
		return d
	}
	return d - rand.N(d/4+1)
}

// sleepCtx waits for d or until ctx ends; it reports whether d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-ctx.Done():
		return false
	}
}
