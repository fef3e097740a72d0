package recipes

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/arbor-coord/arbor/client"
	"github.com/arbor-coord/arbor/recipes/internal/znode"
)

var (
	// ErrEmpty is returned by TryTake when the queue holds no item.
	ErrEmpty = errors.New("recipes: queue empty")
	// ErrUnknownOutcome is returned (wrapped, with the session's error)
	// when the session ended while a write a recipe had decided on was in
	// flight: it may have been applied or not. The error says which
	// write, and what the caller holds.
	ErrUnknownOutcome = errors.New("recipes: outcome unknown")
)

const (
	// itemTag starts the name of every queue item.
	itemTag = "item-"
	// priorityDigits is the width of a priority item's biased priority:
	// a priority p is written as p - math.MinInt32, 0 to 2^32-1.
	priorityDigits = 10
	// maxDirAttempts bounds how often a Put makes the queue's directory
	// again when it keeps vanishing (a container reaped as it empties).
	maxDirAttempts = 5
)

// Queue is a distributed FIFO queue: items are persistent sequential nodes
// dir/item-<seq>, taken in the order they were put. An item outlives the
// session that put it. A Queue is safe for concurrent use, and any number
// of clients may put and take on the same dir.
//
// Every item is taken at most once, and none is lost while the sessions
// live: Put is applied exactly once (the client retries it across
// reconnects), and Take deletes the item it read, conditional on its
// version, so two takers never both get it. The outcome is unknown in two
// cases only, both documented on the methods: Put's ctx ending while its
// create is in flight, and the session ending while Take deletes the item
// it chose.
//
// The largest item is the member's largest node data (server.Config
// MaxDataBytes); a larger one gets the member's error.
type Queue struct{ q itemQueue }

// NewQueue returns the queue at dir. It reaches no member; dir (a
// container, with any missing ancestors) is made by the first Put. A nil
// c, or a dir that is not a valid path or is the root, is reported by
// every call (with an error matching client.ErrBadArguments), which then
// changes nothing.
func NewQueue(c *client.Client, dir string) *Queue {
	return &Queue{itemQueue{c: c, dir: dir, kind: "queue", order: fifoOrder, err: checkNodeArgs("NewQueue", c, dir)}}
}

// Put appends an item holding data (empty data is an empty item). If ctx
// ends while the create is in flight, Put returns the context's error and
// the item may or may not have been put; a ctx that does not end early
// (the client retries across reconnects until the session ends) leaves no
// doubt.
func (q *Queue) Put(ctx context.Context, data []byte) error {
	return q.q.put(ctx, itemTag, data)
}

// Take removes the head item and returns its data, waiting until there is
// one. It reads the head, then deletes it conditional on the version read;
// if another taker deleted it first, it tries the next. While the queue is
// empty it waits on one children watch of dir.
//
// Once Take has read an item, its delete runs to its outcome even if ctx
// ends (on a context bounded by the session timeout), and the item is
// returned with a nil error. If the session ends while the delete is in
// flight, Take returns the item's data and an error wrapping
// ErrUnknownOutcome and the session's error: the item may have been taken
// (then only this caller has it) or may still be in the queue (then
// another taker will get it). If ctx ends before an item was chosen, Take
// returns the context's error and no item was taken.
func (q *Queue) Take(ctx context.Context) ([]byte, error) { return q.q.take(ctx, true) }

// TryTake is Take without waiting: it returns ErrEmpty if the queue holds
// no item.
func (q *Queue) TryTake(ctx context.Context) ([]byte, error) { return q.q.take(ctx, false) }

// Len returns the number of items in the queue.
func (q *Queue) Len(ctx context.Context) (int, error) { return q.q.len(ctx) }

// PriorityQueue is a distributed queue whose items are taken lowest
// priority first, and in the order they were put among equal priorities.
// Items are persistent sequential nodes dir/item-<priority>-<seq>, with the
// priority biased to 10 digits so that names order as items do. Apart
// from the order it behaves as Queue does, guarantees included.
type PriorityQueue struct{ q itemQueue }

