package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
)

// recipeCommands are the commands built on the recipes: lock and elect
// hold something (a lock, a leadership) while they run a command; barrier
// waits for a group.
func recipeCommands(e *env) []*cli.Command {
	return []*cli.Command{lockCommand(e), electCommand(e), barrierCommand(e)}
}

const (
	// defaultGrace is how long a command whose hold was lost has between
	// SIGTERM and SIGKILL.
	defaultGrace = 10 * time.Second
	// pipeDrainTimeout bounds the wait for the command's output to be
	// copied once it has exited, when something it started keeps its
	// stdout or stderr open.
	pipeDrainTimeout = 2 * time.Second
)

// graceFlag is the --grace flag of the commands that run a command while
// they hold something.
func graceFlag() cli.Flag {
	return &cli.DurationFlag{Name: "grace", Usage: "if the hold is lost, the command has `D` between SIGTERM and SIGKILL", Value: defaultGrace}
}

// graceArg returns --grace, or why it is wrong.
func graceArg(c *cli.Context) (time.Duration, error) {
	g := c.Duration("grace")
	if g < 0 {
		return 0, usagef("%s: --grace %v: want 0 or more", c.Command.Name, g)
	}
	return g, nil
}

// commandArgs returns PATH and CMD [ARGS...] from "PATH -- CMD [ARGS...]",
// with PATH valid.
func commandArgs(c *cli.Context) (string, []string, error) {
	a := c.Args().Slice()
	if len(a) == 0 {
		return "", nil, usagef("%s: want %s (see arbor help %s)", c.Command.Name, c.Command.ArgsUsage, c.Command.Name)
	}
	if err := checkPath(c, a[0]); err != nil {
		return "", nil, err
	}
	argv := a[1:]
	if len(argv) > 0 && argv[0] == "--" {
		argv = argv[1:]
	}
	if len(argv) == 0 {
		return "", nil, usagef("%s: missing -- CMD: the command to run (see arbor help %s)", c.Command.Name, c.Command.Name)
	}
	return a[0], argv, nil
}

// errHoldLost is returned by runWhile when the hold ended while the
// command ran.
var errHoldLost = errors.New("lost while the command ran")

// runWhile runs argv with arbor's stdin, stdout and stderr, and returns
// once it has exited: nil if it exited 0, a reported error carrying its
// exit status otherwise (128+N if signal N ended it), as a shell would.
// SIGINT and SIGTERM sent to arbor meanwhile are passed on to it, and it
// decides whether to exit. If lost is closed or ctx ends before it exits,
// it is sent SIGTERM, and SIGKILL grace later if it is still running;
// runWhile then returns an error matching errHoldLost (or ctx's error)
// whatever the command's status.
func (e *env) runWhile(ctx context.Context, lost <-chan struct{}, grace time.Duration, argv []string) error {
	cmd := exec.Command(argv[0], argv[1:]...)
	if e.stdin != nil {
		cmd.Stdin = e.stdin
	}
	cmd.Stdout, cmd.Stderr = e.stdout, e.stderr
	cmd.WaitDelay = pipeDrainTimeout
	// Catch the signals before the child exists, so that none sent in
	// between ends arbor with the lock held and the child orphaned.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("run %s: %w", argv[0], err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	var stopped error // why the command was stopped, if it was
	var killTimer *time.Timer
	var kill <-chan time.Time
	defer func() {
		if killTimer != nil {
			killTimer.Stop()
		}
	}()
	stop := func(why error) {
		if stopped != nil {
			return
		}
		stopped = why
		_ = cmd.Process.Signal(syscall.SIGTERM) // it may have exited just now
		killTimer = time.NewTimer(grace)
		kill = killTimer.C
	}
	done := ctx.Done()
	for {
		select {
		case err := <-exited:
			if stopped != nil {
				return stopped
			}
			return childStatus(err)
		case sig := <-sigs:
			_ = cmd.Process.Signal(sig)
		case <-lost:
			lost = nil
			stop(errHoldLost)
		case <-done:
			done = nil
			stop(ctx.Err())
		case <-kill:
			kill = nil
			_ = cmd.Process.Kill()
			stopped = fmt.Errorf("%w; the command did not exit within --grace %v of SIGTERM and was killed", stopped, grace)
		}
	}
}

// childStatus turns the command's end into runWhile's result.
func childStatus(err error) error {
	var ee *exec.ExitError
	if err == nil || !errors.As(err, &ee) {
		return err
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return reported{status: 128 + int(ws.Signal())}
	}
	return reported{status: ee.ExitCode()}
}
