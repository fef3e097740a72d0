package raftlog

import (
	"encoding/binary"
	"errors"
	"fmt"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/arbor-coord/arbor/server/raftlog/wal"
)

// The kinds of record the Log writes to its WAL, the first byte of each;
// see the package documentation.
const (
	recCheckpoint byte = 'c' // the whole metadata: first in every segment
	recEntry      byte = 'e' // one marshaled raftpb.Entry; writing index i discards entries ≥ i
	recHardState  byte = 'h' // a marshaled raftpb.HardState
	recConfState  byte = 'f' // a marshaled raftpb.ConfState
	recInstall    byte = 'i' // a marshaled raftpb.Snapshot received: the log restarts after it
	recSnapshot   byte = 's' // a marshaled raftpb.Snapshot created here: metadata only
	recContexts   byte = 'm' // the member contexts, AppendContexts' encoding
	recCompact    byte = 'o' // index(8) term(8): the new compaction point
)

// errBadRecord marks a record the Log cannot decode.
var errBadRecord = errors.New("raftlog: malformed record")

// messageRecord returns a function that appends a record of kind holding
// m, for wal.AppendFunc.
func messageRecord(kind byte, m proto.Message) func([]byte) ([]byte, error) {
	return func(b []byte) ([]byte, error) {
		return proto.MarshalOptions{}.MarshalAppend(append(b, kind), m)
	}
}

func marshalRecord(kind byte, m proto.Message) ([]byte, error) {
	b, err := proto.MarshalOptions{}.MarshalAppend([]byte{kind}, m)
	if err != nil {
		return nil, fmt.Errorf("raftlog: encode %c record: %w", kind, err)
	}
	return b, nil
}

func compactRecord(index, term uint64) []byte {
	b := []byte{recCompact}
	b = binary.BigEndian.AppendUint64(b, index)
	return binary.BigEndian.AppendUint64(b, term)
}

// The checkpoint's flags: which of the fields that may be absent are there.
const (
	hasHardState byte = 1 << iota
	hasContexts
)

// checkpointRecord encodes st's metadata: offset, its term and the last
// index (8 bytes each), a flags byte, then the HardState (if present),
// the ConfState, the snapshot and the contexts (if present), each as a
// uvarint length and bytes.
func checkpointRecord(st *state) ([]byte, error) {
	b := []byte{recCheckpoint}
	b = binary.BigEndian.AppendUint64(b, st.offset)
	b = binary.BigEndian.AppendUint64(b, st.offsetTerm)
	b = binary.BigEndian.AppendUint64(b, st.last)
	var flags byte
	if st.hardState != nil {
		flags |= hasHardState
	}
	if st.contexts != nil {
		flags |= hasContexts
	}
	b = append(b, flags)
	var err error
	if st.hardState != nil {
		if b, err = appendMessage(b, st.hardState); err != nil {
			return nil, err
		}
	}
	if b, err = appendMessage(b, st.confState); err != nil {
		return nil, err
	}
	if b, err = appendMessage(b, st.snapshot); err != nil {
		return nil, err
	}
	if st.contexts != nil {
		c := AppendContexts(nil, st.contexts)
		b = binary.AppendUvarint(b, uint64(len(c)))
		b = append(b, c...)
	}
	return b, nil
}

func appendMessage(b []byte, m proto.Message) ([]byte, error) {
	v, err := proto.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("raftlog: encode checkpoint: %w", err)
	}
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...), nil
}

// replayer rebuilds a Log's state from its records in order. Segments
// released by compaction took entries with them, all of them at or below
// the final compaction point; known is the index from which on the
// replayer has seen every entry up to last.
type replayer struct {
	st    state
	known uint64
}

func newReplayer() *replayer {
	return &replayer{st: state{snapshot: pb.EnsureSnapshot(nil), confState: pb.EnsureConfState(nil)}, known: 1}
}

