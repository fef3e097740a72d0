package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/arbor-coord/arbor/internal/loadgen"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := runCommand(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit statuses.
const (
	exitOK       = 0
	exitFailed   = 1 // the run could not be made, or measured errors
	exitBadFlags = 2
)

// cleanupTimeout bounds the removal of what a run created: a million
// nodes go in a few hundred batches.
const cleanupTimeout = 5 * time.Minute

// runCommand is the whole command: it parses args, runs the benchmark,
// prints the result on stdout and everything else on stderr, and returns
// the exit status.
func runCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintln(stderr, "cmpbench:", err)
		return exitBadFlags
	}
	progress := func(p loadgen.Progress) { fmt.Fprintln(stderr, loadgen.ProgressLine(p)) }
	rep, err := run(ctx, cfg, progress)
	if rep != nil {
		if cfg.json {
			line, merr := json.Marshal(rep)
			if merr != nil {
				panic(fmt.Sprintf("cmpbench: a report does not marshal: %v", merr))
			}
			fmt.Fprintln(stdout, string(line))
		} else {
			fmt.Fprintln(stdout, rep.Text())
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "cmpbench:", err)
		return exitFailed
	}
	if rep.Errors > 0 {
		fmt.Fprintf(stderr, "cmpbench: %d operations failed; the first: %s\n", rep.Errors, rep.FirstError)
		return exitFailed
	}
	return exitOK
}

// driver is one system under one workload. run calls setup, then op from
// loadgen for the measurement, then closeClients, then cleanup (unless
// -keep), then close, each once.
type driver interface {
	// setup connects the clients and makes what the workload needs:
	// everything that is not measured.
	setup(ctx context.Context) error
	// op runs one operation of the workload as load client c.
	op(ctx context.Context, c int) (time.Duration, error)
	// closeClients ends the clients' sessions, so that their ephemeral
	// nodes and leases are gone before the cleanup.
	closeClients()
	// cleanup removes the root and everything under it.
	cleanup(ctx context.Context) error
	// close ends the driver's own administrative connection.
	close()
}

// newDriver returns the driver for cfg.system.
func newDriver(cfg config) driver {
	switch cfg.system {
	case systemZooKeeper:
		return newZooKeeper(cfg)
	case systemEtcd:
		return newEtcd(cfg)
	default:
		panic(fmt.Sprintf("cmpbench: unchecked system %q", cfg.system))
	}
}

// loadClients is how many loadgen clients run cfg's workload: the writer
// alone for watch, -clients for the others.
func loadClients(cfg config) int {
	if cfg.workload == "watch" {
		return 1
	}
	return cfg.clients
}

// run sets the workload up, measures it and cleans up. It returns a
// report whenever something was measured, even with an error (a run cut
// short by a signal reports what it saw).
func run(ctx context.Context, cfg config, progress func(loadgen.Progress)) (*loadgen.Report, error) {
	d := newDriver(cfg)
	defer d.close()
	clientsOpen := true
	defer func() {
		if clientsOpen {
			d.closeClients()
		}
	}()
	// Whatever happens after setup began, remove what it made (unless
	// -keep), on a context of its own: a signal that ended the run must
	// not also prevent the cleanup.
	cleanup := func() error {
		if clientsOpen {
			d.closeClients()
			clientsOpen = false
		}
		if cfg.keep {
			return nil
		}
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		if err := d.cleanup(cctx); err != nil {
			return fmt.Errorf("cleanup of %s: %w", cfg.root, err)
		}
		return nil
	}
	if err := d.setup(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("setup: %w", err), cleanup())
	}
	res, err := loadgen.Run(ctx, loadgen.Config{
		Clients:  loadClients(cfg),
		Warmup:   cfg.warmup,
		Duration: cfg.duration,
		MaxOps:   cfg.maxOps,
		Rate:     cfg.rate,
		Progress: progress,
	}, d.op)
	var rep *loadgen.Report
	if res != nil {
		r := loadgen.NewReport(string(cfg.system), cfg.workload, cfg.valueBytes, cfg.watchers, res)
		rep = &r
	}
	return rep, errors.Join(err, cleanup())
}

// setupParallelism is how many sessions setup opens (or closeClients
// closes) at a time.
const setupParallelism = 32

// closeAll calls closeOne(i) for i in [0, n), setupParallelism at a time:
// ending a ZooKeeper session is a transaction, and ten thousand of them
// one after the other would take a while.
func closeAll(n int, closeOne func(i int)) {
	// Nothing fails and nothing is cancelled, so the error is always nil.
	_ = loadgen.ForEach(context.Background(), n, setupParallelism, func(_ context.Context, i int) error {
		closeOne(i)
		return nil
	})
}

// fillValue returns n bytes of printable filler.
func fillValue(n int) []byte {
	v := make([]byte, n)
	for i := range v {
		v[i] = byte('a' + i%26)
	}
	return v
}

// newRands returns one random source per load client, so that clients
// draw keys without sharing (or locking) a generator.
func newRands(n int) []*rand.Rand {
	seed := uint64(time.Now().UnixNano())
	rs := make([]*rand.Rand, n)
	for i := range rs {
		rs[i] = rand.New(rand.NewPCG(seed, uint64(i)))
	}
	return rs
}
