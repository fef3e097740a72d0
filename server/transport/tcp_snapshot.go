package transport

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Snapshot streams. A MsgSnap does not go on the peer's raft stream: it
// gets a connection of its own, of stream kind streamSnapshot, so that a
// large state does not hold up the raft messages behind it. After the
// handshake, the dialer writes
//
//	one frame, as on a raft stream: uvarint length + the MsgSnap
//	the state, in chunks: uvarint length (1 to snapshotMaxChunkBytes) + bytes
//	uvarint 0, the end of the state
//
// and the acceptor, once its Raft's ReceiveSnapshot has stored the state
// and stepped the message, answers one byte, snapshotAckOK, and closes the
// connection; on any failure it answers snapshotAckFailed or just closes.
// The dialer reports SnapshotFinish on snapshotAckOK and SnapshotFailure
// on anything else. Each chunk must be written (dialer) and read
// (acceptor) within WriteTimeout, so a stalled peer is detected however
// large the state is.
const (
	streamSnapshot byte = 2

	snapshotAckOK     byte = 0
	snapshotAckFailed byte = 1

	snapshotChunkBytes    = 256 << 10
	snapshotMaxChunkBytes = 4 << 20
	// snapshotAckTimeout bounds the wait for the acceptor's answer after
	// the last chunk: it syncs the state to disk and steps the message.
	snapshotAckTimeout = time.Minute
)

// tcpSnapshots tracks the peers with a snapshot in flight: one at a time
// per peer.
type tcpSnapshots struct {
	mu       sync.Mutex
	inflight map[uint64]bool
}

func (s *tcpSnapshots) begin(id uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight[id] {
		return false
	}
	if s.inflight == nil {
		s.inflight = make(map[uint64]bool)
	}
	s.inflight[id] = true
	return true
}

func (s *tcpSnapshots) end(id uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.inflight, id)
}

// sendSnapshot starts streaming the MsgSnap m and its state to p on a
// connection of its own, without blocking. A snapshot that cannot start
// (no Raft yet, one already in flight to p) is reported failed. t.mu is
// held, read-locked, and t is not closed.
func (t *TCP) sendSnapshot(p *tcpPeer, m *pb.Message) {
	r := t.raft
	if r == nil || !t.snaps.begin(p.id) {
		t.drop(p.id, m)
		return
	}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		defer t.snaps.end(p.id)
		index := m.GetSnapshot().GetMetadata().GetIndex()
		log := t.log.With("peer", p.id, "index", index)
		start := time.Now()
		n, err := t.streamSnapshot(r, p, m)
		if err != nil {
			log.Warn("transport: sending a snapshot failed", "err", err, "bytes", n)
			r.ReportSnapshot(p.id, raft.SnapshotFailure)
			return
		}
		log.Info("transport: snapshot sent", "bytes", n, "took", time.Since(start))
		r.ReportSnapshot(p.id, raft.SnapshotFinish)
	}()
}

// streamSnapshot dials p, sends m and the state of its snapshot, and waits
// for the acceptor's answer. It returns the bytes of state sent.
func (t *TCP) streamSnapshot(r Raft, p *tcpPeer, m *pb.Message) (int64, error) {
	size := proto.Size(m)
	if size > t.cfg.MaxFrameBytes {
		return 0, fmt.Errorf("MsgSnap of %d bytes exceeds MaxFrameBytes %d", size, t.cfg.MaxFrameBytes)
	}
	state, err := r.OpenSnapshot(m.GetSnapshot().GetMetadata().GetIndex())
	if err != nil {
		return 0, fmt.Errorf("open the snapshot's state: %w", err)
	}
	defer state.Close()
	conn, err := t.dialSnapshot(p)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	// Stopping the peer (or closing the transport) cuts the stream.
	stop := context.AfterFunc(p.ctx, func() { conn.Close() })
	defer stop()

	bw := bufio.NewWriterSize(conn, tcpWriteBufferBytes)
	write := func(b []byte) error {
		if err := conn.SetWriteDeadline(time.Now().Add(t.cfg.WriteTimeout)); err != nil {
			return err
		}
		_, err := bw.Write(b)
		return err
	}
	frame := binary.AppendUvarint(nil, uint64(size))
	frame, err = proto.MarshalOptions{UseCachedSize: true}.MarshalAppend(frame, m)
	if err != nil {
		panic(fmt.Sprintf("transport: encode MsgSnap to %d: %v", p.id, err))
	}
	if err := write(frame); err != nil {
		return 0, fmt.Errorf("write the message: %w", err)
	}
	var sent int64
	buf := make([]byte, binary.MaxVarintLen64+snapshotChunkBytes)
	for {
		n, rerr := state.Read(buf[binary.MaxVarintLen64:])
		if n > 0 {
			hdr := binary.AppendUvarint(buf[:0:binary.MaxVarintLen64], uint64(n))
			// Shift the header to sit right before the data.
			start := binary.MaxVarintLen64 - len(hdr)
			copy(buf[start:], hdr)
			if err := write(buf[start : binary.MaxVarintLen64+n]); err != nil {
				return sent, fmt.Errorf("write the state: %w", err)
			}
			sent += int64(n)
		}
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			return sent, fmt.Errorf("read the snapshot's state: %w", rerr)
		}
	}
	if err := write([]byte{0}); err != nil {
		return sent, fmt.Errorf("write the state: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return sent, fmt.Errorf("write the state: %w", err)
	}
	if err := conn.SetReadDeadline(time.Now().Add(snapshotAckTimeout)); err != nil {
		return sent, err
	}
	var ack [1]byte
	if _, err := io.ReadFull(conn, ack[:]); err != nil {
		return sent, fmt.Errorf("read the answer: %w", err)
	}
	if ack[0] != snapshotAckOK {
		return sent, errors.New("the peer refused the snapshot")
	}
	return sent, nil
}

