package raftnode

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/cockroachdb/pebble/v2/vfs"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"

	"github.com/arbor-coord/arbor/server/raftlog"
)

// snapshotDataFormat is the first byte of the Data of every raft snapshot
// this package creates; the member id that created it follows (8 bytes,
// big-endian), then the contexts of the members of the snapshot's
// ConfState (raftlog.AppendContexts), so that a member caught up by the
// snapshot knows them. The state itself is never in Data: it is streamed
// beside the MsgSnap (server/transport). Format 1, without the contexts,
// is still accepted.
const (
	snapshotDataFormat   = 2
	snapshotDataFormatV1 = 1
)

// snapshotFileSuffix names the files of received snapshot states in
// Config.SnapshotDir: %016x (the index) + suffix; a file being written has
// snapshotTempSuffix after that.
const (
	snapshotFileSuffix = ".snap"
	snapshotTempSuffix = ".tmp"
)

// errNoCheckpoint is OpenSnapshot's error when the state asked for is no
// longer (or not yet) held.
var errNoCheckpoint = errors.New("raftnode: no checkpoint held at that index")

func snapshotData(id uint64, contexts map[uint64][]byte) []byte {
	b := binary.BigEndian.AppendUint64([]byte{snapshotDataFormat}, id)
	return raftlog.AppendContexts(b, contexts)
}

// parseSnapshotData decodes a snapshot's Data. The contexts are nil in
// format 1.
func parseSnapshotData(data []byte) (from uint64, contexts map[uint64][]byte, err error) {
	switch {
	case len(data) == 9 && data[0] == snapshotDataFormatV1:
		return binary.BigEndian.Uint64(data[1:]), nil, nil
	case len(data) > 9 && data[0] == snapshotDataFormat:
		contexts, err := raftlog.DecodeContexts(data[9:])
		if err != nil {
			return 0, nil, err
		}
		return binary.BigEndian.Uint64(data[1:]), contexts, nil
	}
	return 0, nil, errors.New("unknown descriptor")
}

// snapshotContexts returns the contexts to record with snap, which raft
// is installing: those its Data carries, or for a format-1 snapshot the
// ones known now (members of the snapshot's ConfState keep theirs).
func (n *Node) snapshotContexts(snap *pb.Snapshot) (map[uint64][]byte, error) {
	_, contexts, err := parseSnapshotData(snap.GetData())
	if err != nil {
		return nil, fmt.Errorf("raftnode: the snapshot at index %d: %w", snap.GetMetadata().GetIndex(), err)
	}
	if contexts == nil {
		contexts = n.membership.Contexts
	}
	return contexts, nil
}

// heldCheckpoint is a Checkpoint with the readers streaming it. It is
// closed once it is retired (replaced by a newer one, or the Node stopped)
// and its last reader is closed.
type heldCheckpoint struct {
	cp Checkpoint

	mu      sync.Mutex
	readers map[*checkpointReader]struct{}
	retired bool
	closed  bool
}

// checkpointReader streams a heldCheckpoint through a pipe from a
// goroutine that runs Export; Close stops it and waits for it.
type checkpointReader struct {
	pr   *io.PipeReader
	done chan struct{}
}

func (r *checkpointReader) Read(p []byte) (int, error) { return r.pr.Read(p) }

func (r *checkpointReader) Close() error {
	r.pr.Close()
	<-r.done
	return nil
}

// open starts a reader of h, or returns nil if h is retired.
func (h *heldCheckpoint) open(n *Node) io.ReadCloser {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.retired {
		return nil
	}
	pr, pw := io.Pipe()
	r := &checkpointReader{pr: pr, done: make(chan struct{})}
	if h.readers == nil {
		h.readers = make(map[*checkpointReader]struct{})
	}
	h.readers[r] = struct{}{}
	go func() {
		defer close(r.done)
		err := h.cp.Export(pw)
		pw.CloseWithError(err) // nil: the reader sees io.EOF
		h.mu.Lock()
		delete(h.readers, r)
		h.mu.Unlock()
		h.maybeClose(n)
	}()
	return r
}

