package recipes

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/arbor-coord/arbor/client"
	"github.com/arbor-coord/arbor/recipes/internal/znode"
)

// ErrNotEntered is returned by DoubleBarrier.Leave when the participant has
// not entered (or has left already).
var ErrNotEntered = errors.New("recipes: double barrier not entered")

const (
	// readyName is the child of a double barrier's directory that the
	// count-th arrival creates: the waiters watch this one node, not the
	// list of participants, so the barrier opening wakes each once.
	readyName = "ready"
	// participantTag marks the participants' nodes among dir's children.
	participantTag = "p-"
)

// DoubleBarrier lets a group of count participants start together and
// finish together: Enter returns once count participants have entered,
// Leave once every participant has left.
//
// Each participant is a DoubleBarrier value with its own ephemeral,
// sequential node under dir, named with the value's protected prefix. The
// count-th arrival creates dir/ready (persistent), which opens the barrier;
// the last to leave deletes it together with its own node, closing the
// round, so the same dir serves round after round.
//
// A participant whose session ends is no longer counted: if it ends before
// the barrier opens, the others go on waiting for count participants (a
// newcomer takes its place); once the barrier is open it stays open; in
// Leave, it counts as having left.
//
// A participant that arrives while the barrier is open (after it was
// released, before the last one left) joins that round: its Enter returns
// at once, and the others' Leave waits for it to leave too.
//
// A DoubleBarrier is one participant: call Enter, then Leave, then Enter
// again for another round; its methods are not to be called concurrently.
type DoubleBarrier struct {
	c      *client.Client
	dir    string
	count  int
	prefix string
	// err is the constructor's argument error, returned by every method.
	err error

	mu  sync.Mutex
	own string // the name of our node while entered, else ""
}

// NewDoubleBarrier returns a participant of the double barrier of count
// participants at dir. It reaches no member. All participants should use
// the same count. A nil c, a dir that is not a valid path or is the root,
// or a count below 1 is reported by every call (with an error matching
// client.ErrBadArguments), which then changes nothing.
func NewDoubleBarrier(c *client.Client, dir string, count int) *DoubleBarrier {
	err := checkNodeArgs("NewDoubleBarrier", c, dir)
	if err == nil && count < 1 {
		err = badArg("NewDoubleBarrier", fmt.Sprintf("count %d: want 1 or more participants", count))
	}
	return &DoubleBarrier{c: c, dir: dir, count: count, prefix: newPrefix(), err: err}
}

