package tree

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"

	"github.com/arbor-coord/arbor/internal/errcode"
	"github.com/arbor-coord/arbor/internal/zpath"
)

// DefaultMaxDataBytes is the largest node data accepted when
// Options.MaxDataBytes is 0: 1 MiB, as ZooKeeper's default jute.maxbuffer.
const DefaultMaxDataBytes = 1 << 20

// ErrIncompleteImport reports a store whose last snapshot import did not
// finish: its state is partial and must be replaced by a new Import.
var ErrIncompleteImport = errors.New("tree: an interrupted snapshot import left partial state")

// Options configures a Tree. Every member of a cluster must use the same
// values: they influence the results of applying commands.
type Options struct {
	// MaxDataBytes is the largest data a node may hold; 0 means
	// DefaultMaxDataBytes. Larger data is refused with BadArguments.
	MaxDataBytes int
	// Logger receives the tree's log lines; nil discards them.
	Logger *slog.Logger
	// AllowIncompleteImport lets Open open a store left by an interrupted
	// Import (which it otherwise refuses with ErrIncompleteImport), for a
	// caller that will finish the job: the Tree then reports Applied 0 and
	// Incomplete, and refuses Apply until an Import succeeds. A member
	// whose raft log holds the snapshot being installed opens its tree so.
	AllowIncompleteImport bool
}

// Tree is the znode namespace and the session records of one member,
// stored in Pebble and changed only by Apply and Import.
//
// Apply and Import must not run concurrently with each other (the member's
// apply loop calls them); every read method may run concurrently with them
// and with other reads, and sees the state as of some applied index.
type Tree struct {
	db      *pebble.DB
	maxData int
	log     *slog.Logger
	openACL []ACL // shared by every node with the open ACL; never modified
	applied atomic.Uint64
	cache   *nodeCache // used by Apply and Import only
	// sessCache is used by Apply and Import only.
	sessCache *sessionCache
	// importFailed is set while the state is partial after a failed
	// Import; Apply refuses to run until an Import succeeds.
	importFailed bool
}

// Open opens the tree stored in db, creating the initial state (the root
// and the reserved /arbor node, at applied index 0) in an empty store. The
// caller keeps ownership of db and closes it after it stops using the tree.
func Open(db *pebble.DB, opts Options) (*Tree, error) {
	t := &Tree{db: db, maxData: opts.MaxDataBytes, log: opts.Logger, openACL: OpenACL(), cache: newNodeCache(), sessCache: newSessionCache()}
	if t.maxData <= 0 {
		t.maxData = DefaultMaxDataBytes
	}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	if _, err := getBytes(db, importMarker()); err == nil {
		if !opts.AllowIncompleteImport {
			return nil, ErrIncompleteImport
		}
		t.importFailed = true
		t.log.Warn("tree opened with an interrupted snapshot import: waiting for a new import")
		return t, nil
	} else if !errors.Is(err, pebble.ErrNotFound) {
		return nil, fmt.Errorf("open tree: %w", err)
	}
	idx, err := readApplied(db)
	if errors.Is(err, pebble.ErrNotFound) {
		if err := t.initialize(); err != nil {
			return nil, err
		}
		idx = 0
	} else if err != nil {
		return nil, fmt.Errorf("open tree: %w", err)
	}
	t.applied.Store(idx)
	t.log.Debug("tree opened", "applied", idx)
	return t, nil
}

// initialize writes the state every member starts from.
func (t *Tree) initialize() error {
	it, err := t.db.NewIter(&pebble.IterOptions{LowerBound: stateLower(), UpperBound: stateUpper()})
	if err != nil {
		return err
	}
	nonEmpty := it.First()
	if err := it.Close(); err != nil {
		return err
	}
	if nonEmpty {
		return fmt.Errorf("%w: state without an applied index", ErrCorruptState)
	}
	root := &node{acl: t.openACL, openACL: true, numChildren: 1, creations: 1}
	sys := &node{acl: ReadACL()}
	b := t.db.NewBatch()
	defer b.Close()
	_ = b.Set(nodeKey(nil, "/"), appendNode(nil, root), nil)
	_ = b.Set(nodeKey(nil, zpath.Reserved), appendNode(nil, sys), nil)
	_ = b.Set(appliedKey(), binary.BigEndian.AppendUint64(nil, 0), nil)
	// The store has no WAL (internal/storage): a flush makes it durable.
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("initialize tree: %w", err)
	}
	if err := t.db.Flush(); err != nil {
		return fmt.Errorf("initialize tree: %w", err)
	}
	return nil
}

// Incomplete reports whether the state is partial, left by an Import that
// failed or was interrupted, so that only a new Import can make the Tree
// usable. Like Import, it must not run concurrently with Apply or Import.
func (t *Tree) Incomplete() bool { return t.importFailed }

// Applied returns the index of the last applied entry.
func (t *Tree) Applied() uint64 { return t.applied.Load() }

// MaxDataBytes returns the largest node data the tree accepts.
func (t *Tree) MaxDataBytes() int { return t.maxData }

