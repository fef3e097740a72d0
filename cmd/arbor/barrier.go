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

// barrierCommand is `arbor barrier PATH --count N`: a double barrier for
// scripts, e.g. N jobs that must start together and finish together.
func barrierCommand(e *env) *cli.Command {
	return &cli.Command{
		Name: "barrier", Usage: "wait until N processes have entered a double barrier, then until all have left", ArgsUsage: "PATH",
		Description: "Enters the double barrier at PATH (a directory of ephemeral participant nodes), waits until --count processes have entered, " +
			"then leaves and waits until every participant has left, and prints \"released PATH (N participants)\". " +
			"The wait is open-ended: --timeout bounds connecting only, --wait bounds the whole wait. " +
			"A process that arrives while the barrier is open joins it and is released with the others.",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "count", Aliases: []string{"n"}, Usage: "the number of participants `N` (required, 1 or more)"},
			&cli.DurationFlag{Name: "wait", Usage: "give up after `D` (default: wait until released or interrupted)"},
		},
		Action: e.barrier,
	}
}

func (e *env) barrier(c *cli.Context) error {
	path, err := pathArg(c)
	if err != nil {
		return err
	}
	if !c.IsSet("count") {
		return usagef("barrier: --count N is required")
	}
	count := c.Int("count")
	if count < 1 {
		return usagef("barrier: --count %d: want 1 or more participants", count)
	}
	wait := c.Duration("wait")
	if c.IsSet("wait") && wait <= 0 {
		return usagef("barrier: --wait %v: want a positive duration", wait)
	}
	return e.withSession(c, true, func(ctx context.Context, cl *client.Client) error {
		if wait > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, wait)
			defer cancel()
		}
		b := recipes.NewDoubleBarrier(cl, path, count)
		if err := b.Enter(ctx); err != nil {
			if errors.Is(err, client.ErrBadArguments) {
				// The arguments NewDoubleBarrier refused (the root,
				// say), reported by the first call.
				return usagef("barrier: %v", err)
			}
			return barrierError("enter", path, wait, err)
		}
		if err := b.Leave(ctx); err != nil {
			return barrierError("leave", path, wait, err)
		}
		if jsonOutput(c) {
			return writeJSON(e.stdout, struct {
				Path  string `json:"path"`
				Count int    `json:"count"`
			}{path, count})
		}
		_, err = fmt.Fprintf(e.stdout, "released %s (%d participants)\n", path, count)
		return err
	})
}

// barrierError reports a failed enter or leave; running out of --wait is
// said as such, not as --timeout's.
func barrierError(step, path string, wait time.Duration, err error) error {
	if wait > 0 && errors.Is(err, context.DeadlineExceeded) {
		return &opError{op: "barrier " + step, path: path, err: fmt.Errorf("not released within --wait %v", wait)}
	}
	return &opError{op: "barrier " + step, path: path, err: err}
}
