package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"
	"github.com/urfave/cli/v2/altsrc"

	"github.com/arbor-coord/arbor/internal/gctune"
	"github.com/arbor-coord/arbor/server"
	"github.com/arbor-coord/arbor/server/raftnode"
)

// serverFlags are arbor server's flags. Each may also come from an ARBOR_*
// environment variable and from the TOML file named by --config, with the
// keys of the flags' names (data-dir = "/var/lib/arbor"): a flag wins over
// the environment, which wins over the file.
func serverFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "config", Usage: "read flags from the TOML `FILE` (keys are the flag names)", EnvVars: []string{"ARBOR_CONFIG"}},
		altsrc.NewStringFlag(&cli.StringFlag{Name: "data-dir", Usage: "the member's store (created if missing)", Value: server.DefaultDataDir, EnvVars: []string{"ARBOR_DATA_DIR"}}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "listen", Usage: "the client address, `HOST:PORT`", Value: server.DefaultListen, EnvVars: []string{"ARBOR_LISTEN"}}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: "min-session-timeout", Usage: "the shortest session timeout a client may negotiate", Value: server.DefaultMinSessionTimeout, EnvVars: []string{"ARBOR_MIN_SESSION_TIMEOUT"}}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: "max-session-timeout", Usage: "the longest session timeout a client may negotiate", Value: server.DefaultMaxSessionTimeout, EnvVars: []string{"ARBOR_MAX_SESSION_TIMEOUT"}}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "max-data-size", Usage: "the largest data a node may hold: bytes, or with a suffix B, KiB, MiB (the same on every member)", Value: "1MiB", EnvVars: []string{"ARBOR_MAX_DATA_SIZE"}}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "log-level", Usage: "debug, info, warn or error (logs go to stderr)", Value: "info", EnvVars: []string{"ARBOR_LOG_LEVEL"}}),
		altsrc.NewUint64Flag(&cli.Uint64Flag{Name: "id", Usage: "this member's id in its cluster (first start; later it is read from the data dir)", EnvVars: []string{"ARBOR_ID"}}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "cluster", Usage: "every member's peer address, `ID=HOST:PORT[,ID=HOST:PORT...]`, this member's included (first start only); with --join, the founders' --cluster plus this member", EnvVars: []string{"ARBOR_CLUSTER"}}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "listen-peer", Usage: "the peer address to bind, `HOST:PORT`, when it is not this member's address in --cluster (behind a proxy or NAT); give it on every start", EnvVars: []string{"ARBOR_LISTEN_PEER"}}),
		altsrc.NewBoolFlag(&cli.BoolFlag{Name: "join", Usage: "join a running cluster as a new member (first start only; add it with arbor member add, then promote it)", EnvVars: []string{"ARBOR_JOIN"}}),
		altsrc.NewUint64Flag(&cli.Uint64Flag{Name: "snapshot-entries", Usage: "entries applied between two Raft snapshots (each lets the log be compacted)", Value: raftnode.DefaultSnapshotEntries, EnvVars: []string{"ARBOR_SNAPSHOT_ENTRIES"}}),
		altsrc.NewUint64Flag(&cli.Uint64Flag{Name: "snapshot-catchup-entries", Usage: "entries the Raft log keeps behind a snapshot, for members that lag", Value: raftnode.DefaultCatchUpEntries, EnvVars: []string{"ARBOR_SNAPSHOT_CATCHUP_ENTRIES"}}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "gc-headroom", Usage: "let the Go heap grow by at least `SIZE` between garbage collections (or by the live heap, if larger): more memory, fewer collections, a lower tail latency; 0 leaves Go's GOGC alone. Without the flag, a GOGC in the environment wins", Value: "128MiB", EnvVars: []string{"ARBOR_GC_HEADROOM"}}),
		altsrc.NewBoolFlag(&cli.BoolFlag{Name: "pprof", Usage: "serve Go's profiles at /debug/pprof/ on the client address (only where that address is not reachable by untrusted hosts)", EnvVars: []string{"ARBOR_PPROF"}}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "super-digest", Usage: "the super user's digest identity, `user:base64(sha1(user:password))`", EnvVars: []string{"ARBOR_SUPER_DIGEST"}}),
	}
}

func serverCommand(e *env) *cli.Command {
	flags := serverFlags()
	return &cli.Command{
		Name:      "server",
		Usage:     "run a member until SIGINT or SIGTERM",
		ArgsUsage: " ",
		Description: "With no flags: data in ./arbor-data, clients on 127.0.0.1:7181.\n" +
			"Each flag can also be set by ARBOR_<FLAG> (ARBOR_DATA_DIR, ARBOR_LISTEN, ...) or in the TOML file given by --config;\n" +
			"a flag wins over the environment, which wins over the file.",
		Flags: flags,
		Before: func(c *cli.Context) error {
			err := altsrc.InitInputSourceWithContext(flags, func(c *cli.Context) (altsrc.InputSourceContext, error) {
				src, err := altsrc.NewTomlSourceFromFlagFunc("config")(c)
				return intsAsStrings{src}, err
			})(c)
			if err != nil {
				return usagef("server: --config: %v", err)
			}
			return nil
		},
		Action: func(c *cli.Context) error { return e.serve(c) },
	}
}

