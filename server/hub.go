package server

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/arbor-coord/arbor/internal/errcode"
	"github.com/arbor-coord/arbor/internal/wire"
	"github.com/arbor-coord/arbor/internal/zpath"
	"github.com/arbor-coord/arbor/tree"
	"github.com/arbor-coord/arbor/watch"
)

// hub joins the applied state to the connections: it owns the member's
// watch registry, knows which connection each session is attached to,
// and turns each applied run into watch events and session notices.
//
// Lock order: view, then mu, then a conn's locks. view is write-locked by
// the state machine while it applies and observes a run, and read-locked
// by every read, so that a read sees a state whose events have all been
// queued on their connections (DESIGN.md, write path step 5).
type hub struct {
	view sync.RWMutex
	tree *tree.Tree
	log  *slog.Logger

	mu        sync.Mutex
	reg       *watch.Registry
	conns     map[watch.WatcherID]*conn
	bySession map[int64]*conn
	next      watch.WatcherID
}

func newHub(log *slog.Logger) *hub {
	return &hub{
		log:       log,
		reg:       watch.New(watch.Config{}),
		conns:     make(map[watch.WatcherID]*conn),
		bySession: make(map[int64]*conn),
	}
}

// register gives a new connection its watcher id.
func (h *hub) register(c *conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.next++
	c.watcher = h.next
	h.conns[c.watcher] = c
}

// attach makes c the connection of session id. A connection the session
// had before is detached (its watches dropped: the client re-registers
// them on c) and told GOODBYE/SessionMoved.
func (h *hub) attach(id int64, c *conn) {
	h.mu.Lock()
	old := h.bySession[id]
	h.bySession[id] = c
	if old != nil && old != c {
		h.reg.RemoveAll(old.watcher)
		delete(h.conns, old.watcher)
	}
	h.mu.Unlock()
	if old != nil && old != c {
		old.close(notice(wire.NoticeKind_NOTICE_KIND_GOODBYE, errcode.SessionMoved, "session resumed on another connection"))
	}
}

// detach forgets a connection that has closed.
func (h *hub) detach(c *conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.reg.RemoveAll(c.watcher)
	delete(h.conns, c.watcher)
	if id := c.sessionID(); id != 0 && h.bySession[id] == c {
		delete(h.bySession, id)
	}
}

// closeAll closes every connection with notice n.
func (h *hub) closeAll(n *wire.Notice) int {
	h.mu.Lock()
	conns := make([]*conn, 0, len(h.conns))
	for _, c := range h.conns {
		conns = append(conns, c)
	}
	h.mu.Unlock()
	for _, c := range conns {
		c.close(n)
	}
	return len(conns)
}

// addWatch registers a watch of c on p. The caller holds view read-locked
// and has just read p, so no event of the state it read can fire it.
func (h *hub) addWatch(c *conn, p string, k watch.Kind) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.conns[c.watcher] != c {
		return nil // detached: the connection is closing
	}
	return h.reg.Add(c.watcher, p, k)
}

// removeWatches removes c's watches of kinds ks on p, reporting whether
// there were any.
func (h *hub) removeWatches(c *conn, p string, ks watch.Kind) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.reg.Remove(c.watcher, p, ks)
}

// stats returns the counts of the watch registry.
func (h *hub) stats() watch.Stats {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.reg.Stats()
}

// observe is the state machine's hook: it runs with view write-locked,
// after the tree applied a run and before any of its waiters is released.
// It fires the run's watch events, in order, and tells the connection of
// every session the run ended.
func (h *hub) observe(batch []tree.Entry, results []tree.Result) {
	var ended []*conn
	h.mu.Lock()
	for i := range results {
		for _, ev := range results[i].Events {
			h.fire(ev)
		}
		cmd := batch[i].Cmd
		if cmd == nil || results[i].Code != errcode.Ok {
			continue
		}
		if cs, ok := cmd.Op.(*tree.CloseSession); ok {
			if c := h.bySession[cs.ID]; c != nil {
				delete(h.bySession, cs.ID)
				h.reg.RemoveAll(c.watcher)
				delete(h.conns, c.watcher)
				if cs.Expired || !c.closing.Load() {
					ended = append(ended, c)
				}
			}
		}
	}
	h.mu.Unlock()
	for _, c := range ended {
		c.close(notice(wire.NoticeKind_NOTICE_KIND_SESSION_EXPIRED, errcode.SessionExpired, "session expired"))
	}
}

