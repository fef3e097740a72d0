package wal

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// DefaultSegmentBytes is the largest size a segment is zero-filled to
// when Options.SegmentBytes is 0. With two spares and the segments the
// log still needs, a busy member keeps about four times this on disk
// (64 MiB segments made a member holding 1,000,000 nodes use 274 MB of
// disk instead of 75); rotating every 16 MiB costs a few syncs.
const DefaultSegmentBytes = 16 << 20

// firstSegmentBytes is the size of the first segment a WAL zero-fills;
// each one it fills after is twice the size of the one before, up to
// SegmentBytes, so that a log written little (a test's, a quiet member's)
// fills little.
const firstSegmentBytes = 1 << 20

// MaxRecordBytes bounds one record's payload. A header declaring more is
// not a record (it ends a segment, see Recovery in the package docs), so a
// damaged length cannot make Open allocate without bound.
const MaxRecordBytes = 256 << 20

// maxSpares is how many released segments are kept for reuse.
const maxSpares = 2

const (
	headerBytes        = 17
	kindRecord    byte = 1
	kindEnd       byte = 2
	segmentSuffix      = ".wal"
	sparePrefix        = "spare-"
	tmpSuffix          = ".tmp"
)

// ErrCorrupt is returned by Open when a segment is damaged somewhere other
// than at the tail a crash may tear, or a segment is missing.
var ErrCorrupt = errors.New("wal: corrupt")

// ErrNoSegment is returned by Append before the first Rotate.
var ErrNoSegment = errors.New("wal: no segment to append to (call Rotate first)")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Options configures Open.
type Options struct {
	// FS is the filesystem; nil means the operating system's. Tests pass
	// vfs.NewMem() or vfs.NewCrashableMem().
	FS vfs.FS
	// SegmentBytes is the largest size a new segment is zero-filled to;
	// 0 means DefaultSegmentBytes. Full reports true once a segment's
	// records fill its file. A record is never split: one larger than
	// the room left makes its segment grow.
	SegmentBytes int64
}

// Pos is where a record is: its segment and the offset of its header.
type Pos struct {
	Segment uint64
	Offset  int64
}

// WAL is an open log. See the package docs for the contract.
type WAL struct {
	fs           vfs.FS
	dir          string
	segmentBytes int64
	fillBytes    int64 // the size of the next segment to zero-fill

	segs []uint64 // live segments, ascending; the last is cur once Rotate ran

	cur      vfs.File // the segment appends go to; nil before the first Rotate
	curSeq   uint64
	capacity int64  // the size of cur's file when it became a segment
	size     int64  // bytes in cur, written or buffered
	written  int64  // bytes of cur written to the file
	synced   int64  // bytes of cur synced
	buf      []byte // records appended but not yet written

	// tailEnd is where the last segment Open found (without an end
	// record) stops being valid; the first Rotate closes it there.
	tailEnd  int64
	tailOpen bool
	readers  map[uint64]vfs.File

	// The spare files, and the one goroutine that zero-fills a new one.
	prepMu   sync.Mutex
	spares   []spare
	prepErr  error
	prepDone chan struct{} // closed when the running preparation ends; nil if none
	nextTmp  uint64
}

// spare is a file waiting to become a segment.
type spare struct {
	name string
	size int64
}

