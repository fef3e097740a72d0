package recipes

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/arbor-coord/arbor/client"
	"github.com/arbor-coord/arbor/recipes/internal/znode"
)

// Mutex is a fair distributed lock: contenders line up as ephemeral
// sequential nodes under a directory node and take the lock in the order
// they came, each watching only the node just before its own, so that a
// release wakes one waiter and not all of them.
//
// A Mutex value is one contender. Its methods may be called from any
// goroutine, but not at the same time: a call that starts while another is
// running on the same value returns ErrBusy. Several holders in one process
// use several values (on one Client or several). A directory is for one
// kind of lock: do not mix Mutex, RWMutex and Semaphore values on one.
//
// # Fencing
//
// Holding the lock means the cluster has granted it; it cannot mean that no
// one else acts on the guarded resource at the same moment. A holder cut
// off from the cluster learns that its session ended (and Lost is closed)
// only when its session timeout has passed without contact, while the
// cluster may already have expired the session and granted the lock to the
// next contender. Token returns a fencing token that closes this gap: the
// tokens of successive holders of one lock strictly increase, so the
// resource, told the token with every request, refuses a request whose
// token is lower than the highest it has seen.
type Mutex struct {
	l lease
}

// NewMutex returns a contender for the lock kept under dir on c's session.
// The directory is created (as a container node, with any missing
// ancestors) when it is first needed. A dir that is not a valid path is
// reported by the first call.
func NewMutex(c *client.Client, dir string) *Mutex {
	return &Mutex{l: newLease(c, dir)}
}

// mutexTag names a Mutex's nodes: PREFIX "lock-" SEQUENCE.
const mutexTag = "lock-"

// firstInLine holds the lock when no node is before its own, and otherwise
// waits for its immediate predecessor.
func firstInLine(line []contender, i int) (bool, string) {
	if i == 0 {
		return true, ""
	}
	return false, line[i-1].name
}

// Lock waits until the lock is held. When ctx ends first, Lock removes its
// node from the line and returns ctx's error; when the session ends, it
// returns the session's error (matching client.ErrSessionExpired or
// client.ErrClosed). It returns ErrHeld if this value holds the lock
// already, and ErrLockLost if its node was deleted by someone else while it
// waited.
func (m *Mutex) Lock(ctx context.Context) error {
	return m.l.acquire(ctx, "lock", mutexTag, []string{mutexTag}, firstInLine, true, nil)
}

// TryLock takes the lock if no one holds it or waits for it, and returns
// ErrLocked at once (having removed its node) otherwise. Its other errors
// are Lock's.
func (m *Mutex) TryLock(ctx context.Context) error {
	return m.l.acquire(ctx, "trylock", mutexTag, []string{mutexTag}, firstInLine, false, nil)
}

// Unlock releases the lock by deleting its node. It returns ErrNotLocked if
// this value does not hold the lock. If the lock had been lost already (the
// session ended, or someone deleted the node), the value no longer holds it
// and Unlock returns an error matching ErrLockLost, so that the caller
// learns that its hold may not have been exclusive to the end. If the node
// could not be deleted for another reason (ctx ended and the cleanup on a
// fresh context failed too), the value still holds the lock and Unlock
// returns that error: call it again.
func (m *Mutex) Unlock(ctx context.Context) error {
	return m.l.release(ctx, "unlock", mutexTag)
}

// Key returns the path of the lock node while the lock is held, and ""
// otherwise.
func (m *Mutex) Key() string { return m.l.key() }

// Token returns the fencing token of the current hold, the lock node's
// Czxid, or 0 when the lock is not held. See the type's documentation.
func (m *Mutex) Token() int64 { return m.l.fencingToken() }

// Lost returns a channel that is closed when the current hold ends: the
// lock was lost (the session ended, or the lock node was deleted by someone
// else) or released by Unlock. When the lock is not held, the channel is
// closed already.
func (m *Mutex) Lost() <-chan struct{} { return m.l.lostCh() }

// holdRule decides for the contender at index i of line whether it holds
// and, if not, the name of the node to wait for; "" means to wait for any
// change of the directory's children.
type holdRule func(line []contender, i int) (holds bool, waitFor string)

// lossRetryPause spaces out the lost-lock watcher's attempts to set its
// watch again after an error that did not end the session.
const lossRetryPause = 100 * time.Millisecond

// lease is the machinery the locks share: one contender's node under dir,
// its place in line and, while held, a watcher that reports its loss.
type lease struct {
	c      *client.Client
	dir    string
	prefix string

	mu   sync.Mutex
	busy bool // a call is running
	// orphan is set when an attempt ended without knowing whether a node
	// of this prefix is left under dir; the next attempt looks for it.
	orphan bool
	// While held: the node's name and tag, its Czxid, the channel closed
	// when the hold ends, and the watcher's cancel and end.
	name        string
	tag         string
	token       int64
	lost        chan struct{}
	stopWatch   context.CancelFunc
	watcherDone chan struct{}
}

