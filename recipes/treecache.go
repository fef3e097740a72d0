package recipes

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/arbor-coord/arbor/client"
	"github.com/arbor-coord/arbor/recipes/internal/znode"
)

// The defaults of a TreeCache's limits.
const (
	// DefaultTreeMaxNodes is the most nodes a TreeCache holds unless told
	// otherwise (WithTreeMaxNodes).
	DefaultTreeMaxNodes = 100_000
	// DefaultTreeEventBuffer is how many events a TreeCache holds for a
	// slow consumer unless told otherwise (WithTreeEventBuffer).
	DefaultTreeEventBuffer = 1024
)

var (
	// ErrTreeTooLarge ends a TreeCache whose subtree grew past its node
	// limit (WithTreeMaxNodes).
	ErrTreeTooLarge = errors.New("recipes: subtree larger than the tree cache's node limit")
	// ErrTreeEventsOverflow is what TreeCache.EventsErr returns after the
	// event stream ended because its consumer fell more than its buffer
	// behind. The cache itself goes on.
	ErrTreeEventsOverflow = errors.New("recipes: tree cache consumer fell behind its event buffer")
)

// TreeEventType says what a TreeEvent reports.
type TreeEventType int

// The kinds of TreeEvent.
const (
	// TreeNodeAdded: a node appeared in the cache.
	TreeNodeAdded TreeEventType = iota + 1
	// TreeNodeUpdated: a node's data (and Stat) changed.
	TreeNodeUpdated
	// TreeNodeRemoved: a node left the cache.
	TreeNodeRemoved
)

// String returns the type's name, e.g. "NodeAdded".
func (t TreeEventType) String() string {
	switch t {
	case TreeNodeAdded:
		return "NodeAdded"
	case TreeNodeUpdated:
		return "NodeUpdated"
	case TreeNodeRemoved:
		return "NodeRemoved"
	}
	return fmt.Sprintf("TreeEventType(%d)", int(t))
}

// TreeEvent is one change of a TreeCache.
type TreeEvent struct {
	Type TreeEventType
	// Path is the node's full path.
	Path string
	// Data and Stat are the node's new state (for TreeNodeRemoved, the
	// last state the cache had). Data is the receiver's.
	Data []byte
	Stat client.Stat
}

// TreeCacheOption configures NewTreeCache.
type TreeCacheOption func(*treeCacheOptions)

type treeCacheOptions struct {
	maxNodes, eventBuffer int
}

// WithTreeMaxNodes bounds the nodes the cache holds (default
// DefaultTreeMaxNodes); n must be at least 1. A subtree that grows past it
// ends the cache with ErrTreeTooLarge.
func WithTreeMaxNodes(n int) TreeCacheOption {
	return func(o *treeCacheOptions) { o.maxNodes = n }
}

// WithTreeEventBuffer sets how many events the cache holds for a slow
// consumer of Events (default DefaultTreeEventBuffer); n must be at least
// 1.
func WithTreeEventBuffer(n int) TreeCacheOption {
	return func(o *treeCacheOptions) { o.eventBuffer = n }
}

// treeNode is one node in the cache.
type treeNode struct {
	data     []byte
	stat     client.Stat
	children map[string]struct{}
}