// NewPriorityQueue returns the priority queue at dir. It reaches no
// member. Wrong arguments are reported as NewQueue's are.
func NewPriorityQueue(c *client.Client, dir string) *PriorityQueue {
	return &PriorityQueue{itemQueue{c: c, dir: dir, kind: "priority queue", order: priorityOrder, err: checkNodeArgs("NewPriorityQueue", c, dir)}}
}

// Put adds an item holding data with priority (lower is taken first), from
// math.MinInt32 to math.MaxInt32; another priority is refused with an error
// matching client.ErrBadArguments. An unknown outcome is as Queue.Put's.
func (q *PriorityQueue) Put(ctx context.Context, data []byte, priority int) error {
	if q.q.err != nil {
		return q.q.err
	}
	if priority < math.MinInt32 || priority > math.MaxInt32 {
		return badArg("PriorityQueue.Put", fmt.Sprintf("priority %d: want %d to %d", priority, math.MinInt32, math.MaxInt32))
	}
	biased := int64(priority) - math.MinInt32
	return q.q.put(ctx, fmt.Sprintf("%s%0*d-", itemTag, priorityDigits, biased), data)
}

// Take removes and returns the item of lowest priority, waiting until
// there is one; see Queue.Take for what happens when ctx or the session
// ends.
func (q *PriorityQueue) Take(ctx context.Context) ([]byte, error) { return q.q.take(ctx, true) }

// TryTake is Take without waiting: it returns ErrEmpty if the queue holds
// no item.
func (q *PriorityQueue) TryTake(ctx context.Context) ([]byte, error) { return q.q.take(ctx, false) }

// Len returns the number of items in the queue.
func (q *PriorityQueue) Len(ctx context.Context) (int, error) { return q.q.len(ctx) }

// itemQueue is what Queue and PriorityQueue share: they differ in how
// items are named and ordered.
type itemQueue struct {
	c    *client.Client
	dir  string
	kind string // for errors
	// order returns the item names among dir's children, head first.
	order func(children []string) []string
	// err is the constructor's argument error, returned by every method.
	err error
}

func (q *itemQueue) put(ctx context.Context, namePrefix string, data []byte) error {
	if q.err != nil {
		return q.err
	}
	for range maxDirAttempts {
		_, err := q.c.Create(ctx, znode.Join(q.dir, namePrefix), data, client.WithMode(client.ModePersistentSequential))
		if err == nil {
			return nil
		}
		if !errors.Is(err, client.ErrNoNode) {
			return fmt.Errorf("recipes: %s %s: put: %w", q.kind, q.dir, err)
		}
		// No directory (never made, or a container reaped once empty).
		if err := znode.EnsureDir(ctx, q.c, q.dir); err != nil {
			return fmt.Errorf("recipes: %s %s: put: %w", q.kind, q.dir, err)
		}
	}
	return fmt.Errorf("recipes: %s %s: put: the directory vanished %d times in a row", q.kind, q.dir, maxDirAttempts)
}

func (q *itemQueue) len(ctx context.Context) (int, error) {
	if q.err != nil {
		return 0, q.err
	}
	children, _, err := q.c.Children(ctx, q.dir)
	if errors.Is(err, client.ErrNoNode) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("recipes: %s %s: len: %w", q.kind, q.dir, err)
	}
	return len(q.order(children)), nil
}

func (q *itemQueue) take(ctx context.Context, wait bool) ([]byte, error) {
	if q.err != nil {
		return nil, q.err
	}
	for {
		children, _, err := q.c.Children(ctx, q.dir)
		if err != nil && !errors.Is(err, client.ErrNoNode) {
			return nil, fmt.Errorf("recipes: %s %s: take: %w", q.kind, q.dir, err)
		}
		if items := q.order(children); len(items) > 0 {
			data, took, err := q.takeFirst(ctx, items)
			if took || err != nil {
				return data, err
			}
			continue // every one was taken by others: look again
		}
		if !wait {
			return nil, fmt.Errorf("recipes: %s %s: take: %w", q.kind, q.dir, ErrEmpty)
		}
		if err := q.waitItems(ctx); err != nil {
			return nil, fmt.Errorf("recipes: %s %s: take: %w", q.kind, q.dir, err)
		}
	}
}