// retire marks h replaced; it closes once no reader is left. With abort,
// it also cuts the readers still open and waits for their exports.
func (h *heldCheckpoint) retire(n *Node, abort bool) {
	h.mu.Lock()
	h.retired = true
	var readers []*checkpointReader
	if abort {
		for r := range h.readers {
			readers = append(readers, r)
		}
	}
	h.mu.Unlock()
	for _, r := range readers {
		r.pr.CloseWithError(ErrStopped)
		<-r.done
	}
	h.maybeClose(n)
}

func (h *heldCheckpoint) maybeClose(n *Node) {
	h.mu.Lock()
	if !h.retired || h.closed || len(h.readers) > 0 {
		h.mu.Unlock()
		return
	}
	h.closed = true
	h.mu.Unlock()
	if err := h.cp.Close(); err != nil {
		n.logger.Warn("closing a checkpoint", "index", h.cp.Index(), "err", err)
	}
}

// hold makes cp the checkpoint that OpenSnapshot serves, retiring the one
// it replaces. A nil cp only retires (the Node is stopping), cutting the
// open readers.
func (n *Node) hold(cp Checkpoint) {
	var h *heldCheckpoint
	if cp != nil {
		h = &heldCheckpoint{cp: cp}
	}
	n.cpMu.Lock()
	old := n.held
	n.held = h
	n.cpMu.Unlock()
	if old != nil {
		old.retire(n, cp == nil)
	}
}

// OpenSnapshot returns the state of this member's raft snapshot at index,
// in the Applier's stream format, for the transport to send beside a
// MsgSnap. It fails if that snapshot's checkpoint is no longer held (a
// newer snapshot replaced it) or the Node is stopped. Close the reader
// when done, also after reading it partly; closing the transport closes
// them all. It implements transport.Raft.
func (n *Node) OpenSnapshot(index uint64) (io.ReadCloser, error) {
	n.cpMu.Lock()
	h := n.held
	n.cpMu.Unlock()
	if h == nil || h.cp.Index() != index {
		return nil, fmt.Errorf("%w: %d", errNoCheckpoint, index)
	}
	r := h.open(n)
	if r == nil {
		return nil, fmt.Errorf("%w: %d", errNoCheckpoint, index)
	}
	return r, nil
}

// ReceiveSnapshot takes a MsgSnap from a peer and the state streamed
// beside it: it writes the state to a file in Config.SnapshotDir, reading
// r to its end, syncs it, and only then steps m, so that the state is
// durable before raft can persist the snapshot's metadata; the Ready loop
// restores the Applier from the file when raft installs the snapshot. It
// implements transport.Raft.
func (n *Node) ReceiveSnapshot(ctx context.Context, m *pb.Message, r io.Reader) error {
	if m.GetType() != pb.MsgSnap {
		return fmt.Errorf("raftnode: ReceiveSnapshot of a %s", m.GetType())
	}
	if n.cfg.SnapshotDir == "" {
		return errors.New("raftnode: cannot receive a snapshot: Config.SnapshotDir is not set")
	}
	md := m.GetSnapshot().GetMetadata()
	index := md.GetIndex()
	if _, _, err := parseSnapshotData(m.GetSnapshot().GetData()); err != nil {
		return fmt.Errorf("raftnode: snapshot at index %d from %d: %w: % x", index, m.GetFrom(), err, m.GetSnapshot().GetData())
	}
	if index == 0 {
		return fmt.Errorf("raftnode: snapshot at index 0 from %d", m.GetFrom())
	}
	if n.stopped() {
		return ErrStopped
	}
	// One at a time: two leaders may send the same index.
	n.recvMu.Lock()
	defer n.recvMu.Unlock()
	if index <= n.Status().Applied {
		// Stale: raft will ignore it, but answers the leader.
		if _, err := io.Copy(io.Discard, r); err != nil {
			return err
		}
		return n.Step(ctx, m)
	}
	size, err := n.writeSnapshotFile(index, r)
	if err != nil {
		return fmt.Errorf("raftnode: receiving the snapshot at index %d from %d: %w", index, m.GetFrom(), err)
	}
	n.logger.Info("snapshot received", "index", index, "term", md.GetTerm(), "from", m.GetFrom(), "bytes", size)
	return n.Step(ctx, m)
}