// TreeCache is a local mirror of the subtree at a root node (the root
// included), kept current through one persistent recursive watch. Its
// memory is that of the subtree (every node's data, Stat and name),
// bounded by WithTreeMaxNodes.
//
// The watch is set before the subtree is first read, so no change is
// missed. Watch events carry no data: the cache reads each node an event
// is about, and for a node created (or a catch-up after a reconnect, which
// may stand for several changes) the whole subtree below it. Reads never
// go back for one client, and an event whose change the cache has already
// read (its zxid at or below the node's Czxid or Mzxid) is skipped, so a
// stale read never overwrites a newer one and a node deleted and created
// again is not lost. After the writers stop and a Sync, the cache equals a
// fresh read of the tree.
//
// Events reports each change the cache makes, in order; the contents read
// by NewTreeCache are not reported. The stream is bounded: if its consumer
// falls more than its buffer behind, the stream ends (Events is closed,
// EventsErr returns ErrTreeEventsOverflow) while the cache goes on, always
// correct: read it with Get and Children. The cache ends on Close, the end
// of the context given to NewTreeCache, the session's end, or
// ErrTreeTooLarge; Events is closed and Err says why. Get and Children
// then return the last state. A TreeCache is safe for concurrent use.
type TreeCache struct {
	c        *client.Client
	root     string
	maxNodes int
	r        *runner

	mu           sync.RWMutex
	nodes        map[string]*treeNode
	events       chan TreeEvent
	eventsClosed bool
	eventsErr    error
}

// NewTreeCache loads the subtree at root (which need not exist yet) and
// keeps it current until Close, the end of ctx or the session's end.
func NewTreeCache(ctx context.Context, c *client.Client, root string, opts ...TreeCacheOption) (*TreeCache, error) {
	if err := checkArgs("tree cache", c, root); err != nil {
		return nil, err
	}
	o := treeCacheOptions{maxNodes: DefaultTreeMaxNodes, eventBuffer: DefaultTreeEventBuffer}
	for _, opt := range opts {
		opt(&o)
	}
	if o.maxNodes < 1 || o.eventBuffer < 1 {
		return nil, fmt.Errorf("recipes: tree cache %s: max nodes %d and event buffer %d: want 1 and up", root, o.maxNodes, o.eventBuffer)
	}
	pw, err := addPersistent(ctx, c, root, true)
	if err != nil {
		return nil, fmt.Errorf("recipes: tree cache %s: %w", root, err)
	}
	t := &TreeCache{c: c, root: root, maxNodes: o.maxNodes, nodes: map[string]*treeNode{}, events: make(chan TreeEvent, o.eventBuffer)}
	fresh, err := t.load(ctx, root)
	if err != nil {
		pw.close(ctx)
		return nil, fmt.Errorf("recipes: tree cache %s: %w", root, err)
	}
	t.nodes = fresh
	t.r = startRunner(ctx, func(ctx context.Context) error { return t.loop(ctx, pw) }, t.closeEvents)
	return t, nil
}

// loop applies the watch's events until ctx or the session ends.
func (t *TreeCache) loop(ctx context.Context, pw *persistentWatch) error {
	defer pw.close(ctx)
	for {
		select {
		case ev, ok := <-pw.events():
			if !ok {
				if err := pw.ended(ctx); err != nil {
					return err
				}
				// Events were lost in the overflow: read it all again.
				if err := t.resync(ctx, t.root); err != nil {
					return err
				}
				continue
			}
			for _, ev := range pw.batch(ev) {
				if err := t.apply(ctx, ev); err != nil {
					return err
				}
			}
		case <-ctx.Done():
			return ctx.Err()
		case <-t.c.Done():
			return t.c.Err()
		}
	}
}

// apply brings the cache up to date with one event.
func (t *TreeCache) apply(ctx context.Context, ev client.Event) error {
	p, z := ev.Path, int64(ev.Zxid)
	if !within(p, t.root) {
		return nil
	}
	n := t.node(p)
	switch ev.Type {
	case client.EventNodeCreated:
		if n != nil && n.stat.Czxid >= z {
			return nil // read already, with its subtree
		}
		return t.resync(ctx, p)
	case client.EventNodeDeleted:
		if n == nil || n.stat.Czxid > z {
			return nil // gone already, or a newer node of that name
		}
		t.replace(p, nil)
		return nil
	case client.EventNodeDataChanged:
		if n == nil {
			// Not here: its creation was missed (or it is gone, and
			// the read finds nothing).
			return t.resync(ctx, p)
		}
		if n.stat.Mzxid >= z {
			return nil
		}
		data, stat, err := t.c.Get(ctx, p)
		if errors.Is(err, client.ErrNoNode) {
			return nil // its deletion event follows
		}
		if err != nil {
			return err
		}
		if stat.Czxid != n.stat.Czxid {
			return t.resync(ctx, p) // replaced meanwhile
		}
		t.update(p, data, stat)
		return nil
	case client.EventNodeChildrenChanged:
		// A catch-up's "list it again": nodes below were created or
		// deleted while the client was away.
		return t.resync(ctx, p)
	}
	return nil
}

