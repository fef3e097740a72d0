package tree

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/cockroachdb/pebble/v2"
)

// Snapshot stream, format 1:
//
//	"ARBORSNP" (8 bytes), uvarint format (1)
//	per state record, in key order: uvarint len + key, uvarint len + value
//	uvarint 0 (no key is empty), uvarint record count, 8-byte big-endian
//	applied index, the 32-byte digest sum
//
// The digest sum is SHA-256 over every record's uvarint len + key, uvarint
// len + value: the same bytes whether computed by Digest, Export or Import.
const (
	snapMagic  = "ARBORSNP"
	snapFormat = 1
	// MaxSnapshotKeyBytes and MaxSnapshotValueBytes bound one record of an
	// imported snapshot, so that a corrupt length cannot allocate
	// unboundedly.
	MaxSnapshotKeyBytes   = 16 << 10
	MaxSnapshotValueBytes = 64 << 20
	importBatchBytes      = 4 << 20
)

// ErrCorruptSnapshot reports a snapshot stream that is malformed,
// truncated, or whose digest does not match its records.
var ErrCorruptSnapshot = errors.New("tree: corrupt snapshot")

type digester struct {
	h     hash.Hash
	buf   []byte
	count uint64
}

func newDigester() *digester { return &digester{h: sha256.New()} }

func (d *digester) add(k, v []byte) {
	d.buf = binary.AppendUvarint(d.buf[:0], uint64(len(k)))
	d.h.Write(d.buf)
	d.h.Write(k)
	d.buf = binary.AppendUvarint(d.buf[:0], uint64(len(v)))
	d.h.Write(d.buf)
	d.h.Write(v)
	d.count++
}

func (d *digester) sum() (s [32]byte) {
	d.h.Sum(s[:0])
	return s
}

// Digest returns the digest of the whole state at the current applied
// index, read from one consistent view.
func (t *Tree) Digest() (Digest, error) {
	return t.Export(io.Discard)
}

// Export writes the whole state, read from one consistent view, to w as a
// snapshot stream, and returns its digest. Apply may continue meanwhile.
func (t *Tree) Export(w io.Writer) (Digest, error) {
	snap := t.db.NewSnapshot()
	defer snap.Close()
	idx, err := readApplied(snap)
	if err != nil {
		return Digest{}, fmt.Errorf("export: %w", err)
	}
	return export(snap, idx, w)
}

// Checkpoint is a consistent, read-only view of a Tree's state at one
// applied index, kept open (a Pebble snapshot) so that it can be exported
// later, any number of times, while Apply goes on. Close it when done: an
// open Checkpoint keeps Pebble from reclaiming the space of what changed
// since. Its methods are safe for concurrent use with Apply and with one
// another, except that Close must come after every Export has returned.
type Checkpoint struct {
	snap  *pebble.Snapshot
	index uint64
}

// Flush starts writing the state as of the last applied entry to disk
// and returns a channel closed once it is there. The store has no WAL
// (internal/storage), so until then a crash loses what Apply wrote since
// the last flush, and the caller keeps the entries to apply it again.
// Like Checkpoint, it is serialised with Apply by the caller.
func (t *Tree) Flush() (<-chan struct{}, error) {
	done, err := t.db.AsyncFlush()
	if err != nil {
		return nil, fmt.Errorf("flush: %w", err)
	}
	return done, nil
}