// dialSnapshot connects to p and runs the dialer's side of the handshake
// for a snapshot stream.
func (t *TCP) dialSnapshot(p *tcpPeer) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(p.ctx, t.cfg.DialTimeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	deadline, _ := ctx.Deadline()
	fail := func(err error) (net.Conn, error) {
		conn.Close()
		return nil, fmt.Errorf("handshake: %w", err)
	}
	if err := conn.SetDeadline(deadline); err != nil {
		return fail(err)
	}
	if _, err := conn.Write(appendHandshake(nil, streamSnapshot, t.cfg.ClusterID, t.cfg.ID, p.id)); err != nil {
		return fail(err)
	}
	var status [1]byte
	if _, err := io.ReadFull(conn, status[:]); err != nil {
		return fail(err)
	}
	if status[0] != statusOK {
		return fail(fmt.Errorf("refused by peer: %s", statusText(status[0])))
	}
	if err := conn.SetDeadline(time.Time{}); err != nil {
		return fail(err)
	}
	return conn, nil
}

// serveSnapshot runs the acceptor's side of a snapshot stream from peer
// from, whose handshake was accepted: it answers statusOK, reads the
// MsgSnap and hands it with the state to r.ReceiveSnapshot, and answers
// how that ended.
func (t *TCP) serveSnapshot(r Raft, conn net.Conn, from uint64) error {
	if _, err := conn.Write([]byte{statusOK}); err != nil {
		return fmt.Errorf("handshake: write status: %w", err)
	}
	br := bufio.NewReaderSize(conn, tcpReadBufferBytes)
	if err := conn.SetReadDeadline(time.Now().Add(t.cfg.WriteTimeout)); err != nil {
		return err
	}
	n, err := binary.ReadUvarint(br)
	if err != nil {
		return fmt.Errorf("read frame length: %w", err)
	}
	if n > uint64(t.cfg.MaxFrameBytes) {
		return fmt.Errorf("frame of %d bytes exceeds MaxFrameBytes %d", n, t.cfg.MaxFrameBytes)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(br, buf); err != nil {
		return fmt.Errorf("read frame: %w", err)
	}
	m := new(pb.Message)
	if err := proto.Unmarshal(buf, m); err != nil {
		return fmt.Errorf("decode frame: %w", err)
	}
	switch {
	case m.GetType() != pb.MsgSnap:
		return fmt.Errorf("message %s on a snapshot stream", m.GetType())
	case m.GetTo() != t.cfg.ID:
		return fmt.Errorf("MsgSnap addressed to %d on a stream to %d", m.GetTo(), t.cfg.ID)
	case m.GetFrom() != from:
		return fmt.Errorf("MsgSnap from %d on a stream from %d", m.GetFrom(), from)
	}
	cr := &chunkReader{r: br, conn: conn, timeout: t.cfg.WriteTimeout}
	err = r.ReceiveSnapshot(t.ctx, m, cr)
	if err == nil && !cr.done {
		err = errors.New("the state was not read to its end")
	}
	ack := snapshotAckOK
	if err != nil {
		ack = snapshotAckFailed
	}
	if werr := conn.SetWriteDeadline(time.Now().Add(t.cfg.WriteTimeout)); werr == nil {
		conn.Write([]byte{ack})
	}
	if err != nil {
		return fmt.Errorf("receive the snapshot at index %d: %w", m.GetSnapshot().GetMetadata().GetIndex(), err)
	}
	t.log.Info("transport: snapshot received", "peer", from, "index", m.GetSnapshot().GetMetadata().GetIndex(), "bytes", cr.n)
	return nil
}

// chunkReader reads the chunked state of a snapshot stream, returning
// io.EOF at its end marker and io.ErrUnexpectedEOF if the stream ends
// before it. Each read waits at most timeout.
type chunkReader struct {
	r       *bufio.Reader
	conn    net.Conn
	timeout time.Duration
	left    uint64 // bytes left in the current chunk
	done    bool   // the end marker was read
	n       int64  // bytes of state read
	err     error  // sticky
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if c.done {
		return 0, io.EOF
	}
	if c.err != nil {
		return 0, c.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if err := c.conn.SetReadDeadline(time.Now().Add(c.timeout)); err != nil {
		c.err = err
		return 0, err
	}
	if c.left == 0 {
		n, err := binary.ReadUvarint(c.r)
		if err != nil {
			c.err = fmt.Errorf("read chunk length: %w", unexpected(err))
			return 0, c.err
		}
		if n == 0 {
			c.done = true
			return 0, io.EOF
		}
		if n > snapshotMaxChunkBytes {
			c.err = fmt.Errorf("chunk of %d bytes exceeds %d", n, snapshotMaxChunkBytes)
			return 0, c.err
		}
		c.left = n
	}
	if uint64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= uint64(n)
	c.n += int64(n)
	if err != nil {
		c.err = fmt.Errorf("read chunk: %w", unexpected(err))
		return n, c.err
	}
	return n, nil
}

// unexpected turns io.EOF into io.ErrUnexpectedEOF: inside a snapshot
// stream, only the end marker ends the state.
func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