// Open opens the log in dir, creating dir if needed, and calls replay
// with every record in order: pos is where it is, and rec is valid only
// during the call. It stops at replay's first error and returns it.
// Before the first Append, call Rotate.
func Open(dir string, opts Options, replay func(pos Pos, rec []byte) error) (*WAL, error) {
	w := &WAL{fs: opts.FS, dir: dir, segmentBytes: opts.SegmentBytes, readers: map[uint64]vfs.File{}}
	if w.fs == nil {
		w.fs = vfs.Default
	}
	if w.segmentBytes <= 0 {
		w.segmentBytes = DefaultSegmentBytes
	}
	w.fillBytes = min(firstSegmentBytes, w.segmentBytes)
	if err := w.fs.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("wal: create %s: %w", dir, err)
	}
	// The directory may be new: make its entry in its parent durable.
	if err := SyncDir(w.fs, w.fs.PathDir(dir)); err != nil {
		return nil, err
	}
	names, err := w.fs.List(dir)
	if err != nil {
		return nil, fmt.Errorf("wal: list %s: %w", dir, err)
	}
	slices.Sort(names)
	for _, name := range names {
		switch {
		case strings.HasSuffix(name, tmpSuffix):
			// A spare whose zero-filling a crash cut short.
			if err := w.fs.Remove(w.fs.PathJoin(dir, name)); err != nil {
				return nil, fmt.Errorf("wal: remove %s: %w", name, err)
			}
		case strings.HasPrefix(name, sparePrefix):
			path := w.fs.PathJoin(dir, name)
			st, err := w.fs.Stat(path)
			if err != nil {
				return nil, fmt.Errorf("wal: %w", err)
			}
			w.spares = append(w.spares, spare{path, st.Size()})
			if n, err := strconv.ParseUint(strings.TrimPrefix(name, sparePrefix), 10, 64); err == nil {
				w.nextTmp = max(w.nextTmp, n+1)
			}
		case strings.HasSuffix(name, segmentSuffix):
			seq, err := strconv.ParseUint(strings.TrimSuffix(name, segmentSuffix), 16, 64)
			if err != nil || seq == 0 || name != segmentName(seq) {
				return nil, fmt.Errorf("%w: %s in %s is not a segment name", ErrCorrupt, name, dir)
			}
			w.segs = append(w.segs, seq)
		}
	}
	for i, seq := range w.segs {
		if i > 0 && seq != w.segs[i-1]+1 {
			return nil, fmt.Errorf("%w: segment %d is missing from %s (found %d after it)", ErrCorrupt, w.segs[i-1]+1, dir, seq)
		}
		last := i == len(w.segs)-1
		end, closed, err := w.replaySegment(seq, replay)
		if err != nil {
			return nil, err
		}
		if !closed && !last {
			return nil, fmt.Errorf("%w: segment %s stops at offset %d without its end record, and segments follow it",
				ErrCorrupt, w.fs.PathJoin(dir, segmentName(seq)), end)
		}
		if last && !closed {
			w.tailEnd, w.tailOpen = end, true
		}
	}
	return w, nil
}

// replaySegment hands seq's records to replay and reports where the valid
// records end and whether an end record closed them.
func (w *WAL) replaySegment(seq uint64, replay func(Pos, []byte) error) (end int64, closed bool, err error) {
	name := w.fs.PathJoin(w.dir, segmentName(seq))
	f, err := w.fs.Open(name)
	if err != nil {
		return 0, false, fmt.Errorf("wal: open %s: %w", name, err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	var payload []byte
	var hdr [headerBytes]byte
	for {
		kind, n, err := readRecord(r, seq, hdr[:], &payload)
		if err != nil {
			return 0, false, fmt.Errorf("wal: read %s at offset %d: %w", name, end, err)
		}
		switch kind {
		case 0:
			return end, false, nil
		case kindEnd:
			return end, true, nil
		}
		if err := replay(Pos{Segment: seq, Offset: end}, payload); err != nil {
			return 0, false, err
		}
		end += int64(n)
	}
}

// readRecord reads one record of segment seq from r into *payload (reused)
// and returns its kind and its size with the header. Kind 0 means r holds
// no valid record here: a torn or stale one, zeroes, or the end of the
// file. Only an I/O error is an error.
func readRecord(r io.Reader, seq uint64, hdr []byte, payload *[]byte) (kind byte, n int, err error) {
	if _, err := io.ReadFull(r, hdr); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, 0, nil
		}
		return 0, 0, err
	}
	length := binary.LittleEndian.Uint32(hdr[4:])
	kind = hdr[16]
	if binary.LittleEndian.Uint64(hdr[8:]) != seq || (kind != kindRecord && kind != kindEnd) || length > MaxRecordBytes {
		return 0, 0, nil
	}
	if cap(*payload) < int(length) {
		*payload = make([]byte, length)
	}
	*payload = (*payload)[:length]
	if _, err := io.ReadFull(r, *payload); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, 0, nil
		}
		return 0, 0, err
	}
	crc := crc32.Update(crc32.Checksum(hdr[4:], castagnoli), castagnoli, *payload)
	if crc != binary.LittleEndian.Uint32(hdr) {
		return 0, 0, nil
	}
	return kind, headerBytes + int(length), nil
}

// appendRecord appends to b one record of segment seq.
func appendRecord(b []byte, seq uint64, kind byte, payload []byte) []byte {
	b, _, _ = appendRecordFunc(b, seq, kind, func(b []byte) ([]byte, error) { return append(b, payload...), nil })
	return b
}

