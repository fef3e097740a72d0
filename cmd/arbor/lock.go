package main

import (
	"github.com/urfave/cli/v2"

	"github.com/arbor-coord/arbor/client"
	"github.com/arbor-coord/arbor/recipes"
)

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
	return e.runHeld(c, func(cl *client.Client, path string) holder {
		m := recipes.NewMutex(cl, path)
		return holder{
			what:    "lock",
			acquire: m.Lock,
			lost:    m.Lost,
			release: m.Unlock,
			errLost: recipes.ErrLockLost,
		}
	})
}