// intsAsStrings lets a TOML integer stand for a string flag's value
// (max-data-size = 1048576 as well as "1MiB").
type intsAsStrings struct{ altsrc.InputSourceContext }

func (s intsAsStrings) String(name string) (string, error) {
	v, err := s.InputSourceContext.String(name)
	if err != nil {
		if n, ierr := s.InputSourceContext.Int(name); ierr == nil {
			return strconv.Itoa(n), nil
		}
	}
	return v, err
}

// gcHeadroom returns the headroom for the member's GC tuner
// (internal/gctune), or 0 to leave GOGC alone: --gc-headroom if given,
// else nothing when GOGC is in the environment, else the flag's default.
func gcHeadroom(c *cli.Context, getenv func(string) string) (uint64, error) {
	var v int
	if s := c.String("gc-headroom"); s != "0" {
		var err error
		if v, err = parseBytes(s); err != nil {
			return 0, usagef("server: --gc-headroom: %v, or 0 for none", err)
		}
	}
	if !c.IsSet("gc-headroom") && getenv("GOGC") != "" {
		return 0, nil
	}
	return uint64(v), nil
}

// configError is a server configuration that does not validate.
type configError struct{ err error }

func (e *configError) Error() string {
	return "server: invalid config: " + strings.ReplaceAll(e.err.Error(), "\n", "; ")
}

func (e *env) serve(c *cli.Context) error {
	if c.Args().Present() {
		return usagef("server: unexpected argument %q", c.Args().First())
	}
	cfg, err := serverConfig(c, e.stderr)
	if err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return &configError{err}
	}
	headroom, err := gcHeadroom(c, os.Getenv)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if headroom > 0 {
		tuned := make(chan struct{})
		tctx, cancel := context.WithCancel(ctx)
		go func() {
			defer close(tuned)
			gctune.Tuner{Headroom: headroom, Logger: cfg.Logger}.Run(tctx)
		}()
		defer func() { cancel(); <-tuned }()
	}
	srv, err := server.New(cfg)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	// The member logs where it serves and when it stops.
	if err := srv.Run(ctx); err != nil {
		return fmt.Errorf("server: %w", err)
	}
	return nil
}

// serverConfig reads the server flags into a Config logging to logs.
func serverConfig(c *cli.Context, logs io.Writer) (server.Config, error) {
	size, err := parseBytes(c.String("max-data-size"))
	if err != nil {
		return server.Config{}, usagef("server: --max-data-size: %v", err)
	}
	var level slog.Level
	switch l := c.String("log-level"); l {
	case "debug", "info", "warn", "error":
		_ = level.UnmarshalText([]byte(l))
	default:
		return server.Config{}, usagef("server: --log-level %q: want debug, info, warn or error", l)
	}
	for _, name := range []string{"snapshot-entries", "snapshot-catchup-entries"} {
		if c.IsSet(name) && c.Uint64(name) == 0 {
			return server.Config{}, usagef("server: --%s: want a positive number", name)
		}
	}
	var cluster server.Cluster
	if c.IsSet("cluster") {
		if cluster, err = server.ParseCluster(c.String("cluster")); err != nil {
			return server.Config{}, usagef("server: --cluster: %v", err)
		}
	}
	return server.Config{
		ID:                c.Uint64("id"),
		Cluster:           cluster,
		PeerListen:        c.String("listen-peer"),
		Join:              c.Bool("join"),
		DataDir:           c.String("data-dir"),
		Listen:            c.String("listen"),
		MinSessionTimeout: c.Duration("min-session-timeout"),
		MaxSessionTimeout: c.Duration("max-session-timeout"),
		MaxDataBytes:      size,
		SuperDigest:       c.String("super-digest"),
		Pprof:             c.Bool("pprof"),
		SnapshotEntries:   c.Uint64("snapshot-entries"),

		SnapshotCatchUpEntries: c.Uint64("snapshot-catchup-entries"),
		Logger:                 slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: level})),
	}, nil
}

// parseBytes parses a size in bytes: digits, optionally followed by B,
// KiB or MiB.
func parseBytes(s string) (int, error) {
	units := []struct {
		suffix string
		size   int
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"B", 1}}
	num, unit := s, 1
	for _, u := range units {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			num, unit = strings.TrimSpace(n), u.size
			break
		}
	}
	n, err := strconv.Atoi(num)
	if err != nil || n < 1 || n > (1<<31-1)/unit {
		return 0, fmt.Errorf("%q: want a number of bytes, optionally with a suffix B, KiB or MiB", s)
	}
	return n * unit, nil
}