// appendRecordFunc appends to b one record of segment seq whose payload
// appendPayload appends, and returns b and the payload's length. On an
// error, b comes back as it was.
func appendRecordFunc(b []byte, seq uint64, kind byte, appendPayload func([]byte) ([]byte, error)) ([]byte, int, error) {
	start := len(b)
	b = binary.LittleEndian.AppendUint32(b, 0) // the CRC, below
	b = binary.LittleEndian.AppendUint32(b, 0) // the length, below
	b = binary.LittleEndian.AppendUint64(b, seq)
	b = append(b, kind)
	b, err := appendPayload(b)
	if err != nil {
		return b[:start], 0, err
	}
	n := len(b) - start - headerBytes
	binary.LittleEndian.PutUint32(b[start+4:], uint32(n))
	binary.LittleEndian.PutUint32(b[start:], crc32.Checksum(b[start+4:], castagnoli))
	return b, n, nil
}

func segmentName(seq uint64) string { return fmt.Sprintf("%016x%s", seq, segmentSuffix) }

// Segments returns the live segments' sequence numbers, ascending.
func (w *WAL) Segments() []uint64 { return slices.Clone(w.segs) }

// Append buffers rec as the next record of the current segment and
// returns where it is. It is durable once a later Sync returns.
func (w *WAL) Append(rec []byte) (Pos, error) {
	return w.AppendFunc(func(b []byte) ([]byte, error) { return append(b, rec...), nil })
}

// AppendFunc is Append for a record that appendPayload appends to b, the
// WAL's buffer, so that a caller encodes it in place instead of into a
// slice of its own that Append would copy. appendPayload's error is
// returned, with nothing appended.
func (w *WAL) AppendFunc(appendPayload func(b []byte) ([]byte, error)) (Pos, error) {
	if w.cur == nil {
		return Pos{}, ErrNoSegment
	}
	pos := Pos{Segment: w.curSeq, Offset: w.size}
	buf, n, err := appendRecordFunc(w.buf, w.curSeq, kindRecord, appendPayload)
	if err == nil && n > MaxRecordBytes {
		buf, err = buf[:len(buf)-headerBytes-n], fmt.Errorf("wal: a record of %d bytes is more than MaxRecordBytes (%d)", n, MaxRecordBytes)
	}
	w.buf = buf
	if err != nil {
		return Pos{}, err
	}
	w.size += int64(headerBytes + n)
	return pos, nil
}

// Sync writes the buffered records and syncs the current segment.
func (w *WAL) Sync() error {
	if w.cur == nil || w.synced == w.size {
		return nil
	}
	if err := w.write(); err != nil {
		return err
	}
	if err := w.cur.SyncData(); err != nil {
		return fmt.Errorf("wal: sync segment %d: %w", w.curSeq, err)
	}
	w.synced = w.size
	return nil
}

func (w *WAL) write() error {
	if len(w.buf) == 0 {
		return nil
	}
	if _, err := w.cur.WriteAt(w.buf, w.written); err != nil {
		return fmt.Errorf("wal: write segment %d: %w", w.curSeq, err)
	}
	w.written += int64(len(w.buf))
	w.buf = w.buf[:0]
	return nil
}

// Full reports whether the current segment has reached its size, so
// that the caller should Rotate before its next records.
func (w *WAL) Full() bool { return w.cur == nil || w.size >= w.capacity }

// Rotate closes the current segment with an end record (synced, with
// everything appended before it), starts the next one and appends first
// to it, as its first record. The first Rotate after Open instead closes
// the last segment Open found at its end, if nothing closed it.
func (w *WAL) Rotate(first []byte) error {
	if err := w.closeCurrent(); err != nil {
		return err
	}
	seq := uint64(1)
	if len(w.segs) > 0 {
		seq = w.segs[len(w.segs)-1] + 1
	}
	f, capacity, err := w.newSegment(seq)
	if err != nil {
		return err
	}
	w.capacity = capacity
	w.segs = append(w.segs, seq)
	w.cur, w.curSeq = f, seq
	w.size, w.written, w.synced = 0, 0, 0
	w.prepare()
	_, err = w.Append(first)
	return err
}

// closeCurrent ends the segment being written, or the one Open left
// open, with a synced end record.
func (w *WAL) closeCurrent() error {
	switch {
	case w.cur != nil:
		w.buf = appendRecord(w.buf, w.curSeq, kindEnd, nil)
		w.size += headerBytes
		if err := w.Sync(); err != nil {
			return err
		}
		err := w.cur.Close()
		w.cur = nil
		if err != nil {
			return fmt.Errorf("wal: close segment %d: %w", w.curSeq, err)
		}
	case w.tailOpen:
		seq := w.segs[len(w.segs)-1]
		name := w.fs.PathJoin(w.dir, segmentName(seq))
		f, err := w.fs.OpenReadWrite(name, vfs.WriteCategoryUnspecified)
		if err != nil {
			return fmt.Errorf("wal: open %s: %w", name, err)
		}
		_, err = f.WriteAt(appendRecord(nil, seq, kindEnd, nil), w.tailEnd)
		if err == nil {
			err = f.SyncData()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("wal: close %s: %w", name, err)
		}
		w.tailOpen = false
	}
	return nil
}