func (n *Node) snapshotPath(index uint64) string {
	return n.cfg.SnapshotFS.PathJoin(n.cfg.SnapshotDir, fmt.Sprintf("%016x%s", index, snapshotFileSuffix))
}

// writeSnapshotFile writes r durably to the file of the snapshot at index:
// a temporary file, synced, renamed, and the directory synced.
func (n *Node) writeSnapshotFile(index uint64, r io.Reader) (int64, error) {
	fs, dir := n.cfg.SnapshotFS, n.cfg.SnapshotDir
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	path := n.snapshotPath(index)
	tmp := path + snapshotTempSuffix
	f, err := fs.Create(tmp, vfs.WriteCategoryUnspecified)
	if err != nil {
		return 0, err
	}
	size, err := io.CopyBuffer(f, r, make([]byte, 256<<10))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = fs.Rename(tmp, path)
	}
	if err == nil {
		err = syncDir(fs, dir)
	}
	if err != nil {
		fs.Remove(tmp)
		return size, err
	}
	return size, nil
}

func syncDir(fs vfs.FS, dir string) error {
	d, err := fs.OpenDir(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	return errors.Join(err, d.Close())
}

// restoreFromFile replaces the Applier's state with the received state of
// the snapshot at index.
func restoreFromFile(ctx context.Context, cfg Config, index uint64) error {
	if cfg.SnapshotDir == "" {
		return fmt.Errorf("raftnode: the state of the snapshot at index %d cannot have been received: Config.SnapshotDir is not set", index)
	}
	path := cfg.SnapshotFS.PathJoin(cfg.SnapshotDir, fmt.Sprintf("%016x%s", index, snapshotFileSuffix))
	f, err := cfg.SnapshotFS.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("raftnode: the raft log holds the snapshot at index %d but its state is not in %s (deleted, or the directory changed): this member cannot recover; wipe its store and let it catch up as a new member", index, path)
	}
	if err != nil {
		return fmt.Errorf("raftnode: opening the state of the snapshot at index %d: %w", index, err)
	}
	defer f.Close()
	if err := cfg.Applier.Restore(ctx, index, io.NewSectionReader(f, 0, 1<<62)); err != nil {
		return fmt.Errorf("raftnode: restoring the snapshot at index %d: %w", index, err)
	}
	return nil
}

