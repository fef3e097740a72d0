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
}

// NewBarrier returns the barrier at path. It checks its arguments and
// reaches no member.
func NewBarrier(c *client.Client, path string) (*Barrier, error) {
	if err := checkNodeArgs("NewBarrier", c, path); err != nil {
		return nil, err
	}
	return &Barrier{c: c, path: path}, nil
}

// Set sets the barrier: it creates its node (and any missing ancestors, as
// persistent nodes). A barrier set already is fine.
func (b *Barrier) Set(ctx context.Context) error {
	_, err := b.c.Create(ctx, b.path, nil, client.WithParents())
	if err != nil && !errors.Is(err, client.ErrNodeExists) {
		return fmt.Errorf("recipes: barrier %s: set: %w", b.path, err)
	}
	return nil
}

// Remove removes the barrier, releasing its waiters. A barrier removed
// already (or never set) is fine.
func (b *Barrier) Remove(ctx context.Context) error {
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
	if err := waitGone(ctx, b.c, b.path); err != nil {
		return fmt.Errorf("recipes: barrier %s: wait: %w", b.path, err)
	}
	return nil
}