// Enter enters the barrier and waits until count participants have
// entered, or returns at once if the barrier is open (see DoubleBarrier).
//
// If ctx ends first, Enter withdraws (deletes its node on a fresh context
// bounded by the session timeout) and returns the context's error; if the
// barrier opened at that very moment, the others go on without this
// participant. If the session ends, Enter returns its error.
func (b *DoubleBarrier) Enter(ctx context.Context) error {
	if b.err != nil {
		return b.err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.own != "" {
		return fmt.Errorf("recipes: double barrier %s: enter: entered already", b.dir)
	}
	own, err := b.enter(ctx)
	if err != nil {
		// Withdraw, whatever went wrong: a node left behind would be
		// counted by the others. After the session's end this fails at
		// once, and the node went with the session anyway.
		znode.Cleanup(ctx, b.c, func(ctx context.Context) error { return deleteOwn(ctx, b.c, b.dir, b.prefix) })
		return fmt.Errorf("recipes: double barrier %s: enter: %w", b.dir, err)
	}
	b.own = own
	return nil
}

func (b *DoubleBarrier) enter(ctx context.Context) (string, error) {
	ready := znode.Join(b.dir, readyName)
	own, joined, err := b.arrive(ctx)
	if err != nil {
		return "", err
	}
	if joined {
		return own, nil
	}
	for {
		// One consistent look at the participants and the ready node.
		rs, err := b.c.ReadMulti(ctx, client.ChildrenOp(b.dir), client.ExistsOp(ready))
		if err != nil {
			return "", err
		}
		if err := rs[0].Err; err != nil {
			// Our node is under dir: dir is gone only with our session.
			return "", err
		}
		if rs[1].Err == nil {
			return own, nil // opened since we arrived, with us in
		}
		if len(lineUp(rs[0].Children, participantTag)) >= b.count {
			_, err := b.c.Create(ctx, ready, nil)
			if err != nil && !errors.Is(err, client.ErrNodeExists) {
				return "", err
			}
			return own, nil
		}
		_, ch, err := b.c.ExistsW(ctx, ready)
		if err == nil {
			// Created between the look and the watch. The data watch
			// ExistsW set on it goes when the round's last leaver
			// deletes it: one per participant and round.
			return own, nil
		}
		if !errors.Is(err, client.ErrNoNode) {
			return "", err
		}
		select {
		case <-ch:
			// Created, or the channel closed by RemoveWatches or the
			// session's end: look again (a session's end shows there).
		case <-ctx.Done():
			znode.Cleanup(ctx, b.c, func(ctx context.Context) error { return b.c.RemoveWatches(ctx, ready, client.WatchData) })
			return "", ctx.Err()
		}
	}
}

// arrive creates our node. If the barrier is open (dir/ready exists) it
// joins the round in the same Multi that bumps ready's version, so that a
// last leaver that did not see us cannot close the round under us: its
// delete of ready is conditional on the version it saw. joined reports
// whether it joined an open round with others still in it.
func (b *DoubleBarrier) arrive(ctx context.Context) (own string, joined bool, err error) {
	ready := znode.Join(b.dir, readyName)
	res, err := b.c.Multi(ctx,
		client.SetOp(ready, nil, -1),
		client.CreateOp(znode.Join(b.dir, b.prefix+participantTag), nil, client.WithMode(client.ModeEphemeralSequential)))
	if err != nil {
		if ctx.Err() == nil && len(res) > 0 && errors.Is(res[0].Err, client.ErrNoNode) {
			// Not open (or no dir yet): arrive as one of the next round.
			own, _, err := createSeq(ctx, b.c, b.dir, b.prefix, participantTag, nil, client.ModeEphemeralSequential)
			return own, false, err
		}
		return "", false, err // if ctx ended, Enter deletes whatever was created
	}
	own = znode.Base(res[1].Path)
	for {
		rs, err := b.c.ReadMulti(ctx, client.ChildrenOp(b.dir), client.ExistsOp(ready))
		if err != nil {
			return "", false, err
		}
		if rs[0].Err != nil {
			return "", false, rs[0].Err
		}
		if rs[1].Err != nil {
			return own, false, nil // closed since: we wait for the next round
		}
		line := lineUp(rs[0].Children, participantTag)
		if indexOf(line, own) < 0 {
			return "", false, fmt.Errorf("participant node %s deleted by another", own)
		}
		if len(line) > 1 {
			return own, true, nil
		}
		// We alone with ready: a round whose last participant's session
		// ended before it could close the round. Close it, unless someone
		// joined since the look (then ready's version moved: look again),
		// and wait for the next round as its first arrival.
		err = b.c.Delete(ctx, ready, rs[1].Stat.Version)
		if err == nil || errors.Is(err, client.ErrNoNode) {
			return own, false, nil
		}
		if !errors.Is(err, client.ErrBadVersion) {
			return "", false, err
		}
	}
}

// Leave leaves the barrier and waits until every participant has left.
// It follows the classic recipe: the lowest participant waits for the
// highest to go, the others delete their nodes and wait for the lowest, so
// that each deletion wakes one waiter, and the last wakes those waiting
// for it once.
//
// If ctx ends first, Leave returns the context's error: this participant
// may have left already (its node deleted, others do not wait for it) or
// not; call Leave again to finish leaving and waiting. If the session ends,
// Leave returns its error (the participant's node went with the session).
// Leave without a successful Enter returns ErrNotEntered.
func (b *DoubleBarrier) Leave(ctx context.Context) error {
	if b.err != nil {
		return b.err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.own == "" {
		return fmt.Errorf("recipes: double barrier %s: leave: %w", b.dir, ErrNotEntered)
	}
	if err := b.leave(ctx); err != nil {
		return fmt.Errorf("recipes: double barrier %s: leave: %w", b.dir, err)
	}
	b.own = ""
	return nil
}

func (b *DoubleBarrier) leave(ctx context.Context) error {
	ready := znode.Join(b.dir, readyName)
	ownPath := znode.Join(b.dir, b.own)
	for {
		rs, err := b.c.ReadMulti(ctx, client.ChildrenOp(b.dir), client.ExistsOp(ready))
		if err != nil {
			return err
		}
		if errors.Is(rs[0].Err, client.ErrNoNode) {
			return nil // no dir, no participant
		}
		if rs[0].Err != nil {
			return rs[0].Err
		}
		line := lineUp(rs[0].Children, participantTag)
		i := indexOf(line, b.own)
		readyOK := rs[1].Err == nil
		switch {
		case len(line) == 0:
			if readyOK {
				// The round's last participant's session ended before
				// it closed the round: close it, unless someone joined.
				_ = b.c.Delete(ctx, ready, rs[1].Stat.Version)
			}
			return nil
		case i >= 0 && len(line) == 1:
			// The last one: close the round with our node, conditional
			// on no one having joined since the look.
			ops := []client.Op{client.DeleteOp(ownPath, -1)}
			if readyOK {
				ops = append(ops, client.DeleteOp(ready, rs[1].Stat.Version))
			}
			_, err := b.c.Multi(ctx, ops...)
			if err == nil {
				return nil
			}
			if !errors.Is(err, client.ErrBadVersion) && !errors.Is(err, client.ErrNoNode) {
				return err
			}
			// Someone joined, or ready changed: look again.
		case i == 0:
			if err := waitGone(ctx, b.c, znode.Join(b.dir, line[len(line)-1].name)); err != nil {
				return err
			}
		default:
			if i > 0 {
				if err := b.c.Delete(ctx, ownPath, -1); err != nil && !errors.Is(err, client.ErrNoNode) {
					return err
				}
			}
			if err := waitGone(ctx, b.c, znode.Join(b.dir, line[0].name)); err != nil {
				return err
			}
		}
	}
}