func newLease(c *client.Client, dir string) lease {
	return lease{c: c, dir: dir, prefix: newPrefix()}
}

// begin marks a call running; end marks it done.
func (l *lease) begin(op string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.busy {
		return fmt.Errorf("recipes: %s %s: %w", op, l.dir, ErrBusy)
	}
	l.busy = true
	return nil
}

func (l *lease) end() {
	l.mu.Lock()
	l.busy = false
	l.mu.Unlock()
}

// lineOf returns the children of the recipe that carry one of tags, in
// line.
func lineOf(children []string, tags []string) []contender {
	in := make([]string, 0, len(children))
	for _, name := range children {
		for _, tag := range tags {
			if strings.Contains(name, tag) {
				in = append(in, name)
				break
			}
		}
	}
	return lineUp(in, "")
}

// acquire takes a place in line with a node of tag (or adopts the one an
// earlier attempt left) and, per rule, holds or waits (if wait) until it
// does. Any return without the hold removes the node. If admit is not nil,
// it may refuse the contender, before its node is created and again after.
func (l *lease) acquire(ctx context.Context, op, tag string, tags []string, rule holdRule, wait bool, admit func(context.Context) error) (err error) {
	if err := checkArgs(op, l.c, l.dir); err != nil {
		return err
	}
	if err := l.begin(op); err != nil {
		return err
	}
	defer l.end()
	if l.name != "" {
		return fmt.Errorf("recipes: %s %s: %w", op, l.dir, ErrHeld)
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("recipes: %s %s: %w", op, l.dir, err)
		}
	}()
	if err := l.c.Err(); err != nil {
		return err
	}
	if admit != nil {
		if err := admit(ctx); err != nil {
			return err
		}
	}
	name, token, err := l.enter(ctx, tag)
	if err != nil {
		return err
	}
	held := false
	defer func() {
		if !held {
			l.abandon(ctx, name)
		}
	}()
	if admit != nil {
		if err := admit(ctx); err != nil {
			return err
		}
	}
	// watchKids: the rule waits for any change of the children, so the
	// listing must come with its watch (ChildrenW), or a change between a
	// plain listing and a later watch would be missed for good.
	watchKids := false
	for {
		var children []string
		var kids <-chan client.Event
		if watchKids {
			children, _, kids, err = l.c.ChildrenW(ctx, l.dir)
		} else {
			children, _, err = l.c.Children(ctx, l.dir)
		}
		if err != nil && !errors.Is(err, client.ErrNoNode) {
			return err
		}
		line := lineOf(children, tags)
		i := indexOf(line, name)
		if i < 0 {
			if err := l.c.Err(); err != nil {
				return err
			}
			return fmt.Errorf("%w: node %s was deleted while it waited", ErrLockLost, znode.Join(l.dir, name))
		}
		holds, waitFor := rule(line, i)
		if holds {
			held = true
			l.hold(name, tag, token)
			return nil
		}
		if !wait {
			return ErrLocked
		}
		switch {
		case waitFor != "":
			err = waitGone(ctx, l.c, znode.Join(l.dir, waitFor))
		case kids == nil:
			watchKids = true // list again, with the watch
		default:
			err = waitEvent(ctx, kids)
		}
		if err != nil {
			return err
		}
	}
}

// enter returns the name and Czxid of this value's node of tag under dir:
// one an earlier attempt left (protected mode: its outcome was unknown, so
// it is adopted rather than left to block the line), or a new one.
func (l *lease) enter(ctx context.Context, tag string) (string, int64, error) {
	if l.orphan {
		// Sync, so that a create of ours still in flight is applied (or
		// refused) before we look for it.
		if err := l.c.Sync(ctx, l.dir); err != nil {
			return "", 0, err
		}
		own, err := findOwn(ctx, l.c, l.dir, l.prefix)
		if err != nil {
			return "", 0, err
		}
		adopt := ""
		for _, o := range own {
			if adopt == "" && strings.HasPrefix(o.name, l.prefix+tag) {
				adopt = o.name
				continue
			}
			// Another mode's node, or a second one: it would only hold
			// up the line.
			if err := l.c.Delete(ctx, znode.Join(l.dir, o.name), -1); err != nil && !errors.Is(err, client.ErrNoNode) {
				return "", 0, err
			}
		}
		if adopt != "" {
			stat, err := l.c.Exists(ctx, znode.Join(l.dir, adopt))
			if err == nil {
				l.orphan = false
				return adopt, stat.Czxid, nil
			}
			if !errors.Is(err, client.ErrNoNode) {
				return "", 0, err
			}
		}
		l.orphan = false
	}
	name, stat, err := createSeq(ctx, l.c, l.dir, l.prefix, tag, nil, client.ModeEphemeralSequential)
	if err != nil {
		// createSeq cleaned up, but its cleanup may have failed.
		l.orphan = true
		return "", 0, err
	}
	return name, stat.Czxid, nil
}