// removeSnapshotFiles deletes the received states of snapshots at or below
// index (restored or superseded) and leftover temporary files.
func removeSnapshotFiles(cfg Config, index uint64) error {
	if cfg.SnapshotDir == "" {
		return nil
	}
	names, err := cfg.SnapshotFS.List(cfg.SnapshotDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	slices.Sort(names)
	var errs []error
	for _, name := range names {
		stale := strings.HasSuffix(name, snapshotTempSuffix)
		if base, ok := strings.CutSuffix(name, snapshotFileSuffix); ok {
			i, err := strconv.ParseUint(base, 16, 64)
			stale = err == nil && i <= index
		}
		if stale {
			errs = append(errs, cfg.SnapshotFS.Remove(cfg.SnapshotFS.PathJoin(cfg.SnapshotDir, name)))
		}
	}
	return errors.Join(errs...)
}

// installSnapshot restores the Applier from the state received for snap,
// which raft handed in a Ready and the Log has persisted, and holds a
// checkpoint of it so this member can send it on.
func (n *Node) installSnapshot(snap *pb.Snapshot) error {
	index := snap.GetMetadata().GetIndex()
	if err := restoreFromFile(n.ctx, n.cfg, index); err != nil {
		return err
	}
	n.applied, n.snapIndex, n.snapBytes = index, index, 0
	// Raft took the snapshot's configuration as it restored it, and the
	// Log recorded it with its contexts.
	m := n.setConfState(snap.GetMetadata().GetConfState(), n.cfg.Log.Contexts())
	n.membershipChanged(m)
	if err := removeSnapshotFiles(n.cfg, index); err != nil {
		n.logger.Warn("removing received snapshot files", "err", err)
	}
	n.logger.Info("snapshot installed", "index", index, "term", snap.GetMetadata().GetTerm())
	return n.checkpoint()
}

// checkpoint holds a checkpoint of the Applier's state at n.applied, which
// must be the index of the Log's latest snapshot.
func (n *Node) checkpoint() error {
	cp, err := n.cfg.Applier.Checkpoint()
	if err != nil {
		return fmt.Errorf("raftnode: checkpointing the state at %d: %w", n.applied, err)
	}
	if cp.Index() != n.applied {
		cp.Close()
		return fmt.Errorf("raftnode: the Applier's checkpoint is at index %d, not at the applied index %d", cp.Index(), n.applied)
	}
	n.hold(cp)
	return nil
}

// maybeSnapshot creates a raft snapshot at the applied index, with a
// checkpoint of the state, every SnapshotEntries applied entries or
// SnapshotBytes of applied entry data, whichever comes first (and
// once after a restart, so a snapshot's state is held), and has the
// Applier flush the state; once a flush is done, it compacts the log to
// CatchUpEntries behind the snapshot it followed. It runs on the Ready
// loop after apply.
func (n *Node) maybeSnapshot() error {
	if err := n.maybeCompact(); err != nil {
		return err
	}
	// A snapshot older than the last membership change would not name a
	// member added since, which raft refuses to restore from ("not in the
	// ConfState"): a member that joins after compaction would wait for
	// the next periodic snapshot. So a conf change makes one due.
	due := n.applied >= n.snapIndex+n.cfg.SnapshotEntries || n.snapBytes >= n.cfg.SnapshotBytes || n.lastConf.index > n.snapIndex
	if !due && !(n.noHeld() && n.snapIndex > 0 && n.applied > n.snapIndex) {
		return nil
	}
	if err := n.checkpoint(); err != nil {
		return err
	}
	_, cs, err := n.cfg.Log.InitialState()
	if err != nil {
		return fmt.Errorf("raftnode: reading the ConfState: %w", err)
	}
	if _, err := n.cfg.Log.CreateSnapshot(n.applied, cs, snapshotData(n.cfg.ID, n.membership.Contexts)); err != nil {
		return fmt.Errorf("raftnode: creating a snapshot at %d: %w", n.applied, err)
	}
	n.snapIndex, n.snapBytes = n.applied, 0
	n.logger.Debug("snapshot created", "index", n.applied)
	if n.flushDone == nil {
		done, err := n.cfg.Applier.Flush()
		if err != nil {
			return fmt.Errorf("raftnode: flushing the state at %d: %w", n.applied, err)
		}
		n.flushIndex, n.flushDone = n.applied, done
	}
	return n.maybeCompact()
}

// maybeCompact compacts the log to CatchUpEntries behind the snapshot
// whose state the Applier's Flush has made durable, once it has. The
// state up to that snapshot was applied (and perhaps flushed) without a
// sync; the entries dropped here are what would rebuild it after a crash
// (raftlog's contract, item 4). A flush still running leaves the log as
// it is.
func (n *Node) maybeCompact() error {
	if n.flushDone == nil {
		return nil
	}
	select {
	case <-n.flushDone:
	default:
		return nil
	}
	durable := n.flushIndex
	n.flushDone = nil
	first, err := n.cfg.Log.FirstIndex()
	if err != nil {
		return fmt.Errorf("raftnode: reading the raft log: %w", err)
	}
	compact := uint64(0)
	if durable > n.cfg.CatchUpEntries {
		compact = durable - n.cfg.CatchUpEntries
	}
	if compact > first-1 {
		if err := n.cfg.Log.Compact(compact); err != nil && !errors.Is(err, raft.ErrCompacted) {
			return fmt.Errorf("raftnode: compacting the log to %d: %w", compact, err)
		}
		n.logger.Debug("log compacted", "to", compact, "durable", durable)
	}
	return nil
}

func (n *Node) noHeld() bool {
	n.cpMu.Lock()
	defer n.cpMu.Unlock()
	return n.held == nil
}