// within reports whether p is root or below it.
func within(p, root string) bool {
	if root == "/" {
		return strings.HasPrefix(p, "/")
	}
	return p == root || (strings.HasPrefix(p, root) && len(p) > len(root) && p[len(root)] == '/')
}

// parentOf returns the parent of a path other than "/".
func parentOf(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i == 0 {
		return "/"
	}
	return p[:i]
}

// node returns the cached node at p, or nil.
func (t *TreeCache) node(p string) *treeNode {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.nodes[p]
}

// resync reads the subtree at p again and makes the cache's equal to it.
// If p's parent is not in the cache (p's creation is reported before the
// cache saw its parent's), it starts from the nearest ancestor that is.
func (t *TreeCache) resync(ctx context.Context, p string) error {
	for p != t.root && t.node(parentOf(p)) == nil {
		p = parentOf(p)
	}
	fresh, err := t.load(ctx, p)
	if err != nil {
		return err
	}
	t.replace(p, fresh)
	t.mu.RLock()
	n := len(t.nodes)
	t.mu.RUnlock()
	if n > t.maxNodes {
		return fmt.Errorf("recipes: tree cache %s: %d nodes: %w", t.root, n, ErrTreeTooLarge)
	}
	return nil
}

// load reads the subtree at p, level by level, and returns its nodes by
// path (none if p does not exist). Nodes deleted during the read are left
// out; nodes created during it may be, and their events follow.
func (t *TreeCache) load(ctx context.Context, p string) (map[string]*treeNode, error) {
	fresh := map[string]*treeNode{}
	for level := []string{p}; len(level) > 0; {
		reads, err := readNodes(ctx, t.c, level, true)
		if err != nil {
			return nil, err
		}
		var next []string
		for _, r := range reads {
			if r.err != nil {
				continue
			}
			fresh[r.path] = &treeNode{data: r.data, stat: r.stat, children: map[string]struct{}{}}
			for _, name := range r.children {
				next = append(next, znode.Join(r.path, name))
			}
		}
		if len(fresh)+len(next) > t.maxNodes {
			return nil, fmt.Errorf("more than %d nodes: %w", t.maxNodes, ErrTreeTooLarge)
		}
		level = next
	}
	for path := range fresh {
		if path == p {
			continue
		}
		if parent := fresh[parentOf(path)]; parent != nil {
			parent.children[znode.Base(path)] = struct{}{}
		}
	}
	return fresh, nil
}

// depthOrder orders paths parents first.
func depthOrder(a, b string) int {
	return cmp.Or(cmp.Compare(strings.Count(a, "/"), strings.Count(b, "/")), strings.Compare(a, b))
}

