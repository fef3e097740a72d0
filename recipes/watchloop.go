package recipes

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/arbor-coord/arbor/client"
	"github.com/arbor-coord/arbor/recipes/internal/znode"
)

// The shared machinery of the recipes that mirror nodes through a
// persistent watch (Config, GroupWatch, TreeCache): the goroutine that owns
// the mirror, the watch it re-adds after an overflow, and the batched reads.

// ErrWatchClosed is what Err returns after Close of a Config, GroupWatch
// or TreeCache.
var ErrWatchClosed = errors.New("recipes: closed")

const (
	// readBatchOps bounds the reads of one ReadMulti.
	readBatchOps = 128
	// readBatchBytes bounds the data one ReadMulti of GetOps is expected
	// to return, well under the protocol's 4 MiB frame, judged from the
	// nodes' DataLength read just before. A single node larger than this
	// is read on its own.
	readBatchBytes = 1 << 20
	// drainMax bounds the events taken from a watcher in one batch.
	drainMax = 1024
)

// runner owns the goroutine of a watching recipe value: it starts it,
// cancels it on Close, and records why it ended.
type runner struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex
	closed bool
	err    error
}

// startRunner runs loop on a context derived from ctx. loop must return
// when its context ends; whatever it returns becomes Err (ErrWatchClosed
// if Close ended it), and then ended runs (to close the value's channels,
// so that a consumer who sees them closed finds Err set).
func startRunner(ctx context.Context, loop func(ctx context.Context) error, ended func()) *runner {
	ctx, cancel := context.WithCancel(ctx)
	r := &runner{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		defer cancel()
		err := loop(ctx)
		defer ended()
		r.mu.Lock()
		defer r.mu.Unlock()
		switch {
		case r.closed:
			r.err = ErrWatchClosed
		case err == nil:
			// A loop ends only for a reason; nil would read as "running".
			r.err = ErrWatchClosed
		default:
			r.err = err
		}
	}()
	return r
}

// Err returns nil while the loop runs, then why it ended.
func (r *runner) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// close ends the loop and waits for it, or for ctx.
func (r *runner) close(ctx context.Context) error {
	r.mu.Lock()
	r.closed = r.err == nil || r.closed
	r.mu.Unlock()
	r.cancel()
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// persistentWatch is a persistent watch that is added again when the
// client ends it for an overflow, so that a mirror falls back to a full
// re-read instead of dying.
type persistentWatch struct {
	c         *client.Client
	path      string
	recursive bool
	w         *client.Watcher
}

// addPersistent sets a persistent watch on path.
func addPersistent(ctx context.Context, c *client.Client, path string, recursive bool) (*persistentWatch, error) {
	w, err := c.AddWatch(ctx, path, recursive)
	if err != nil {
		return nil, err
	}
	return &persistentWatch{c: c, path: path, recursive: recursive, w: w}, nil
}

// events returns the channel of the current Watcher.
func (p *persistentWatch) events() <-chan client.Event { return p.w.Events() }

// batch returns first and the events queued behind it (at most drainMax in
// all), without waiting.
func (p *persistentWatch) batch(first client.Event) []client.Event {
	evs := []client.Event{first}
	for len(evs) < drainMax {
		select {
		case ev, ok := <-p.w.Events():
			if !ok {
				return evs
			}
			evs = append(evs, ev)
		default:
			return evs
		}
	}
	return evs
}

// ended handles the close of the Watcher's channel: after an overflow it
// adds the watch again and returns nil (the caller must then re-read
// everything it mirrors: events were lost); otherwise it returns why the
// watch ended.
func (p *persistentWatch) ended(ctx context.Context) error {
	err := p.w.Err()
	if !errors.Is(err, client.ErrWatcherOverflow) {
		if err == nil {
			err = fmt.Errorf("recipes: watch on %s ended", p.path)
		}
		return err
	}
	w, err := p.c.AddWatch(ctx, p.path, p.recursive)
	if err != nil {
		return err
	}
	p.w = w
	return nil
}

// close removes the watch, on a fresh bounded context (the loop's own has
// usually ended).
func (p *persistentWatch) close(ctx context.Context) {
	znode.Cleanup(ctx, p.c, p.w.Close)
}

// mailbox holds the newest undelivered value of a coalescing stream: a
// newer value replaces an undelivered older one, so a slow consumer never
// blocks the loop and always gets the latest.
type mailbox[T any] struct {
	v    T
	full bool
}

// put replaces the undelivered value.
func (m *mailbox[T]) put(v T) { m.v, m.full = v, true }

// sendOn returns out while a value waits, else nil (a nil channel's case
// never fires in a select).
func (m *mailbox[T]) sendOn(out chan T) chan T {
	if m.full {
		return out
	}
	return nil
}

// sent empties the mailbox after its value was delivered.
func (m *mailbox[T]) sent() {
	var zero T
	m.v, m.full = zero, false
}

// nodeRead is one node read by readNodes.
type nodeRead struct {
	path     string
	data     []byte
	stat     client.Stat
	children []string // with withChildren only
	err      error    // ErrNoNode for a node missing
}

// readNodes reads the data and Stat (and, withChildren, the children) of
// paths in a few ReadMultis: first the Stats (or children lists), whose
// DataLength sizes the batches of GetOps that follow, so that no response
// nears the frame limit. A node missing in either round has err ErrNoNode,
// one the caller may not read ErrNoAuth: the mirrors leave both out (the
// member sends no events of a node the session may not read either).
// The reads are not of one state; the mirrors' watches correct what
// changes in between.
func readNodes(ctx context.Context, c *client.Client, paths []string, withChildren bool) ([]nodeRead, error) {
	out := make([]nodeRead, len(paths))
	for i, p := range paths {
		out[i].path = p
	}
	for lo := 0; lo < len(paths); lo += readBatchOps {
		hi := min(lo+readBatchOps, len(paths))
		ops := make([]client.ReadOp, 0, hi-lo)
		for _, p := range paths[lo:hi] {
			if withChildren {
				ops = append(ops, client.ChildrenOp(p))
			} else {
				ops = append(ops, client.ExistsOp(p))
			}
		}
		res, err := c.ReadMulti(ctx, ops...)
		if err != nil {
			return nil, err
		}
		for i, r := range res {
			out[lo+i].stat, out[lo+i].children, out[lo+i].err = r.Stat, r.Children, r.Err
		}
	}
	var idx []int
	var ops []client.ReadOp
	size := 0
	flush := func() error {
		if len(ops) == 0 {
			return nil
		}
		res, err := c.ReadMulti(ctx, ops...)
		if err != nil {
			return err
		}
		for i, r := range res {
			n := &out[idx[i]]
			n.data, n.stat, n.err = r.Data, r.Stat, r.Err
		}
		idx, ops, size = idx[:0], ops[:0], 0
		return nil
	}
	for i := range out {
		if out[i].err != nil {
			continue
		}
		n := int(out[i].stat.DataLength)
		if len(ops) > 0 && (len(ops) == readBatchOps || size+n > readBatchBytes) {
			if err := flush(); err != nil {
				return nil, err
			}
		}
		idx, ops, size = append(idx, i), append(ops, client.GetOp(out[i].path)), size+n
	}
	if err := flush(); err != nil {
		return nil, err
	}
	for i := range out {
		if out[i].err != nil && !errors.Is(out[i].err, client.ErrNoNode) && !errors.Is(out[i].err, client.ErrNoAuth) {
			return nil, out[i].err
		}
	}
	return out, nil
}