// fire delivers one event to the watchers allowed to read its node. The
// caller holds mu.
func (h *hub) fire(ev tree.Event) {
	wev := watch.Event{Type: watch.EventType(ev.Type), Path: ev.Path, Zxid: ev.Zxid}
	deliveries := h.reg.Fire(wev, func(w watch.WatcherID) bool {
		c := h.conns[w]
		return c != nil && tree.Allowed(ev.ACL, c.identities(), tree.PermRead)
	})
	for _, d := range deliveries {
		if c := h.conns[d.Watcher]; c != nil {
			c.sendEvent(wireEvent(wev, d.Kind, false))
		}
	}
}

// wireEvent renders a delivery. DATA and EXISTS are one kind at the member
// (watch.Data); the event lists EXISTS with NODE_CREATED and DATA otherwise.
func wireEvent(ev watch.Event, k watch.Kind, catchUp bool) *wire.Event {
	out := &wire.Event{Type: wire.EventType(ev.Type), Path: ev.Path, Zxid: uint64(ev.Zxid), CatchUp: catchUp}
	if k&watch.Data != 0 {
		if ev.Type == watch.NodeCreated {
			out.Kinds = append(out.Kinds, wire.WatchKind_WATCH_KIND_EXISTS)
		} else {
			out.Kinds = append(out.Kinds, wire.WatchKind_WATCH_KIND_DATA)
		}
	}
	if k&watch.Child != 0 {
		out.Kinds = append(out.Kinds, wire.WatchKind_WATCH_KIND_CHILDREN)
	}
	if k&watch.Persistent != 0 {
		out.Kinds = append(out.Kinds, wire.WatchKind_WATCH_KIND_PERSISTENT)
	}
	if k&watch.PersistentRecursive != 0 {
		out.Kinds = append(out.Kinds, wire.WatchKind_WATCH_KIND_PERSISTENT_RECURSIVE)
	}
	return out
}

// watchKind maps a wire watch kind to the registry's.
func watchKind(k wire.WatchKind) (watch.Kind, bool) {
	switch k {
	case wire.WatchKind_WATCH_KIND_DATA, wire.WatchKind_WATCH_KIND_EXISTS:
		return watch.Data, true
	case wire.WatchKind_WATCH_KIND_CHILDREN:
		return watch.Child, true
	case wire.WatchKind_WATCH_KIND_PERSISTENT:
		return watch.Persistent, true
	case wire.WatchKind_WATCH_KIND_PERSISTENT_RECURSIVE:
		return watch.PersistentRecursive, true
	}
	return 0, false
}

// maxCatchUpNodes bounds the nodes one recursive watch's catch-up visits.
// A subtree larger than this gets a NODE_CHILDREN_CHANGED catch-up event on
// the watched node instead of a per-node account ("list it again").
const maxCatchUpNodes = 100_000

// catchUp re-registers a resumed session's watches on c and returns the
// events the client missed since lastZxid, judged from the current state
// (docs/PROTOCOL.md, Watches, Reconnecting). One-shot watches that fire
// here are not registered. The caller holds view read-locked and queues
// the events right after the ConnectResult, before unlocking.
func (h *hub) catchUp(c *conn, regs []*wire.WatchRegistration, lastZxid uint64, ids []tree.Identity) ([]*wire.Event, error) {
	applied := h.tree.Applied()
	cu := catchUpper{t: h.tree, last: int64(lastZxid), applied: int64(applied), ids: ids}
	for _, r := range regs {
		kind, ok := watchKind(r.GetKind())
		if !ok {
			return nil, fmt.Errorf("%w: watch kind %v", errcode.BadArguments, r.GetKind())
		}
		arm, err := cu.visit(r.GetPath(), r.GetKind())
		if err != nil {
			return nil, err
		}
		if arm {
			if err := h.addWatch(c, r.GetPath(), kind); err != nil {
				return nil, err
			}
		}
	}
	return cu.events, nil
}

// catchUpper derives catch-up events for one connect.
type catchUpper struct {
	t       *tree.Tree
	last    int64
	applied int64
	ids     []tree.Identity
	events  []*wire.Event
}

func (cu *catchUpper) emit(typ tree.EventType, p string, zxid int64, kind wire.WatchKind) {
	cu.events = append(cu.events, &wire.Event{Type: wire.EventType(typ), Path: p, Zxid: uint64(zxid), Kinds: []wire.WatchKind{kind}, CatchUp: true})
}