// Checkpoint returns a view of the state as of the last applied entry.
// The caller serialises it with Apply (as it does Import) so that it knows
// which index the view holds; Index says it.
func (t *Tree) Checkpoint() (*Checkpoint, error) {
	snap := t.db.NewSnapshot()
	idx, err := readApplied(snap)
	if err != nil {
		snap.Close()
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	return &Checkpoint{snap: snap, index: idx}, nil
}

// Index returns the applied index of the checkpointed state.
func (c *Checkpoint) Index() uint64 { return c.index }

// Export writes the checkpointed state to w in the stream format of
// Tree.Export, which Tree.Import reads, and returns its digest.
func (c *Checkpoint) Export(w io.Writer) (Digest, error) {
	return export(c.snap, c.index, w)
}

// Close releases the view.
func (c *Checkpoint) Close() error { return c.snap.Close() }

// export writes the state visible in r, whose applied index is idx, to w
// as a snapshot stream.
func export(r pebble.Reader, idx uint64, w io.Writer) (Digest, error) {
	bw := bufio.NewWriterSize(w, 256<<10)
	var buf []byte
	buf = append(buf, snapMagic...)
	buf = binary.AppendUvarint(buf, snapFormat)
	bw.Write(buf)
	d := newDigester()
	err := scan(r, stateLower(), stateUpper(), func(k, v []byte) error {
		buf = binary.AppendUvarint(buf[:0], uint64(len(k)))
		buf = append(buf, k...)
		buf = binary.AppendUvarint(buf, uint64(len(v)))
		bw.Write(buf)
		_, err := bw.Write(v)
		d.add(k, v)
		return err
	})
	if err != nil {
		return Digest{}, fmt.Errorf("export: %w", err)
	}
	dg := Digest{Index: idx, Sum: d.sum()}
	buf = binary.AppendUvarint(buf[:0], 0)
	buf = binary.AppendUvarint(buf, d.count)
	buf = binary.BigEndian.AppendUint64(buf, idx)
	buf = append(buf, dg.Sum[:]...)
	bw.Write(buf)
	if err := bw.Flush(); err != nil {
		return Digest{}, fmt.Errorf("export: %w", err)
	}
	return dg, nil
}

// Import replaces the whole state with the snapshot read from r, after
// which Applied is the snapshot's index. Every record is validated and the
// digest checked; on any error the store is left marked incomplete (Open
// refuses it with ErrIncompleteImport) until an Import succeeds.
//
// Import must not run concurrently with Apply; reads during an Import see
// partial state, so a member does not serve reads while it imports. After a
// failed Import, Apply returns ErrIncompleteImport.
func (t *Tree) Import(r io.Reader) (Digest, error) {
	t.cache.clear()
	t.sessCache.clear()
	dg, err := t.importStream(bufio.NewReaderSize(r, 256<<10))
	if err != nil {
		t.importFailed = true
		return Digest{}, fmt.Errorf("import: %w", err)
	}
	t.importFailed = false
	t.applied.Store(dg.Index)
	t.log.Info("snapshot imported", "applied", dg.Index, "digest", dg.String())
	return dg, nil
}

func (t *Tree) importStream(r *bufio.Reader) (Digest, error) {
	corrupt := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrCorruptSnapshot, fmt.Sprintf(format, args...))
	}
	magic := make([]byte, len(snapMagic))
	if _, err := io.ReadFull(r, magic); err != nil || string(magic) != snapMagic {
		return Digest{}, corrupt("not an arbor snapshot")
	}
	format, err := binary.ReadUvarint(r)
	if err != nil || format != snapFormat {
		return Digest{}, corrupt("unknown format %d", format)
	}
	// The marker is flushed before anything is deleted, so a crash in
	// between leaves a state that says it is partial.
	if err := t.db.Set(importMarker(), nil, pebble.NoSync); err != nil {
		return Digest{}, err
	}
	if err := t.db.Flush(); err != nil {
		return Digest{}, err
	}
	if err := t.db.DeleteRange(stateLower(), stateUpper(), pebble.NoSync); err != nil {
		return Digest{}, err
	}
	d := newDigester()
	b := t.db.NewBatch()
	defer func() { b.Close() }()
	var prev, key, val []byte
	var applied uint64
	haveApplied := false
	readField := func(what string, limit uint64, dst []byte) ([]byte, error) {
		n, err := binary.ReadUvarint(r)
		if err != nil {
			return nil, corrupt("truncated %s length", what)
		}
		if n > limit {
			return nil, corrupt("%s of %d bytes", what, n)
		}
		if uint64(cap(dst)) < n {
			dst = make([]byte, n)
		}
		dst = dst[:n]
		if _, err := io.ReadFull(r, dst); err != nil {
			return nil, corrupt("truncated %s", what)
		}
		return dst, nil
	}
	for {
		if key, err = readField("key", MaxSnapshotKeyBytes, key); err != nil {
			return Digest{}, err
		}
		if len(key) == 0 {
			break
		}
		if val, err = readField("value", MaxSnapshotValueBytes, val); err != nil {
			return Digest{}, err
		}
		if bytes.Compare(key, stateLower()) < 0 || bytes.Compare(key, stateUpper()) >= 0 {
			return Digest{}, corrupt("key %q outside the state", key)
		}
		if prev != nil && bytes.Compare(prev, key) >= 0 {
			return Digest{}, corrupt("keys out of order at %q", key)
		}
		if err := t.validateRecord(key, val); err != nil {
			return Digest{}, corrupt("record %q: %v", key, err)
		}
		if bytes.Equal(key, appliedKey()) {
			applied, haveApplied = binary.BigEndian.Uint64(val), true
		}
		d.add(key, val)
		prev = append(prev[:0], key...)
		if err := b.Set(key, val, nil); err != nil {
			return Digest{}, err
		}
		if b.Len() >= importBatchBytes {
			if err := b.Commit(pebble.NoSync); err != nil {
				return Digest{}, err
			}
			b.Close()
			b = t.db.NewBatch()
		}
	}
	count, err := binary.ReadUvarint(r)
	if err != nil {
		return Digest{}, corrupt("truncated trailer")
	}
	var trailer [40]byte
	if _, err := io.ReadFull(r, trailer[:]); err != nil {
		return Digest{}, corrupt("truncated trailer")
	}
	dg := Digest{Index: binary.BigEndian.Uint64(trailer[:8]), Sum: d.sum()}
	switch {
	case count != d.count:
		return Digest{}, corrupt("%d records, trailer says %d", d.count, count)
	case !bytes.Equal(dg.Sum[:], trailer[8:]):
		return Digest{}, corrupt("digest mismatch")
	case !haveApplied || applied != dg.Index:
		return Digest{}, corrupt("applied index missing or not %d", dg.Index)
	}
	if _, err := r.ReadByte(); err != io.EOF {
		return Digest{}, corrupt("data after the trailer")
	}
	if err := b.Delete(importMarker(), nil); err != nil {
		return Digest{}, err
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return Digest{}, err
	}
	if err := t.db.Flush(); err != nil {
		return Digest{}, err
	}
	root, err := t.readNode(t.db, "/")
	if err != nil || root == nil {
		return Digest{}, corrupt("no root node")
	}
	return dg, nil
}

// validateRecord checks that one imported record is well-formed for its
// kind of key.
func (t *Tree) validateRecord(k, v []byte) error {
	switch k[1] {
	case kindNode:
		_, err := decodeNode(v, t.openACL)
		return err
	case kindSession:
		if len(k) != 10 {
			return errors.New("bad session key")
		}
		_, err := decodeSession(sessionIDFrom(k[2:]), v)
		return err
	case kindEphemeral:
		if len(k) < 11 || len(v) != 0 {
			return errors.New("bad ephemeral index record")
		}
	case kindReap:
		if len(k) < 3 || len(v) != 0 {
			return errors.New("bad reap index record")
		}
	case kindResult:
		if len(k) != 18 {
			return errors.New("bad result key")
		}
		_, _, err := decodeResult(v)
		return err
	case kindMeta:
		if !bytes.Equal(k, appliedKey()) || len(v) != 8 {
			return errors.New("bad meta record")
		}
	default:
		return errors.New("unknown record kind")
	}
	return nil
}
