package recipes

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/arbor-coord/arbor/client"
	"github.com/arbor-coord/arbor/internal/errcode"
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
	if err := checkRecipeArgs("NewBarrier", c, path); err != nil {
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

// checkRecipeArgs checks the client and the node path a recipe is made
// with, so that a wrong argument is refused before anything is written.
// The client checks paths again on every call; this catches the mistakes a
// recipe would otherwise only meet mid-way (the root, which no recipe can
// create or delete, among them). The error matches client.ErrBadArguments.
func checkRecipeArgs(op string, c *client.Client, path string) error {
	if c == nil {
		return badRecipeArg(op, "nil client")
	}
	var reason string
	switch {
	case path == "":
		reason = "empty path"
	case path[0] != '/':
		reason = fmt.Sprintf("path %q must start with /", path)
	case path == "/":
		reason = "path \"/\": the root cannot be a recipe's node"
	case strings.HasSuffix(path, "/"):
		reason = fmt.Sprintf("path %q must not end with /", path)
	case strings.Contains(path, "//"):
		reason = fmt.Sprintf("path %q has an empty segment", path)
	case strings.Contains(path+"/", "/./") || strings.Contains(path+"/", "/../"):
		reason = fmt.Sprintf("path %q has a relative segment", path)
	case !utf8.ValidString(path) || strings.ContainsFunc(path, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		reason = fmt.Sprintf("path %q has invalid UTF-8 or a control character", path)
	default:
		return nil
	}
	return badRecipeArg(op, reason)
}

// badRecipeArg is the error of a wrong argument: it says which call and
// what is wrong, and matches client.ErrBadArguments.
func badRecipeArg(op, reason string) error {
	return fmt.Errorf("recipes: %s: %s: %w", op, reason, errcode.BadArguments)
}
