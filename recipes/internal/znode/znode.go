package znode

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/arbor-coord/arbor/client"
)

// MinCleanup bounds the cleanup of an abandoned attempt when the session
// timeout is shorter.
const MinCleanup = 2 * time.Second

// Join returns the path of name under dir.
func Join(dir, name string) string {
	if dir == "/" {
		return "/" + name
	}
	return dir + "/" + name
}

// Base returns the last element of path.
func Base(path string) string {
	return path[strings.LastIndexByte(path, '/')+1:]
}

// EnsureDir creates dir as a container node (reaped by the members once its
// last child is gone), with any missing ancestors as persistent nodes. A dir
// that exists already, the root among them, is fine.
func EnsureDir(ctx context.Context, c *client.Client, dir string) error {
	if dir == "/" {
		return nil
	}
	_, err := c.Create(ctx, dir, nil, client.WithMode(client.ModeContainer), client.WithParents())
	if err != nil && !errors.Is(err, client.ErrNodeExists) {
		return err
	}
	return nil
}

// Cleanup runs undo on a context that outlives ctx's cancellation, bounded
// by the session timeout (at least MinCleanup): an abandoned attempt is
// undone even though its caller gave up. Its error is dropped: the nodes it
// could not delete are ephemeral and go with the session.
func Cleanup(ctx context.Context, c *client.Client, undo func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), max(c.SessionTimeout(), MinCleanup))
	defer cancel()
	_ = undo(ctx)
}
