package raftlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"

	pb "go.etcd.io/raft/v3/raftpb"
)

// Limits on member contexts, checked when they are decoded.
const (
	// MaxContexts bounds the number of member contexts.
	MaxContexts = 1 << 12
	// MaxContextsBytes bounds their encoding, so that they fit in a
	// snapshot's Data beside a small descriptor.
	MaxContextsBytes = MaxSnapshotDataBytes - 1<<10
)

// AppendContexts appends the encoding of contexts (a member id's opaque
// context, such as its peer address) to b: a uvarint count, then for each
// member in increasing id order its id and its context's length
// (uvarints) and the context. Empty contexts are left out.
func AppendContexts(b []byte, contexts map[uint64][]byte) []byte {
	ids := slices.Sorted(maps.Keys(contexts))
	ids = slices.DeleteFunc(ids, func(id uint64) bool { return len(contexts[id]) == 0 })
	b = binary.AppendUvarint(b, uint64(len(ids)))
	for _, id := range ids {
		b = binary.AppendUvarint(b, id)
		b = binary.AppendUvarint(b, uint64(len(contexts[id])))
		b = append(b, contexts[id]...)
	}
	return b
}

// DecodeContexts decodes the whole of b, made by AppendContexts. It
// checks the declared lengths against b and the limits before allocating,
// and refuses ids out of order, id 0 and empty contexts.
func DecodeContexts(b []byte) (map[uint64][]byte, error) {
	if len(b) > MaxContextsBytes {
		return nil, fmt.Errorf("contexts: %d bytes, more than %d", len(b), MaxContextsBytes)
	}
	next := func() (uint64, error) {
		v, k := binary.Uvarint(b)
		if k <= 0 {
			return 0, errors.New("contexts: truncated")
		}
		b = b[k:]
		return v, nil
	}
	count, err := next()
	if err != nil {
		return nil, err
	}
	if count > MaxContexts || count > uint64(len(b)) {
		return nil, fmt.Errorf("contexts: %d declared in %d bytes", count, len(b))
	}
	m := make(map[uint64][]byte, count)
	var prev uint64
	for range count {
		id, err := next()
		if err != nil {
			return nil, err
		}
		if id <= prev {
			return nil, fmt.Errorf("contexts: member id %d after %d", id, prev)
		}
		prev = id
		n, err := next()
		if err != nil {
			return nil, err
		}
		if n == 0 || n > uint64(len(b)) {
			return nil, fmt.Errorf("contexts: member %d: %d bytes declared, %d left", id, n, len(b))
		}
		m[id] = slices.Clone(b[:n])
		b = b[n:]
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("contexts: %d bytes after the last", len(b))
	}
	return m, nil
}

// Contexts returns a copy of the member contexts last recorded with
// SetMembership or SaveMembers (nil if none was).
func (l *Log) Contexts() map[uint64][]byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return cloneContexts(l.st.contexts)
}

// SetMembership records cs, as SetConfState does, and contexts, the
// contexts of the members of cs, synced together: a restart sees both
// or neither. Contexts of ids that are not members of cs are left out.
func (l *Log) SetMembership(cs *pb.ConfState, contexts map[uint64][]byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.newWrite()
	if err := w.setConfState(cs); err != nil {
		return err
	}
	if err := w.setContexts(contexts); err != nil {
		return err
	}
	return l.commit(w, true)
}

// SaveMembers is Save, and records contexts as the member contexts with
// the rest: for a Ready that installs snap, a snapshot received from the
// leader, contexts are those its Data carries. A non-nil snap with index
// 0 is installed as ApplySnapshot installs it (to bootstrap a new member
// with its initial members' contexts).
func (l *Log) SaveMembers(hs *pb.HardState, entries []*pb.Entry, snap *pb.Snapshot, contexts map[uint64][]byte) error {
	return l.save(hs, entries, snap, contexts, true)
}

func (w *write) setContexts(contexts map[uint64][]byte) error {
	cs := w.next.confState
	members := slices.Concat(cs.GetVoters(), cs.GetVotersOutgoing(), cs.GetLearners(), cs.GetLearnersNext())
	kept := make(map[uint64][]byte, len(contexts))
	for id, c := range contexts {
		if len(c) > 0 && slices.Contains(members, id) {
			kept[id] = slices.Clone(c)
		}
	}
	v := AppendContexts([]byte{recContexts}, kept)
	if len(v)-1 > MaxContextsBytes {
		return fmt.Errorf("raftlog: member contexts are %d bytes, more than MaxContextsBytes (%d)", len(v)-1, MaxContextsBytes)
	}
	w.recs = append(w.recs, v)
	w.next.contexts = kept
	return nil
}

func cloneContexts(m map[uint64][]byte) map[uint64][]byte {
	if m == nil {
		return nil
	}
	c := make(map[uint64][]byte, len(m))
	for id, v := range m {
		c[id] = slices.Clone(v)
	}
	return c
}
