package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/arbor-coord/arbor/client"
	"github.com/arbor-coord/arbor/recipes"
)

// unlockTimeout bounds releasing the lock after the command exited.
const unlockTimeout = 5 * time.Second

func lockCommand(e *env) *cli.Command {
	return &cli.Command{
		Name: "lock", Usage: "run a command while holding a lock", ArgsUsage: "PATH -- CMD [ARGS...]",
		Description: "Waits for the lock kept under PATH (a fair recipes.Mutex: waiters get it in the order they came), " +
			"runs CMD with arbor's stdin, stdout and stderr, and releases the lock when CMD exits; arbor exits with CMD's status. " +
			"Acquiring waits as long as it takes unless --wait says otherwise (--timeout bounds connecting only). " +
			"SIGINT and SIGTERM are passed on to CMD. If the lock is lost while CMD runs (the session expired, " +
			"or someone deleted the lock node), CMD is sent SIGTERM, then SIGKILL after --grace, and arbor exits 1.",
		Flags: []cli.Flag{
			&cli.DurationFlag{Name: "wait", Usage: "give up if the lock is not acquired within `D`", DefaultText: "wait forever"},
			graceFlag(),
		},
		Action: e.lock,
	}
}

func (e *env) lock(c *cli.Context) error {
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
		return usagef("lock: --wait %v: want a positive duration, or 0 to wait forever", wait)
	}
	return e.withSession(c, true, func(ctx context.Context, cl *client.Client) error {
		m := recipes.NewMutex(cl, path)
		lockCtx, cancel := ctx, context.CancelFunc(func() {})
		if wait > 0 {
			lockCtx, cancel = context.WithTimeout(ctx, wait)
		}
		err := m.Lock(lockCtx)
		cancel()
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
				return fmt.Errorf("lock %s: not acquired within --wait %v", path, wait)
			}
			return &opError{op: "lock", path: path, err: err}
		}
		if ctx.Err() != nil {
			// Interrupted as the lock was granted: run nothing.
			runErr := &opError{op: "lock", path: path, err: ctx.Err()}
			unlockCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), unlockTimeout)
			defer cancel()
			_ = m.Unlock(unlockCtx) // closing the session makes up for a failure
			return runErr
		}
		// The command's end, not a signal to arbor, ends the hold:
		// runWhile passes signals on to it.
		runErr := e.runWhile(context.WithoutCancel(ctx), m.Lost(), grace, argv)
		unlockCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), unlockTimeout)
		defer cancel()
		unlockErr := m.Unlock(unlockCtx)
		switch {
		case errors.Is(runErr, errHoldLost) || errors.Is(unlockErr, recipes.ErrLockLost):
			// Lost after the command exited but before the release: its
			// work may not have been exclusive to the end either.
			if runErr == nil || !errors.Is(runErr, errHoldLost) {
				runErr = errHoldLost
			}
			return fmt.Errorf("lock %s: lock %w", path, runErr)
		case runErr != nil:
			return runErr
		case unlockErr != nil:
			return &opError{op: "unlock", path: path, err: unlockErr}
		}
		return nil
	})
}