func (r *replayer) record(pos wal.Pos, rec []byte) error {
	if len(rec) == 0 {
		return fmt.Errorf("%w: empty, at segment %d offset %d", errBadRecord, pos.Segment, pos.Offset)
	}
	st := &r.st
	body := rec[1:]
	var err error
	switch rec[0] {
	case recCheckpoint:
		err = r.checkpoint(body)
	case recEntry:
		e := new(pb.Entry)
		if err = proto.Unmarshal(body, e); err != nil {
			break
		}
		i := e.GetIndex()
		switch {
		case i > st.last+1 || i <= st.offset:
			err = fmt.Errorf("entry %d does not follow the log (%d, %d]", i, st.offset, st.last)
		case i < r.known:
			// Rewritten from an index whose earlier entries went with a
			// released segment: the log is known from here on.
			st.pos, r.known = nil, i
		default:
			st.pos = st.pos[:i-r.known]
		}
		if err == nil {
			st.pos = append(st.pos, entryPos{at: pos, term: e.GetTerm()})
			st.last = i
		}
	case recHardState:
		hs := new(pb.HardState)
		if err = proto.Unmarshal(body, hs); err == nil {
			st.hardState = hs
		}
	case recConfState:
		cs := new(pb.ConfState)
		if err = proto.Unmarshal(body, cs); err == nil {
			st.confState = pb.EnsureConfState(cs)
		}
	case recInstall, recSnapshot:
		snap := new(pb.Snapshot)
		if err = proto.Unmarshal(body, snap); err != nil {
			break
		}
		st.snapshot = pb.EnsureSnapshot(snap)
		if rec[0] == recInstall {
			md := st.snapshot.GetMetadata()
			st.confState = pb.EnsureConfState(proto.Clone(md.GetConfState()).(*pb.ConfState))
			st.offset, st.offsetTerm, st.last = md.GetIndex(), md.GetTerm(), md.GetIndex()
			st.pos, r.known = nil, md.GetIndex()+1
		}
	case recContexts:
		st.contexts, err = DecodeContexts(body)
	case recCompact:
		if len(body) != 16 {
			err = fmt.Errorf("compaction point of %d bytes", len(body))
			break
		}
		r.compact(binary.BigEndian.Uint64(body), binary.BigEndian.Uint64(body[8:]))
	default:
		err = fmt.Errorf("unknown kind %q", rec[0])
	}
	if err != nil {
		return fmt.Errorf("%w at segment %d offset %d: %w", errBadRecord, pos.Segment, pos.Offset, err)
	}
	return nil
}

// compact makes index the compaction point, as Compact does.
func (r *replayer) compact(index, term uint64) {
	st := &r.st
	if index > st.last {
		// Only a checkpoint, after released segments, can say so.
		st.pos, r.known, st.last = nil, index+1, index
	}
	if index >= r.known {
		st.pos = st.pos[index+1-r.known:]
		r.known = index + 1
	}
	st.offset, st.offsetTerm = index, term
}

func (r *replayer) checkpoint(b []byte) error {
	if len(b) < 8+8+8+1 { // offset, its term, last, flags
		return errors.New("checkpoint too short")
	}
	offset, term, last := binary.BigEndian.Uint64(b), binary.BigEndian.Uint64(b[8:]), binary.BigEndian.Uint64(b[16:])
	b = b[24:]
	flags := b[0]
	b = b[1:]
	next := func() ([]byte, error) {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return nil, errors.New("checkpoint truncated")
		}
		v := b[k : k+int(n)]
		b = b[k+int(n):]
		return v, nil
	}
	var hs *pb.HardState
	if flags&^(hasHardState|hasContexts) != 0 {
		return fmt.Errorf("checkpoint flags %#x", flags)
	}
	if flags&hasHardState != 0 {
		v, err := next()
		if err != nil {
			return err
		}
		hs = new(pb.HardState)
		if err := proto.Unmarshal(v, hs); err != nil {
			return err
		}
	}
	cs, snap := new(pb.ConfState), new(pb.Snapshot)
	for _, m := range []proto.Message{cs, snap} {
		v, err := next()
		if err != nil {
			return err
		}
		if err := proto.Unmarshal(v, m); err != nil {
			return err
		}
	}
	var contexts map[uint64][]byte
	if flags&hasContexts != 0 {
		v, err := next()
		if err != nil {
			return err
		}
		if contexts, err = DecodeContexts(v); err != nil {
			return err
		}
	}
	if len(b) != 0 {
		return fmt.Errorf("%d bytes after the checkpoint", len(b))
	}
	if last < offset {
		return fmt.Errorf("checkpoint's last index %d is below its offset %d", last, offset)
	}
	st := &r.st
	switch {
	case st.last < last:
		// The entries up to last went with released segments.
		st.pos, r.known, st.last = nil, last+1, last
	case st.last > last:
		return fmt.Errorf("checkpoint's last index %d is below the %d of the records before it", last, st.last)
	}
	r.compact(offset, term)
	st.hardState, st.confState, st.snapshot, st.contexts = hs, pb.EnsureConfState(cs), pb.EnsureSnapshot(snap), contexts
	return nil
}

// finish checks that every entry after the compaction point was seen.
func (r *replayer) finish() (state, error) {
	st := r.st
	if st.last > st.offset && r.known > st.offset+1 {
		return state{}, fmt.Errorf("%w: entries %d to %d are missing from the log", wal.ErrCorrupt, st.offset+1, r.known-1)
	}
	if uint64(len(st.pos)) != st.last-st.offset {
		panic(fmt.Sprintf("raftlog: replay kept %d positions for entries (%d, %d]", len(st.pos), st.offset, st.last))
	}
	return st, nil
}
