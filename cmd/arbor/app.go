package main

import (
	"context"
	"io"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/arbor-coord/arbor/client"
	"github.com/arbor-coord/arbor/server"
)

// Exit statuses.
const (
	exitOK    = 0
	exitError = 1 // an operation failed
	exitUsage = 2 // bad flags, arguments or server config; nothing was done
)

const (
	defaultTimeout = 10 * time.Second
	// defaultSessionTimeout is the session timeout asked for by default,
	// the client's.
	defaultSessionTimeout = 10 * time.Second
	// closeTimeout bounds closing a one-shot command's session after the
	// command's own context has ended.
	closeTimeout = 5 * time.Second
)

// env is what a run of the app reads and writes. The shell runs the app
// once per line with shared set, so commands use its session.
type env struct {
	stdin  io.Reader // nil in the shell, where stdin carries the commands
	stdout io.Writer
	stderr io.Writer
	shared *client.Client
	// output and timeout, if set, are the defaults of --output and
	// --timeout: the shell's own.
	output  string
	timeout time.Duration
}

// run runs the app on args (args[0] is the program name) and returns the
// exit status, having reported any error on e.stderr as one line.
func run(args []string, e *env) int {
	app := newApp(e)
	return report(e.stderr, app.RunContext(context.Background(), interspersed(app, args)))
}

func newApp(e *env) *cli.App {
	output, timeout := "text", defaultTimeout
	if e.output != "" {
		output = e.output
	}
	if e.timeout != 0 {
		timeout = e.timeout
	}
	app := &cli.App{
		Name:      "arbor",
		Usage:     "a coordination service with ZooKeeper's data model",
		UsageText: "arbor server [flags]\narbor [--servers HOST:PORT[,HOST:PORT...]] [--output text|json] [--timeout D] [--session-timeout D] COMMAND [flags] ARGS",
		Version:   server.Version,
		Reader:    e.stdin,
		Writer:    e.stdout,
		ErrWriter: e.stderr,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "servers", Usage: "members to connect to, `HOST:PORT[,HOST:PORT...]`", EnvVars: []string{"ARBOR_SERVERS"}, Value: server.DefaultListen},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "output format: text or json (one JSON document per result)", Value: output},
			&cli.DurationFlag{Name: "timeout", Usage: "bound on connecting and on each command (a watch waits for events beyond it)", Value: timeout},
			&cli.DurationFlag{Name: "session-timeout", Usage: "the session timeout to ask for (the member clamps it to its bounds): how long a lock or a leadership outlives this process if it dies", Value: defaultSessionTimeout},
		},
		Before: func(c *cli.Context) error {
			if o := c.String("output"); o != "text" && o != "json" {
				return usagef("--output %q: want text or json", o)
			}
			if c.Duration("timeout") <= 0 {
				return usagef("--timeout %v: want a positive duration", c.Duration("timeout"))
			}
			if c.Duration("session-timeout") <= 0 {
				return usagef("--session-timeout %v: want a positive duration", c.Duration("session-timeout"))
			}
			return nil
		},
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return usagef("unknown command %q (see arbor help)", c.Args().First())
			}
			return cli.ShowAppHelp(c)
		},
		Commands:       append(append(nodeCommands(e), serverCommand(e), shellCommand(e), statusCommand(e), memberCommand(e), benchCommand(e)), recipeCommands(e)...),
		OnUsageError:   onUsageError,
		ExitErrHandler: func(*cli.Context, error) {}, // run reports; never os.Exit inside the app (the shell runs it per line)
	}
	for _, cmd := range app.Commands {
		if cmd.OnUsageError == nil {
			cmd.OnUsageError = onUsageError
		}
	}
	return app
}

func onUsageError(c *cli.Context, err error, _ bool) error {
	if c.Command != nil && c.Command.Name != "" {
		return usagef("%s: %v", c.Command.Name, err)
	}
	return usagef("%v", err)
}