func readApplied(r pebble.Reader) (uint64, error) {
	v, err := getBytes(r, appliedKey())
	if err != nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("%w: applied index of %d bytes", ErrCorruptState, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// getBytes returns a copy of the value at key.
func getBytes(r pebble.Reader, key []byte) ([]byte, error) {
	v, closer, err := r.Get(key)
	if err != nil {
		return nil, err
	}
	out := append([]byte(nil), v...)
	return out, closer.Close()
}

// readNode returns the node at p, or nil if there is none.
func (t *Tree) readNode(r pebble.Reader, p string) (*node, error) {
	var kb [128]byte
	v, closer, err := r.Get(nodeKey(kb[:0], p))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	n, err := t.decodeNodeAt(p, v)
	if cerr := closer.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	return n, nil
}

// decodeNodeAt decodes v, the stored record of the node at p.
func (t *Tree) decodeNodeAt(p string, v []byte) (*node, error) {
	n, err := decodeNode(v, t.openACL)
	if err != nil {
		return nil, fmt.Errorf("node %q: %w", p, err)
	}
	return n, nil
}

// lookup validates p and returns its node, checking perm (0 for none).
// Expected outcomes are errcode values; anything else is a storage error.
func (t *Tree) lookup(r pebble.Reader, p string, ids []Identity, perm Perm) (*node, error) {
	if err := zpath.Validate(p); err != nil {
		return nil, err
	}
	n, ok := (*node)(nil), false
	if r == pebble.Reader(t.db) { // not a snapshot: the cache is as new as the store
		n, ok = t.cache.get(p)
	}
	if !ok {
		var err error
		if n, err = t.readNode(r, p); err != nil {
			return nil, err
		}
	}
	if n == nil {
		return nil, errcode.NoNode
	}
	if perm != 0 {
		c := newCaller(ids)
		if !c.allowed(n.acl, perm) {
			return nil, errcode.NoAuth
		}
	}
	return n, nil
}

// Get returns the data and Stat of the node at p; the data is shared with
// the tree's cache and must not be modified. It needs READ. Errors:
// BadArguments, NoNode, NoAuth.
func (t *Tree) Get(p string, ids []Identity) ([]byte, Stat, error) {
	n, err := t.lookup(t.db, p, ids, PermRead)
	if err != nil {
		return nil, Stat{}, err
	}
	return n.data, n.stat(), nil
}

// Exists returns the Stat of the node at p. As in ZooKeeper it needs no
// permission. Errors: BadArguments, NoNode.
func (t *Tree) Exists(p string) (Stat, error) {
	n, err := t.lookup(t.db, p, nil, 0)
	if err != nil {
		return Stat{}, err
	}
	return n.stat(), nil
}

// GetACL returns the ACL and Stat of the node at p. It needs READ or ADMIN.
// Errors: BadArguments, NoNode, NoAuth.
func (t *Tree) GetACL(p string, ids []Identity) ([]ACL, Stat, error) {
	n, err := t.lookup(t.db, p, ids, PermRead|PermAdmin)
	if err != nil {
		return nil, Stat{}, err
	}
	return append([]ACL(nil), n.acl...), n.stat(), nil
}

// Children returns the names of the children of p, sorted bytewise, and
// p's Stat, both from one consistent view. It needs READ. Errors:
// BadArguments, NoNode, NoAuth.
func (t *Tree) Children(p string, ids []Identity) ([]string, Stat, error) {
	snap := t.db.NewSnapshot()
	defer snap.Close()
	return t.children(snap, p, ids)
}

func (t *Tree) children(r pebble.Reader, p string, ids []Identity) ([]string, Stat, error) {
	n, err := t.lookup(r, p, ids, PermRead)
	if err != nil {
		return nil, Stat{}, err
	}
	lower, upper := childrenBounds(p)
	names := make([]string, 0, n.numChildren)
	err = scan(r, lower, upper, func(k, _ []byte) error {
		names = append(names, string(k[len(lower):]))
		return nil
	})
	if err != nil {
		return nil, Stat{}, err
	}
	if len(names) != int(n.numChildren) {
		return nil, Stat{}, fmt.Errorf("%w: %q counts %d children, has %d", ErrCorruptState, p, n.numChildren, len(names))
	}
	return names, n.stat(), nil
}

// CountDescendants returns the number of nodes below p (ZooKeeper's
// getAllChildrenNumber). It needs READ on p. Errors: BadArguments, NoNode,
// NoAuth.
func (t *Tree) CountDescendants(p string, ids []Identity) (int64, error) {
	snap := t.db.NewSnapshot()
	defer snap.Close()
	if _, err := t.lookup(snap, p, ids, PermRead); err != nil {
		return 0, err
	}
	var count int64
	countKeys := func(k, _ []byte) error { count++; return nil }
	lower, upper := childrenBounds(p)
	if err := scan(snap, lower, upper, countKeys); err != nil {
		return 0, err
	}
	lower, upper = deepBounds(p)
	if err := scan(snap, lower, upper, countKeys); err != nil {
		return 0, err
	}
	return count, nil
}

// Ephemerals returns the paths of the ephemeral nodes owned by session
// that begin with prefix (a plain string prefix, as ZooKeeper's
// getEphemerals), sorted.
func (t *Tree) Ephemerals(session int64, prefix string) ([]string, error) {
	lower := append(ephemeralPrefix(session), prefix...)
	var out []string
	err := scan(t.db, lower, prefixUpper(lower), func(k, _ []byte) error {
		out = append(out, string(k[10:]))
		return nil
	})
	return out, err
}

// Session returns the record of an open session. Errors: SessionExpired.
func (t *Tree) Session(id int64) (Session, error) {
	v, err := getBytes(t.db, sessionKey(id))
	if errors.Is(err, pebble.ErrNotFound) {
		return Session{}, errcode.SessionExpired
	}
	if err != nil {
		return Session{}, err
	}
	s, err := decodeSession(id, v)
	if err != nil {
		return Session{}, err
	}
	return s.Session, nil
}

// Sessions returns every open session, sorted by id. The leader's session
// tracker starts from it.
func (t *Tree) Sessions() ([]Session, error) {
	lower := []byte{pState, kindSession}
	var out []Session
	err := scan(t.db, lower, prefixUpper(lower), func(k, v []byte) error {
		if len(k) != 10 {
			return fmt.Errorf("%w: session key of %d bytes", ErrCorruptState, len(k))
		}
		s, err := decodeSession(sessionIDFrom(k[2:]), v)
		if err != nil {
			return err
		}
		out = append(out, s.Session)
		return nil
	})
	return out, err
}

// DeletionCandidates returns up to limit paths, sorted, of the nodes that
// should be reaped at time nowMs: containers that have had a child and have
// none now, and TTL nodes without children not modified for longer than
// their TTL. The leader proposes a Reap for each; Reap re-checks at apply.
func (t *Tree) DeletionCandidates(nowMs int64, limit int) ([]string, error) {
	snap := t.db.NewSnapshot()
	defer snap.Close()
	lower := []byte{pState, kindReap}
	var out []string
	errLimit := errors.New("limit")
	err := scan(snap, lower, prefixUpper(lower), func(k, _ []byte) error {
		p := string(k[2:])
		n, err := t.readNode(snap, p)
		if err != nil {
			return err
		}
		if n == nil {
			return fmt.Errorf("%w: reap index names missing node %q", ErrCorruptState, p)
		}
		if reapable(n, nowMs) == errcode.Ok {
			if len(out) >= limit {
				return errLimit
			}
			out = append(out, p)
		}
		return nil
	})
	if errors.Is(err, errLimit) {
		err = nil
	}
	return out, err
}

// reapable says whether n may be reaped at nowMs, and if not, why.
func reapable(n *node, nowMs int64) errcode.Code {
	switch {
	case n.mode != Container && !n.mode.IsTTL():
		return errcode.BadArguments
	case n.numChildren > 0:
		return errcode.NotEmpty
	case n.mode == Container && n.creations == 0:
		return errcode.BadVersion
	case n.mode.IsTTL() && nowMs-n.mtime <= n.ttlMs:
		return errcode.BadVersion
	}
	return errcode.Ok
}

// ReadMulti performs several reads at one applied index, which it returns.
// Each read fails or succeeds on its own, with the same rules as Get,
// Children and Exists. A bad path is a BadArguments result for that read.
func (t *Tree) ReadMulti(ops []ReadOp, ids []Identity) ([]ReadResult, uint64, error) {
	snap := t.db.NewSnapshot()
	defer snap.Close()
	idx, err := readApplied(snap)
	if err != nil {
		return nil, 0, err
	}
	out := make([]ReadResult, len(ops))
	for i, op := range ops {
		var n *node
		r := &out[i]
		switch op.Kind {
		case ReadGet:
			n, err = t.lookup(snap, op.Path, ids, PermRead)
			if n != nil {
				r.Data = n.data
			}
		case ReadExists:
			n, err = t.lookup(snap, op.Path, nil, 0)
		case ReadChildren:
			r.Children, r.Stat, err = t.children(snap, op.Path, ids)
		default:
			err = errcode.BadArguments
		}
		if n != nil {
			r.Stat = n.stat()
		}
		if err != nil {
			var code errcode.Code
			if !errors.As(err, &code) {
				return nil, 0, err
			}
			*r = ReadResult{Code: code}
		}
	}
	return out, idx, nil
}

// scan calls fn for every key in [lower, upper), in order. k and v are
// valid only during the call.
func scan(r pebble.Reader, lower, upper []byte, fn func(k, v []byte) error) error {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return err
	}
	for valid := it.First(); valid; valid = it.Next() {
		v, err := it.ValueAndErr()
		if err == nil {
			err = fn(it.Key(), v)
		}
		if err != nil {
			it.Close()
			return err
		}
	}
	return it.Close()
}
