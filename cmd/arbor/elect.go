package main

import (
	"context"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/arbor-coord/arbor/client"
	"github.com/arbor-coord/arbor/recipes"
)

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
	name := c.String("name")
	if !c.IsSet("name") {
		host, _ := os.Hostname()
		name = fmt.Sprintf("%s:%d", host, os.Getpid())
	}
	return e.runHeld(c, func(cl *client.Client, path string) holder {
		el := recipes.NewElection(cl, path)
		return holder{
			what:    "leadership",
			acquire: func(ctx context.Context) error { return el.Campaign(ctx, []byte(name)) },
			lost:    el.Lost,
			release: func(ctx context.Context) error {
				// Resign after a loss does nothing and says nothing:
				// the loss is told by Lost.
				select {
				case <-el.Lost():
					_ = el.Resign(ctx)
					return errHoldLost
				default:
					return el.Resign(ctx)
				}
			},
			errLost: errHoldLost,
		}
	})
}
