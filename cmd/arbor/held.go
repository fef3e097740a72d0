package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/arbor-coord/arbor/client"
)

// releaseTimeout bounds releasing a hold (unlocking, resigning) after the
// command exited.
const releaseTimeout = 5 * time.Second

// holder is what lock and elect hold while the command runs.
type holder struct {
	// what the hold is called in errors: "lock", "leadership".
	what string
	// acquire waits for the hold; lost then says when it is lost.
	acquire func(ctx context.Context) error
	lost    func() <-chan struct{}
	// release gives the hold up; it reports whether the hold had been
	// lost already (errLost) or why it failed.
	release func(ctx context.Context) error
	// errLost matches release's error for a hold lost before it.
	errLost error
}

// runHeld is lock's and elect's Action once they have made their holder:
// it acquires the hold at PATH (within --wait, if set), runs CMD while it
// lasts, and releases it when CMD exits.
func (e *env) runHeld(c *cli.Context, newHolder func(cl *client.Client, path string) holder) error {
	op := c.Command.Name
	path, argv, err := commandArgs(c)
	if err != nil {
		return err
	}
	grace, err := graceArg(c)
	if err != nil {
		return err
	}
	wait := c.Duration("wait")
	if wait < 0 {
		return usagef("%s: --wait %v: want a positive duration, or 0 to wait forever", op, wait)
	}
	return e.withSession(c, true, func(ctx context.Context, cl *client.Client) error {
		h := newHolder(cl, path)
		acquireCtx, cancel := ctx, context.CancelFunc(func() {})
		if wait > 0 {
			acquireCtx, cancel = context.WithTimeout(ctx, wait)
		}
		err := h.acquire(acquireCtx)
		cancel()
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
				return fmt.Errorf("%s %s: not acquired within --wait %v", op, path, wait)
			}
			return &opError{op: op, path: path, err: err}
		}
		release := func() error {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
			defer cancel()
			return h.release(rctx)
		}
		if ctx.Err() != nil {
			// Interrupted as the hold was granted: run nothing.
			_ = release() // closing the session makes up for a failure
			return &opError{op: op, path: path, err: ctx.Err()}
		}
		// The command's end, not a signal to arbor, ends the hold:
		// runWhile passes signals on to it.
		runErr := e.runWhile(context.WithoutCancel(ctx), h.lost(), grace, argv)
		releaseErr := release()
		if errors.Is(releaseErr, h.errLost) && !errors.Is(runErr, errHoldLost) {
			// Lost after the command exited but before the release: its
			// work may not have been exclusive to the end either.
			runErr = errHoldLost
		}
		switch {
		case errors.Is(runErr, errHoldLost):
			return fmt.Errorf("%s %s: %s %w", op, path, h.what, runErr)
		case runErr != nil:
			return runErr
		case releaseErr != nil && !errors.Is(releaseErr, h.errLost):
			return &opError{op: "release", path: path, err: releaseErr}
		}
		return nil
	})
}