// replace makes the cache's subtree at p equal to fresh (gone, if fresh
// is empty), reporting each change: removals children first, then
// additions and updates parents first.
func (t *TreeCache) replace(p string, fresh map[string]*treeNode) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var old []string
	var walk func(string)
	walk = func(q string) {
		n := t.nodes[q]
		if n == nil {
			return
		}
		old = append(old, q)
		for name := range n.children {
			walk(znode.Join(q, name))
		}
	}
	walk(p)
	slices.SortFunc(old, func(a, b string) int { return depthOrder(b, a) })
	for _, q := range old {
		n := t.nodes[q]
		if f := fresh[q]; f == nil || f.stat.Czxid != n.stat.Czxid {
			delete(t.nodes, q)
			t.emitLocked(TreeEvent{Type: TreeNodeRemoved, Path: q, Data: n.data, Stat: n.stat})
		}
	}
	paths := make([]string, 0, len(fresh))
	for q := range fresh {
		paths = append(paths, q)
	}
	slices.SortFunc(paths, depthOrder)
	for _, q := range paths {
		f, n := fresh[q], t.nodes[q]
		switch {
		case n == nil:
			t.nodes[q] = f
			t.emitLocked(TreeEvent{Type: TreeNodeAdded, Path: q, Data: f.data, Stat: f.stat})
		case f.stat.Mzxid > n.stat.Mzxid:
			t.nodes[q] = f
			t.emitLocked(TreeEvent{Type: TreeNodeUpdated, Path: q, Data: f.data, Stat: f.stat})
		default:
			// Data unchanged: take the fresher children (and Stat,
			// unless it is older, which reads that never go back
			// rule out).
			if f.stat.Mzxid < n.stat.Mzxid {
				f.stat = n.stat
			}
			f.data = n.data
			t.nodes[q] = f
		}
	}
	if p == t.root {
		return
	}
	if parent := t.nodes[parentOf(p)]; parent != nil {
		if fresh[p] != nil {
			parent.children[znode.Base(p)] = struct{}{}
		} else {
			delete(parent.children, znode.Base(p))
		}
	}
}

// update records a newer state of the node at p's data.
func (t *TreeCache) update(p string, data []byte, stat client.Stat) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.nodes[p]
	if n == nil || stat.Mzxid <= n.stat.Mzxid {
		return
	}
	t.nodes[p] = &treeNode{data: data, stat: stat, children: n.children}
	t.emitLocked(TreeEvent{Type: TreeNodeUpdated, Path: p, Data: data, Stat: stat})
}

// emitLocked queues ev for the consumer, or ends the stream if it is full.
func (t *TreeCache) emitLocked(ev TreeEvent) {
	if t.eventsClosed {
		return
	}
	ev.Data = bytes.Clone(ev.Data)
	select {
	case t.events <- ev:
	default:
		t.eventsClosed, t.eventsErr = true, ErrTreeEventsOverflow
		close(t.events)
	}
}

// closeEvents ends the event stream when the cache ends.
func (t *TreeCache) closeEvents() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.eventsClosed {
		t.eventsClosed = true
		close(t.events)
	}
}

// Get returns the cached data and Stat of the node at path; ok is false if
// the cache holds no such node. The data is the caller's.
func (t *TreeCache) Get(path string) (data []byte, stat client.Stat, ok bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	n := t.nodes[path]
	if n == nil {
		return nil, client.Stat{}, false
	}
	return bytes.Clone(n.data), n.stat, true
}

// Children returns the names of the cached children of the node at path,
// sorted; ok is false if the cache holds no such node.
func (t *TreeCache) Children(path string) ([]string, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	n := t.nodes[path]
	if n == nil {
		return nil, false
	}
	names := make([]string, 0, len(n.children))
	for name := range n.children {
		names = append(names, name)
	}
	slices.Sort(names)
	return names, true
}

// Events returns the stream of the cache's changes, in order. It is
// closed when the cache ends (Err) or when its consumer fell more than
// its buffer behind (EventsErr).
func (t *TreeCache) Events() <-chan TreeEvent { return t.events }

// EventsErr returns ErrTreeEventsOverflow if the event stream ended
// because its consumer fell behind, else nil.
func (t *TreeCache) EventsErr() error {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.eventsErr
}

// Close ends the cache and removes its watch from the member. It waits
// for the cache's goroutine to finish, or for ctx.
func (t *TreeCache) Close(ctx context.Context) error { return t.r.close(ctx) }

// Err returns nil while the cache is kept current, then why it stopped:
// ErrWatchClosed after Close, the context's error, the session's, or
// ErrTreeTooLarge.
func (t *TreeCache) Err() error { return t.r.Err() }