// takeFirst takes the first of items that no other taker takes first.
// took is false if others took them all.
func (q *itemQueue) takeFirst(ctx context.Context, items []string) (data []byte, took bool, err error) {
	for _, name := range items {
		path := znode.Join(q.dir, name)
		data, st, err := q.c.Get(ctx, path)
		if errors.Is(err, client.ErrNoNode) {
			continue // taken by another
		}
		if err != nil {
			return nil, false, fmt.Errorf("recipes: %s %s: take: %w", q.kind, q.dir, err)
		}
		// Chosen: see the delete through even if ctx ends now, or the
		// item would be neither returned nor left for sure. The bound
		// is past the session timeout, by which the client has either
		// had an answer or declared the session expired.
		delCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), q.c.SessionTimeout()+znode.MinCleanup)
		err = q.c.Delete(delCtx, path, st.Version)
		cancel()
		switch {
		case err == nil:
			return data, true, nil
		case errors.Is(err, client.ErrNoNode):
			continue // another taker deleted it first
		case errors.Is(err, client.ErrBadVersion):
			// Someone changed the item since we read it: leave it
			// and look again, so that what we return is what we took.
			return nil, false, nil
		case q.c.Err() != nil || delCtx.Err() != nil:
			return data, false, fmt.Errorf("recipes: %s %s: take %s: %w: the session ended while deleting the item, which may still be in the queue (the data returned is its content): %w",
				q.kind, q.dir, name, ErrUnknownOutcome, err)
		default:
			return nil, false, fmt.Errorf("recipes: %s %s: take %s: %w", q.kind, q.dir, name, err)
		}
	}
	return nil, false, nil
}

// waitItems waits until dir's children change, or dir is created if it is
// missing. It returns nil when there may be items to look at.
func (q *itemQueue) waitItems(ctx context.Context) error {
	children, _, ch, err := q.c.ChildrenW(ctx, q.dir)
	kind := client.WatchChildren
	switch {
	case errors.Is(err, client.ErrNoNode):
		// No directory yet: wait for its creation instead.
		_, ch, err = q.c.ExistsW(ctx, q.dir)
		if err == nil {
			return nil // made meanwhile; its data watch fires at the next Set or delete
		}
		if !errors.Is(err, client.ErrNoNode) {
			return err
		}
		kind = client.WatchData
	case err != nil:
		return err
	case len(q.order(children)) > 0:
		// Items came between the look and the watch, which stays set
		// until dir's next change.
		return nil
	}
	select {
	case <-ch:
		// A change, or the channel closed (RemoveWatches, or the
		// session's end, which the next look reports).
		return nil
	case <-ctx.Done():
		// Take the watch back. Another taker of this client waiting on
		// the same dir sees its channel closed and looks again.
		znode.Cleanup(ctx, q.c, func(ctx context.Context) error { return q.c.RemoveWatches(ctx, q.dir, kind) })
		return ctx.Err()
	}
}

// fifoOrder returns the items among children ordered by sequence.
func fifoOrder(children []string) []string {
	var names []string
	for _, it := range lineUp(children, itemTag) {
		if strings.HasPrefix(it.name, itemTag) {
			names = append(names, it.name)
		}
	}
	return names
}

// priorityItem is a priority queue's item name, parsed.
type priorityItem struct {
	name          string
	priority, seq int64
}

// priorityOrder returns the items among children ordered by priority, then
// sequence. Names of another shape (left by other tools) are not items.
func priorityOrder(children []string) []string {
	var items []priorityItem
	for _, name := range children {
		rest, ok := strings.CutPrefix(name, itemTag)
		if !ok || len(rest) != priorityDigits+1+seqDigits || rest[priorityDigits] != '-' {
			continue
		}
		p, err1 := strconv.ParseUint(rest[:priorityDigits], 10, 64)
		seq, ok := seqOf(rest)
		if err1 != nil || !ok {
			continue
		}
		items = append(items, priorityItem{name, int64(p), seq})
	}
	slices.SortFunc(items, func(a, b priorityItem) int {
		return cmp.Or(cmp.Compare(a.priority, b.priority), cmp.Compare(a.seq, b.seq))
	})
	names := make([]string, len(items))
	for i, it := range items {
		names[i] = it.name
	}
	return names
}