// newSegment makes segment seq out of the largest spare, zero-filling a
// new file if no spare is as large as the next fill, syncs the directory,
// and returns the segment's file and size.
func (w *WAL) newSegment(seq uint64) (vfs.File, int64, error) {
	w.waitPrepared()
	w.prepMu.Lock()
	err := w.prepErr
	w.prepErr = nil
	var sp spare
	if len(w.spares) > 0 {
		i := 0
		for j, c := range w.spares {
			if c.size > w.spares[i].size {
				i = j
			}
		}
		sp = w.spares[i]
		w.spares = slices.Delete(w.spares, i, i+1)
	}
	fill := w.fillBytes
	w.fillBytes = min(2*w.fillBytes, w.segmentBytes)
	w.prepMu.Unlock()
	if err != nil {
		return nil, 0, err
	}
	if sp.name != "" && sp.size < fill {
		if err := w.fs.Remove(sp.name); err != nil {
			return nil, 0, fmt.Errorf("wal: remove %s: %w", sp.name, err)
		}
		sp = spare{}
	}
	if sp.name == "" {
		if sp, err = w.zeroFilled(fill); err != nil {
			return nil, 0, err
		}
	}
	name := w.fs.PathJoin(w.dir, segmentName(seq))
	if err := w.fs.Rename(sp.name, name); err != nil {
		return nil, 0, fmt.Errorf("wal: rename %s to %s: %w", sp.name, name, err)
	}
	if err := w.syncDir(); err != nil {
		return nil, 0, err
	}
	f, err := w.fs.OpenReadWrite(name, vfs.WriteCategoryUnspecified)
	if err != nil {
		return nil, 0, fmt.Errorf("wal: open %s: %w", name, err)
	}
	return f, sp.size, nil
}

// prepare zero-fills a spare on its own goroutine if none is waiting, so
// that the next Rotate need not.
func (w *WAL) prepare() {
	w.prepMu.Lock()
	defer w.prepMu.Unlock()
	if len(w.spares) > 0 || w.prepDone != nil {
		return
	}
	done := make(chan struct{})
	w.prepDone = done
	fill := w.fillBytes
	go func() {
		defer close(done)
		sp, err := w.zeroFilled(fill)
		w.prepMu.Lock()
		defer w.prepMu.Unlock()
		if err != nil {
			w.prepErr = err
			return
		}
		w.spares = append(w.spares, sp)
	}()
}

// waitPrepared waits for a running zero-fill to end.
func (w *WAL) waitPrepared() {
	w.prepMu.Lock()
	done := w.prepDone
	w.prepMu.Unlock()
	if done == nil {
		return
	}
	<-done
	w.prepMu.Lock()
	w.prepDone = nil
	w.prepMu.Unlock()
}

// zeroFilled writes a spare of size zeroes, synced. It is written under
// a temporary name and renamed when complete, so that Open never takes a
// half-written one.
func (w *WAL) zeroFilled(size int64) (spare, error) {
	w.prepMu.Lock()
	n := w.nextTmp
	w.nextTmp++
	w.prepMu.Unlock()
	name := w.fs.PathJoin(w.dir, sparePrefix+strconv.FormatUint(n, 10))
	tmp := name + tmpSuffix
	f, err := w.fs.Create(tmp, vfs.WriteCategoryUnspecified)
	if err != nil {
		return spare{}, fmt.Errorf("wal: create %s: %w", tmp, err)
	}
	// Synced a MiB at a time: one flush of the whole file would queue
	// tens of MiB on the disk ahead of the log's own syncs (set p99 at
	// three members 50-56 ms, against 36-38 ms this way).
	zeroes := make([]byte, min(size, 1<<20))
	for off := int64(0); off < size && err == nil; off += int64(len(zeroes)) {
		if _, err = f.Write(zeroes[:min(int64(len(zeroes)), size-off)]); err == nil {
			err = f.SyncData()
		}
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = w.fs.Rename(tmp, name)
	}
	if err != nil {
		return spare{}, fmt.Errorf("wal: zero-fill %s: %w", tmp, err)
	}
	return spare{name, size}, nil
}

