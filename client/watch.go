package client

import (
	"context"
	"errors"

	"github.com/arbor-coord/arbor/internal/errcode"
	"github.com/arbor-coord/arbor/internal/wire"
	"github.com/arbor-coord/arbor/internal/zpath"
)

// ErrWatcherOverflow ends a Watcher whose consumer fell more than its
// buffer (WithWatchBuffer) behind: rather than drop an event silently, the
// client closes the Watcher's channel and Err returns this error.
var ErrWatcherOverflow = errors.New("arbor: watcher fell behind its buffer")

// Watcher is a persistent watch set by AddWatch. Its events arrive on
// Events until Close, the end of the session, or an overflow; Err then
// says why the channel was closed.
type Watcher struct {
	c   *Client
	key watchKey
	ch  chan Event
	err error // set under c.mu when the watcher ends
}

// Events returns the channel of the watch's events, closed when the
// watcher ends.
func (w *Watcher) Events() <-chan Event { return w.ch }

// Err returns nil while the watcher runs, ErrClosed after Close, the
// session's error after it ended, or ErrWatcherOverflow.
func (w *Watcher) Err() error {
	w.c.mu.Lock()
	defer w.c.mu.Unlock()
	return w.err
}

// Close ends the watcher: its channel is closed at once, and the member is
// asked to remove the watch unless another Watcher of this client shares
// it. Close after the watcher ended returns nil.
func (w *Watcher) Close(ctx context.Context) error {
	c := w.c
	c.mu.Lock()
	ended := w.err != nil
	c.endWatcherLocked(w, ErrClosed)
	c.mu.Unlock()
	if ended {
		return nil
	}
	cl := &call{op: "removewatches", path: w.key.path, req: &wire.Request{Op: &wire.Request_RemoveWatches{RemoveWatches: &wire.RemoveWatches{
		Path: w.key.path, Kinds: []wire.WatchKind{w.key.kind}}}}}
	// Decided in do, under the lock and in transmission order: an AddWatch
	// for the same key sent earlier and not yet answered keeps the watch.
	cl.precheck = func() bool { return len(c.persistent[w.key]) == 0 && c.pendingAdds[w.key] == 0 }
	_, err := c.do(ctx, cl)
	if errors.Is(err, errcode.NoWatcher) || errors.Is(err, ErrClosed) || errors.Is(err, errcode.SessionExpired) {
		err = nil
	}
	return err
}

// AddWatch sets a persistent watch on path: with recursive false, every
// event of the node (NodeCreated, NodeDeleted, NodeDataChanged,
// NodeChildrenChanged); with recursive true, NodeCreated, NodeDeleted and
// NodeDataChanged of the node and of every node below it. The node need not
// exist. The watch lasts until the Watcher is closed or the session ends.
func (c *Client) AddWatch(ctx context.Context, path string, recursive bool) (*Watcher, error) {
	if err := checkPath("addwatch", path); err != nil {
		return nil, err
	}
	kind := wire.WatchKind_WATCH_KIND_PERSISTENT
	if recursive {
		kind = wire.WatchKind_WATCH_KIND_PERSISTENT_RECURSIVE
	}
	w := &Watcher{c: c, key: watchKey{path, kind}, ch: make(chan Event, c.cfg.watchBuffer)}
	cl := &call{op: "addwatch", path: path, watcher: w, req: &wire.Request{Op: &wire.Request_AddWatch{AddWatch: &wire.AddWatch{Path: path, Kind: kind}}}}
	if _, err := c.do(ctx, cl); err != nil {
		return nil, err
	}
	return w, nil
}

// WatchKind selects one-shot watches for RemoveWatches.
type WatchKind int32

// The kinds of one-shot watches. Persistent watches are not among them:
// Watcher.Close ends those.
const (
	// WatchData is the watch GetW sets, and ExistsW whether or not the
	// node existed.
	WatchData = WatchKind(wire.WatchKind_WATCH_KIND_DATA)
	// WatchChildren is the watch ChildrenW sets.
	WatchChildren = WatchKind(wire.WatchKind_WATCH_KIND_CHILDREN)
)

// RemoveWatches removes this session's one-shot watches of kinds on path
// (of both kinds if none is given); their channels are closed without an
// event. If the member had no such watch, the error matches ErrNoWatcher.
// Persistent watches on path are left alone.
func (c *Client) RemoveWatches(ctx context.Context, path string, kinds ...WatchKind) error {
	if err := checkPath("removewatches", path); err != nil {
		return err
	}
	if len(kinds) == 0 {
		kinds = []WatchKind{WatchData, WatchChildren}
	}
	var wk []wire.WatchKind
	for _, k := range kinds {
		switch k {
		case WatchData:
			// The member keeps DATA and EXISTS as one watch, the client
			// apart (see fireLocked): name both.
			wk = append(wk, wire.WatchKind_WATCH_KIND_DATA, wire.WatchKind_WATCH_KIND_EXISTS)
		case WatchChildren:
			wk = append(wk, wire.WatchKind_WATCH_KIND_CHILDREN)
		default:
			return badArgs("removewatches", path, "unknown watch kind")
		}
	}
	// The channels are closed as the response arrives (answerLocked), so a
	// watch set by a read sent after this call survives it.
	_, err := c.do(ctx, &call{op: "removewatches", path: path, req: &wire.Request{Op: &wire.Request_RemoveWatches{RemoveWatches: &wire.RemoveWatches{
		Path: path, Kinds: wk}}}})
	return err
}

// closeWatchesLocked ends the one-shot watches of key without an event.
func (c *Client) closeWatchesLocked(key watchKey) {
	for _, ch := range c.watches[key] {
		close(ch)
	}
	delete(c.watches, key)
}

// endWatcherLocked removes w and closes its channel, once.
func (c *Client) endWatcherLocked(w *Watcher, err error) {
	if w.err != nil {
		return
	}
	w.err = err
	close(w.ch)
	ws := c.persistent[w.key]
	for i, x := range ws {
		if x == w {
			ws = append(ws[:i:i], ws[i+1:]...)
			break
		}
	}
	if len(ws) == 0 {
		delete(c.persistent, w.key)
	} else {
		c.persistent[w.key] = ws
	}
}

// firePersistentLocked delivers ev to the persistent watchers it fired: on
// its path, and for a recursive watch on its path or an ancestor.
func (c *Client) firePersistentLocked(ev *wire.Event, out Event) {
	var targets []*Watcher
	for _, k := range ev.Kinds {
		switch k {
		case wire.WatchKind_WATCH_KIND_PERSISTENT:
			targets = append(targets, c.persistent[watchKey{ev.Path, k}]...)
		case wire.WatchKind_WATCH_KIND_PERSISTENT_RECURSIVE:
			for p := ev.Path; ; p = zpath.Parent(p) {
				targets = append(targets, c.persistent[watchKey{p, k}]...)
				if p == "/" {
					break
				}
			}
		}
	}
	for _, w := range targets {
		select {
		case w.ch <- out:
		default:
			c.log.Warn("arbor: watcher overflow; closing it", "path", w.key.path)
			c.endWatcherLocked(w, ErrWatcherOverflow)
		}
	}
}