// readable reports whether the caller may see events of p.
func (cu *catchUpper) readable(p string) bool {
	acl, _, err := cu.t.GetACL(p, []tree.Identity{{Scheme: tree.SchemeSuper}})
	return err == nil && tree.Allowed(acl, cu.ids, tree.PermRead)
}

// visit emits the catch-up events of one registration and reports
// whether the watch stays armed.
func (cu *catchUpper) visit(p string, kind wire.WatchKind) (bool, error) {
	st, err := cu.t.Exists(p)
	missing := errors.Is(err, errcode.NoNode)
	if err != nil && !missing {
		return false, err
	}
	if !missing && !cu.readable(p) {
		return true, nil // stays armed and silent, as a live watch would
	}
	switch kind {
	case wire.WatchKind_WATCH_KIND_DATA:
		switch {
		case missing:
			cu.emit(tree.NodeDeleted, p, cu.applied, kind)
		case st.Mzxid > cu.last:
			cu.emit(tree.NodeDataChanged, p, st.Mzxid, kind)
		default:
			return true, nil
		}
		return false, nil
	case wire.WatchKind_WATCH_KIND_EXISTS:
		if missing {
			return true, nil
		}
		cu.emit(tree.NodeCreated, p, st.Czxid, kind)
		return false, nil
	case wire.WatchKind_WATCH_KIND_CHILDREN:
		switch {
		case missing:
			cu.emit(tree.NodeDeleted, p, cu.applied, kind)
		case st.Pzxid > cu.last:
			cu.emit(tree.NodeChildrenChanged, p, st.Pzxid, kind)
		default:
			return true, nil
		}
		return false, nil
	case wire.WatchKind_WATCH_KIND_PERSISTENT:
		if missing {
			cu.emit(tree.NodeDeleted, p, cu.applied, kind)
			return true, nil
		}
		cu.node(p, st, kind, true)
		return true, nil
	case wire.WatchKind_WATCH_KIND_PERSISTENT_RECURSIVE:
		if missing {
			cu.emit(tree.NodeDeleted, p, cu.applied, kind)
			return true, nil
		}
		return true, cu.subtree(p, st, kind)
	}
	return false, fmt.Errorf("%w: watch kind %v", errcode.BadArguments, kind)
}

// node emits what changed at one existing node: its creation, or else its
// data change; and a change of its children (for a recursive watch only
// when the node is older than the change, since the children created are
// reported themselves).
func (cu *catchUpper) node(p string, st tree.Stat, kind wire.WatchKind, exact bool) {
	created := st.Czxid > cu.last
	switch {
	case created:
		cu.emit(tree.NodeCreated, p, st.Czxid, kind)
	case st.Mzxid > cu.last:
		cu.emit(tree.NodeDataChanged, p, st.Mzxid, kind)
	}
	if st.Pzxid > cu.last && (exact || st.Pzxid > st.Czxid) {
		cu.emit(tree.NodeChildrenChanged, p, st.Pzxid, kind)
	}
}

// subtree walks p and the nodes below it, depth first in path order,
// skipping the subtrees the caller may not read. Subtrees whose pzxid
// shows no change since last and whose root was not modified are still
// walked: a descendant's data change does not show in its ancestors.
func (cu *catchUpper) subtree(root string, st tree.Stat, kind wire.WatchKind) error {
	visited := 0
	var walk func(p string, st tree.Stat) (bool, error)
	walk = func(p string, st tree.Stat) (bool, error) {
		visited++
		if visited > maxCatchUpNodes {
			return false, nil
		}
		cu.node(p, st, kind, false)
		if st.NumChildren == 0 {
			return true, nil
		}
		names, _, err := cu.t.Children(p, cu.ids)
		if errors.Is(err, errcode.NoAuth) || errors.Is(err, errcode.NoNode) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		for _, name := range names {
			child := zpath.Join(p, name)
			cst, err := cu.t.Exists(child)
			if errors.Is(err, errcode.NoNode) {
				continue
			}
			if err != nil {
				return false, err
			}
			if !cu.readable(child) {
				continue
			}
			ok, err := walk(child, cst)
			if err != nil || !ok {
				return ok, err
			}
		}
		return true, nil
	}
	complete, err := walk(root, st)
	if err == nil && !complete {
		cu.emit(tree.NodeChildrenChanged, root, cu.applied, kind)
	}
	return err
}

func notice(kind wire.NoticeKind, code errcode.Code, reason string) *wire.Notice {
	return &wire.Notice{Kind: kind, Code: int32(code), Reason: reason}
}
