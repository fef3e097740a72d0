package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/arbor-coord/arbor/client"
	"github.com/arbor-coord/arbor/recipes"
)

// resignTimeout bounds giving up leadership after the command exited.
const resignTimeout = 5 * time.Second

func electCommand(e *env) *cli.Command {
	return &cli.Command{
		Name: "elect", Usage: "run a command while this process is the leader", ArgsUsage: "PATH -- CMD [ARGS...]",
		Description: "Campaigns in the election kept under PATH (a recipes.Election: candidates lead in the order they came), " +
			"runs CMD once this process leads, with arbor's stdin, stdout and stderr, and resigns when CMD exits; " +
			"arbor exits with CMD's status. The candidate's value, which `arbor get` on the leader's node and other " +
			"candidates see, is --name (default HOSTNAME:PID). Campaigning waits as long as it takes unless --wait " +
			"says otherwise (--timeout bounds connecting only). SIGINT and SIGTERM are passed on to CMD. If leadership " +
			"is lost while CMD runs (the session expired, or someone deleted the candidate's node), CMD is sent SIGTERM, " +
			"then SIGKILL after --grace, and arbor exits 1.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "name", Usage: "the value this candidate advertises while it leads", DefaultText: "HOSTNAME:PID"},
			&cli.DurationFlag{Name: "wait", Usage: "give up if not elected within `D`", DefaultText: "wait forever"},
			graceFlag(),
		},
		Action: e.elect,
	}
}

func (e *env) elect(c *cli.Context) error {
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
		return usagef("elect: --wait %v: want a positive duration, or 0 to wait forever", wait)
	}
	name := c.String("name")
	if !c.IsSet("name") {
		host, _ := os.Hostname()
		name = fmt.Sprintf("%s:%d", host, os.Getpid())
	}
	return e.withSession(c, true, func(ctx context.Context, cl *client.Client) error {
		el := recipes.NewElection(cl, path)
		campaignCtx, cancel := ctx, context.CancelFunc(func() {})
		if wait > 0 {
			campaignCtx, cancel = context.WithTimeout(ctx, wait)
		}
		err := el.Campaign(campaignCtx, []byte(name))
		cancel()
		resign := func() error {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), resignTimeout)
			defer cancel()
			return el.Resign(rctx)
		}
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
				return fmt.Errorf("elect %s: not elected within --wait %v", path, wait)
			}
			return &opError{op: "elect", path: path, err: err}
		}
		if ctx.Err() != nil {
			// Interrupted as leadership was won: run nothing.
			_ = resign() // closing the session makes up for a failure
			return &opError{op: "elect", path: path, err: ctx.Err()}
		}
		// The command's end, not a signal to arbor, ends the leadership:
		// runWhile passes signals on to it.
		runErr := e.runWhile(context.WithoutCancel(ctx), el.Lost(), grace, argv)
		select {
		case <-el.Lost():
			// Lost after the command exited but before the resignation:
			// it may not have been the only leader to the end.
			runErr = errHoldLost
		default:
		}
		resignErr := resign()
		switch {
		case errors.Is(runErr, errHoldLost):
			return fmt.Errorf("elect %s: leadership %w", path, runErr)
		case runErr != nil:
			return runErr
		case resignErr != nil:
			return &opError{op: "resign", path: path, err: resignErr}
		}
		return nil
	})
}