// abandon deletes the node name, on a fresh bounded context if ctx has
// ended. If that fails, the next attempt looks for it.
func (l *lease) abandon(ctx context.Context, name string) {
	path := znode.Join(l.dir, name)
	var err error
	if ctx.Err() == nil {
		err = l.c.Delete(ctx, path, -1)
	}
	if ctx.Err() != nil {
		znode.Cleanup(ctx, l.c, func(ctx context.Context) error {
			err = l.c.Delete(ctx, path, -1)
			return err
		})
	}
	if err != nil && !errors.Is(err, client.ErrNoNode) && l.c.Err() == nil {
		l.orphan = true
	}
}

// waitEvent waits for a one-shot watch of the children to fire or to be
// closed without an event (the session ended, or another waiter of this
// client removed the watch): either way the caller looks again, and sees
// the session's end. When ctx ends first the watch is left to fire on the
// next change: removing it would take it from every other waiter of this
// client on the same directory.
func waitEvent(ctx context.Context, ch <-chan client.Event) error {
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// hold records the hold of node name and starts the watcher that closes
// lost when the hold is lost.
func (l *lease) hold(name, tag string, token int64) {
	wctx, cancel := context.WithCancel(context.Background())
	lost, done := make(chan struct{}), make(chan struct{})
	l.mu.Lock()
	l.name, l.tag, l.token = name, tag, token
	l.lost, l.stopWatch, l.watcherDone = lost, cancel, done
	l.mu.Unlock()
	go watchLoss(wctx, l.c, znode.Join(l.dir, name), lost, done)
}

// watchLoss closes lost when the node at path is deleted or the session
// ends, and returns then or when ctx ends; done is closed when it returns.
func watchLoss(ctx context.Context, c *client.Client, path string, lost, done chan<- struct{}) {
	defer close(done)
	for {
		_, _, ch, err := c.GetW(ctx, path)
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, client.ErrNoNode) || c.Err() != nil:
			close(lost)
			return
		case err != nil:
			// Neither the node's end nor the session's: try again.
			t := time.NewTimer(lossRetryPause)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return
			}
			continue
		}
		select {
		case ev, ok := <-ch:
			if ok && ev.Type == client.EventNodeDeleted {
				close(lost)
				return
			}
			// A data change, or the watch removed (by another waiter of
			// this client on the same path) or the session ended: the
			// next GetW tells which.
		case <-c.Done():
			close(lost)
			return
		case <-ctx.Done():
			return
		}
	}
}

// release deletes the held node of tag and ends the hold.
func (l *lease) release(ctx context.Context, op, tag string) error {
	if err := l.begin(op); err != nil {
		return err
	}
	defer l.end()
	if l.name == "" || l.tag != tag {
		return fmt.Errorf("recipes: %s %s: %w", op, l.dir, ErrNotLocked)
	}
	path := znode.Join(l.dir, l.name)
	lostBefore := isClosed(l.lost)
	var err error
	sent := ctx.Err() == nil
	if sent {
		err = l.c.Delete(ctx, path, -1)
	}
	unknown := false
	if ctx.Err() != nil && (!sent || errors.Is(err, ctx.Err())) {
		// The delete was never sent, or its outcome is unknown: make
		// sure on a fresh context, as the caller cannot.
		unknown = sent
		znode.Cleanup(ctx, l.c, func(ctx context.Context) error {
			err = l.c.Delete(ctx, path, -1)
			return err
		})
	}
	lost := lostBefore
	switch {
	case err == nil:
	case errors.Is(err, client.ErrNoNode):
		// Deleted by someone else, unless by our own first delete,
		// whose outcome we did not learn.
		lost = lost || !unknown
	case l.c.Err() != nil:
		lost = true // gone with the session
	default:
		return fmt.Errorf("recipes: %s %s: %w", op, path, err)
	}
	l.drop()
	if lost {
		return fmt.Errorf("recipes: %s %s: %w", op, path, ErrLockLost)
	}
	return nil
}

// drop ends the hold: it stops the watcher and closes lost if the watcher
// had not.
func (l *lease) drop() {
	l.stopWatch()
	<-l.watcherDone
	l.mu.Lock()
	defer l.mu.Unlock()
	if !isClosed(l.lost) {
		close(l.lost)
	}
	l.name, l.tag, l.token = "", "", 0
	l.lost, l.stopWatch, l.watcherDone = nil, nil, nil
}

func (l *lease) key() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.name == "" {
		return ""
	}
	return znode.Join(l.dir, l.name)
}

func (l *lease) fencingToken() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.token
}

func (l *lease) lostCh() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lost == nil {
		ch := make(chan struct{})
		close(ch)
		return ch
	}
	return l.lost
}

// isClosed reports whether ch is closed; only its closer may act on a false.
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
