package main

import (
	"context"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/arbor-coord/arbor/client"
)

// withSession runs fn with a session: the shell's shared one, or a new one
// that is closed before withSession returns, so that an ephemeral node a
// one-shot command created is gone when the command exits. Connecting is
// bounded by --timeout, and so is fn's ctx unless openEnded; an interrupt
// or SIGTERM ends both.
func (e *env) withSession(c *cli.Context, openEnded bool, fn func(ctx context.Context, cl *client.Client) error) (err error) {
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	timeout := c.Duration("timeout")
	cl := e.shared
	if cl == nil {
		servers, err := parseServers(c.String("servers"))
		if err != nil {
			return err
		}
		if cl, err = dial(ctx, servers, timeout, c.Duration("session-timeout")); err != nil {
			return err
		}
		defer func() {
			if cerr := closeSession(ctx, cl); cerr != nil && err == nil {
				err = &opError{op: "close", err: cerr}
			}
		}()
	}
	if !openEnded {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	return fn(ctx, cl)
}

func parseServers(s string) ([]string, error) {
	var servers []string
	for _, hp := range strings.Split(s, ",") {
		if hp = strings.TrimSpace(hp); hp != "" {
			servers = append(servers, hp)
		}
	}
	if len(servers) == 0 {
		return nil, usagef("--servers %q: want HOST:PORT[,HOST:PORT...]", s)
	}
	return servers, nil
}

// dial opens a session on one of servers within timeout; opts come after
// the session timeout, so they may add to it.
func dial(ctx context.Context, servers []string, timeout, sessionTimeout time.Duration, opts ...client.Option) (*client.Client, error) {
	connectCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cl, err := client.Connect(connectCtx, servers, append([]client.Option{client.WithSessionTimeout(sessionTimeout)}, opts...)...)
	if err != nil {
		return nil, &opError{op: "connect", path: strings.Join(servers, ","), err: err}
	}
	return cl, nil
}

// closeSession ends cl's session, on a fresh context bounded by
// closeTimeout so that an interrupted command still closes it.
func closeSession(ctx context.Context, cl *client.Client) error {
	closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
	defer cancel()
	return cl.Close(closeCtx)
}
