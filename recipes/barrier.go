package recipes

import (
	"context"
	"errors"
	"fmt"

	"github.com/arbor-coord/arbor/client"
)

// Barrier holds a group back until a condition is met: whoever sets it
// creates its node, the waiters wait until the node is gone, and whoever
// decides the condition is met removes it.
//
// The node is persistent: a barrier outlives the session that set it, and
// stays set until someone removes it (a crashed setter does not release
// the waiters). A Barrier is safe for concurrent use.
type Barrier struct {
	c    *client.Client
	path string
	// err is the constructor's argument error, returned by every method.
	err error
}

// NewBarrier returns the barrier at path. It reaches no member. A nil c,
// or a path that is not a valid path or is the root, is reported by every
// call (with an error matching client.ErrBadArguments), which then changes
// nothing.
func NewBarrier(c *client.Client, path string) *Barrier {
	return &Barrier{c: c, path: path, err: checkNodeArgs("NewBarrier", c, path)}
}

// Set sets the barrier: it creates its node (and any missing ancestors, as
// persistent nodes). A barrier set already is fine.
func (b *Barrier) Set(ctx context.Context) error {
	if b.err != nil {
		return b.err
	}
	_, err := b.c.Create(ctx, b.path, nil, client.WithParents())
	if err != nil && !errors.Is(err, client.ErrNodeExists) {
		return fmt.Errorf("recipes: barrier %s: set: %w", b.path, err)
	}
	return nil
}

// Remove removes the barrier, releasing its waiters. A barrier removed
// already (or never set) is fine.
func (b *Barrier) Remove(ctx context.Context) error {
	if b.err != nil {
		return b.err
	}
	err := b.c.Delete(ctx, b.path, -1)
	if err != nil && !errors.Is(err, client.ErrNoNode) {
		return fmt.Errorf("recipes: barrier %s: remove: %w", b.path, err)
	}
	return nil
}

// Wait returns once the barrier is not set: at once if its node does not
// exist, else when a watch reports it deleted. It returns the context's
// error if ctx ends first, or the session's if the session ends.
func (b *Barrier) Wait(ctx context.Context) error {
	if b.err != nil {
		return b.err
	}
	if err := waitGone(ctx, b.c, b.path); err != nil {
		return fmt.Errorf("recipes: barrier %s: wait: %w", b.path, err)
	}
	return nil
}