func (w *WAL) syncDir() error { return SyncDir(w.fs, w.dir) }

// SyncDir syncs directory dir, making the names created, renamed or
// removed in it durable.
func SyncDir(fs vfs.FS, dir string) error {
	d, err := fs.OpenDir(dir)
	if err != nil {
		return fmt.Errorf("wal: open directory %s: %w", dir, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("wal: sync directory %s: %w", dir, err)
	}
	return nil
}

// Release drops every segment below seq, which must not be past the
// current one. A dropped segment becomes a spare, to be written over, or
// is removed when enough spares wait.
func (w *WAL) Release(seq uint64) error {
	if w.cur != nil && seq > w.curSeq {
		panic(fmt.Sprintf("wal: Release(%d) past the current segment %d", seq, w.curSeq))
	}
	n := 0
	for n < len(w.segs) && w.segs[n] < seq {
		n++
	}
	if n == 0 {
		return nil
	}
	for _, s := range w.segs[:n] {
		if r, ok := w.readers[s]; ok {
			delete(w.readers, s)
			if err := r.Close(); err != nil {
				return fmt.Errorf("wal: close segment %d: %w", s, err)
			}
		}
		name := w.fs.PathJoin(w.dir, segmentName(s))
		st, err := w.fs.Stat(name)
		if err != nil {
			return fmt.Errorf("wal: release %s: %w", name, err)
		}
		w.prepMu.Lock()
		keep := len(w.spares) < maxSpares && st.Size() >= w.fillBytes
		sp := spare{w.fs.PathJoin(w.dir, sparePrefix+strconv.FormatUint(w.nextTmp, 10)), st.Size()}
		w.nextTmp++
		w.prepMu.Unlock()
		if keep {
			err = w.fs.Rename(name, sp.name)
		} else {
			err = w.fs.Remove(name)
		}
		if err != nil {
			return fmt.Errorf("wal: release %s: %w", name, err)
		}
		if keep {
			w.prepMu.Lock()
			w.spares = append(w.spares, sp)
			w.prepMu.Unlock()
		}
		// One at a time, oldest first, so that a crash leaves the live
		// segments a run without gaps.
		if err := w.syncDir(); err != nil {
			return err
		}
		w.segs = w.segs[1:]
	}
	return nil
}

// ReadAt returns a copy of the record at pos, which Append or Open's
// replay gave. Records of the current segment not yet written are read
// from the buffer.
func (w *WAL) ReadAt(pos Pos) ([]byte, error) {
	if pos.Segment == w.curSeq && w.cur != nil && pos.Offset >= w.written {
		off := pos.Offset - w.written
		if off+headerBytes > int64(len(w.buf)) {
			return nil, fmt.Errorf("wal: no record at segment %d offset %d", pos.Segment, pos.Offset)
		}
		return w.decodeAt(pos, bytes.NewReader(w.buf[off:]))
	}
	if !slices.Contains(w.segs, pos.Segment) {
		return nil, fmt.Errorf("wal: segment %d is not in the log", pos.Segment)
	}
	r, ok := w.readers[pos.Segment]
	if !ok {
		name := w.fs.PathJoin(w.dir, segmentName(pos.Segment))
		f, err := w.fs.Open(name)
		if err != nil {
			return nil, fmt.Errorf("wal: open %s: %w", name, err)
		}
		r, w.readers[pos.Segment] = f, f
	}
	return w.decodeAt(pos, io.NewSectionReader(r, pos.Offset, 1<<62))
}

func (w *WAL) decodeAt(pos Pos, r io.Reader) ([]byte, error) {
	var hdr [headerBytes]byte
	var payload []byte
	kind, _, err := readRecord(r, pos.Segment, hdr[:], &payload)
	if err != nil {
		return nil, fmt.Errorf("wal: read segment %d at offset %d: %w", pos.Segment, pos.Offset, err)
	}
	if kind != kindRecord {
		return nil, fmt.Errorf("%w: no valid record at segment %d offset %d", ErrCorrupt, pos.Segment, pos.Offset)
	}
	return payload, nil
}

// Close closes the log's files without syncing what is buffered.
func (w *WAL) Close() error {
	w.waitPrepared()
	var errs []error
	for s, r := range w.readers {
		errs = append(errs, r.Close())
		delete(w.readers, s)
	}
	if w.cur != nil {
		errs = append(errs, w.cur.Close())
		w.cur = nil
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("wal: close: %w", err)
	}
	return nil
}
