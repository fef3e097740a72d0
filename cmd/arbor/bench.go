package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/arbor-coord/arbor/client"
	"github.com/arbor-coord/arbor/internal/loadgen"
	"github.com/arbor-coord/arbor/internal/zpath"
	"github.com/arbor-coord/arbor/recipes"
)

// The bounds of `arbor bench`, so that no run is unbounded.
const (
	maxBenchClients  = 1024
	maxBenchWatchers = 10000
	maxBenchDuration = 10 * time.Minute
	// maxBenchValueBytes is the largest --value-size: a member's default
	// MaxDataBytes.
	maxBenchValueBytes = 1 << 20
	// benchDataNodes is how many nodes set, get and mixed work on.
	benchDataNodes = 1000
	// benchGetFraction is the share of gets in the mixed workload.
	benchGetFraction = 0.9
	// clientConnects and watcherConnects bound how many sessions are
	// being opened at a time, so that a run of many clients does not
	// flood the member with handshakes.
	clientConnects  = 16
	watcherConnects = 64
	// setupBatchBytes bounds the data of one setup Multi, well below a
	// frame (wire.MaxFrameBytes, 4 MiB); setupBatchOps bounds its ops.
	setupBatchBytes = 1 << 20
	setupBatchOps   = 100
	// deleteBatchOps is how many deletes one cleanup Multi carries.
	deleteBatchOps = 1000
	// benchNodeOverhead is a generous allowance for a create op's path,
	// ACL and framing, used to size setup batches.
	benchNodeOverhead = 256
)

// benchWorkloads returns the workloads, in the order help lists them.
func benchWorkloads() []string { return []string{"create", "set", "get", "mixed", "watch", "lock"} }

func benchCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "bench",
		Usage:     "measure throughput and latency of one workload with many clients",
		UsageText: "arbor [--servers HOST:PORT,...] [--output text|json] bench --workload create|set|get|mixed|watch|lock [--clients N] [--duration D] [--warmup D] [--value-size B] [--watchers W] [--max-ops N] [--root PATH] [--keep]",
		Description: "Runs a closed-loop load: --clients sessions (spread round-robin over --servers), each with one request in flight, " +
			"for --warmup (not measured) and then --duration, and prints throughput and latency percentiles " +
			"(one line, or one JSON object with --output json); a progress line goes to stderr every second.\n" +
			"Workloads: create (persistent sequential nodes under ROOT/create), set, get and mixed (90% get) on " + strconv.Itoa(benchDataNodes) + " nodes ROOT/data/I chosen at random, " +
			"watch (--watchers sessions hold a persistent watch on ROOT/watch while one more session sets it; an op is one set, " +
			"its latency from the set's acknowledgement to the last watcher's event), lock (a recipes.Mutex on ROOT/lock; an op is lock then unlock).\n" +
			"Setup is not measured. Without --keep the run then deletes the nodes its workload wrote, and the directory under ROOT and ROOT itself if it created them. " +
			"Exits 1 if no operation succeeded.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "workload", Aliases: []string{"w"}, Usage: "what each op does: " + strings.Join(benchWorkloads(), ", ") + " (required)"},
			&cli.IntFlag{Name: "clients", Aliases: []string{"c"}, Usage: "`N` sessions with one op in flight each (1 to " + strconv.Itoa(maxBenchClients) + ")", Value: 16},
			&cli.DurationFlag{Name: "duration", Aliases: []string{"d"}, Usage: "measure for `D`, at most " + maxBenchDuration.String(), Value: 10 * time.Second},
			&cli.DurationFlag{Name: "warmup", Usage: "run the load for `D` before measuring", Value: 2 * time.Second},
			&cli.IntFlag{Name: "value-size", Usage: "bytes `B` of data each node gets, at most " + strconv.Itoa(maxBenchValueBytes), DefaultText: "100 for create, 1024 otherwise"},
			&cli.IntFlag{Name: "watchers", Usage: "`W` watching sessions, for the watch workload (1 to " + strconv.Itoa(maxBenchWatchers) + ")", DefaultText: "--clients"},
			&cli.Int64Flag{Name: "max-ops", Usage: "end the measurement after `N` ops (0: only --duration ends it)"},
			&cli.Float64Flag{Name: "rate", Usage: "start `R` ops per second in total on a fixed schedule, latency counted from each op's scheduled time (0: a closed loop, as fast as the clients go)"},
			&cli.StringFlag{Name: "root", Usage: "the node `PATH` under which the run works", Value: "/arbor-bench"},
			&cli.BoolFlag{Name: "keep", Usage: "leave what the run created"},
		},
		Action: e.bench,
	}
}

// benchSpec is one validated `arbor bench` command line.
type benchSpec struct {
	workload          string
	clients, watchers int
	warmup, duration  time.Duration
	maxOps            int64
	rate              float64
	valueSize         int
	root              string
	keep              bool
	servers           []string
	// timeout bounds each connect and each setup or cleanup request.
	timeout, sessionTimeout time.Duration
}

// benchSpecFrom reads and checks the flags; every mistake is a usage
// error, found before anything is contacted.
func benchSpecFrom(c *cli.Context) (benchSpec, error) {
	s := benchSpec{
		workload:       c.String("workload"),
		clients:        c.Int("clients"),
		warmup:         c.Duration("warmup"),
		duration:       c.Duration("duration"),
		maxOps:         c.Int64("max-ops"),
		rate:           c.Float64("rate"),
		root:           c.String("root"),
		keep:           c.Bool("keep"),
		timeout:        c.Duration("timeout"),
		sessionTimeout: c.Duration("session-timeout"),
	}
	if c.Args().Present() {
		return s, usagef("bench takes no arguments, got %q (flags start with --)", c.Args().Slice())
	}
	switch {
	case s.workload == "":
		return s, usagef("bench: --workload is required: one of %s", strings.Join(benchWorkloads(), ", "))
	case !slices.Contains(benchWorkloads(), s.workload):
		return s, usagef("bench: --workload %q: want one of %s", s.workload, strings.Join(benchWorkloads(), ", "))
	case s.clients < 1 || s.clients > maxBenchClients:
		return s, usagef("bench: --clients %d: want 1 to %d", s.clients, maxBenchClients)
	case s.duration <= 0 || s.duration > maxBenchDuration:
		return s, usagef("bench: --duration %v: want more than 0 and at most %v", s.duration, maxBenchDuration)
	case s.warmup < 0 || s.warmup > maxBenchDuration:
		return s, usagef("bench: --warmup %v: want 0 to %v", s.warmup, maxBenchDuration)
	case s.maxOps < 0:
		return s, usagef("bench: --max-ops %d: want 0 (no bound) or more", s.maxOps)
	case !(s.rate >= 0 && s.rate <= loadgen.MaxRate):
		return s, usagef("bench: --rate %v: want 0 (a closed loop) to %d ops per second", s.rate, loadgen.MaxRate)
	}

	s.valueSize = 1024
	if s.workload == "create" {
		s.valueSize = 100
	}
	if c.IsSet("value-size") {
		if s.workload == "lock" {
			return s, usagef("bench: --value-size: the lock workload writes no data")
		}
		s.valueSize = c.Int("value-size")
		if s.valueSize < 0 || s.valueSize > maxBenchValueBytes {
			return s, usagef("bench: --value-size %d: want 0 to %d bytes", s.valueSize, maxBenchValueBytes)
		}
	}
	if s.workload == "lock" {
		s.valueSize = 0
	}

	if s.workload == "watch" {
		s.watchers = s.clients
		if c.IsSet("watchers") {
			s.watchers = c.Int("watchers")
		}
		if s.watchers < 1 || s.watchers > maxBenchWatchers {
			return s, usagef("bench: --watchers %d: want 1 to %d", s.watchers, maxBenchWatchers)
		}
	} else if c.IsSet("watchers") {
		return s, usagef("bench: --watchers is for the watch workload only, not %s", s.workload)
	}

	if err := zpath.Validate(s.root); err != nil {
		return s, usagef("bench: --root: %v", err)
	}
	if s.root == "/" {
		return s, usagef("bench: --root /: want a node below /, which the run may create and delete")
	}
	servers, err := parseServers(c.String("servers"))
	if err != nil {
		return s, err
	}
	for _, hp := range servers {
		if _, port, err := net.SplitHostPort(hp); err != nil || port == "" {
			return s, usagef("bench: --servers: %q is not HOST:PORT", hp)
		}
	}
	s.servers = servers
	return s, nil
}

func (e *env) bench(c *cli.Context) error {
	if e.shared != nil {
		// The shell's commands share its one session; a benchmark
		// opens its own, to the servers of its own command line.
		return usagef("bench: not available in the shell")
	}
	s, err := benchSpecFrom(c)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()

	res, runErr := runBench(ctx, s, e.stderr)
	if res == nil {
		return runErr
	}
	j := loadgen.NewReport("arbor", s.workload, s.valueSize, s.watchers, res)
	var outErr error
	if jsonOutput(c) {
		outErr = writeJSON(e.stdout, j)
	} else {
		_, outErr = fmt.Fprintln(e.stdout, j.Text())
	}
	switch {
	case runErr != nil:
		return runErr
	case outErr != nil:
		return outErr
	case res.Ops == 0 && res.Errors > 0:
		return fmt.Errorf("bench: all %s failed; the first: %w", countOf(res.Errors, "operation"), res.FirstErr)
	case res.Ops == 0:
		return fmt.Errorf("bench: no operation completed within --duration %v", s.duration)
	case res.Errors > 0:
		// Reported, but the figures stand: exit 0.
		fmt.Fprintf(e.stderr, "arbor: bench: %s failed; the first: %s\n", countOf(res.Errors, "operation"), oneLine(res.FirstErr.Error()))
	}
	return nil
}

// runBench sets the workload up, runs it and cleans up. It returns the
// measurement, if the run got that far, and the first error.
func runBench(ctx context.Context, s benchSpec, progress io.Writer) (res *loadgen.Result, err error) {
	// Cleanup and closing run even when ctx was interrupted, each
	// request bounded by --timeout.
	after := context.WithoutCancel(ctx)
	admin, err := connectOne(ctx, s, 0)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer func() {
		if cerr := closeSession(after, admin); cerr != nil && err == nil {
			err = &opError{op: "bench: close", err: cerr}
		}
	}()

	b := &benchRun{spec: s, admin: admin, value: bytes.Repeat([]byte{'v'}, s.valueSize)}
	// Cleanup is deferred before setup so that a setup that fails half
	// way still removes what it did.
	defer func() {
		if s.keep {
			return
		}
		if cerr := b.cleanup(after); cerr != nil && err == nil {
			err = fmt.Errorf("bench: cleanup: %w", cerr)
		}
	}()
	if err := b.setup(ctx); err != nil {
		return nil, fmt.Errorf("bench: setup: %w", err)
	}
	defer func() {
		// Sessions end before cleanup (deferred earlier, so it runs
		// later): their ephemeral lock nodes go with them.
		b.closeSessions(after)
	}()
	if err := b.connect(ctx); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}

	cfg := loadgen.Config{
		Clients:  s.clients,
		Warmup:   s.warmup,
		Duration: s.duration,
		MaxOps:   s.maxOps,
		Rate:     s.rate,
		Progress: func(p loadgen.Progress) { fmt.Fprintln(progress, loadgen.ProgressLine(p)) },
	}
	if s.workload == "watch" {
		cfg.Clients = 1 // the one writer; the watchers are not loadgen's
	}
	res, err = loadgen.Run(ctx, cfg, b.op())
	if err != nil {
		if ctx.Err() != nil {
			err = &opError{op: "bench", err: ctx.Err()}
		}
		return res, err
	}
	return res, nil
}

// benchRun is one run's state. The per-client slices are indexed by the
// loadgen client and touched only by its goroutine during the run.
type benchRun struct {
	spec  benchSpec
	admin *client.Client // setup and cleanup
	value []byte

	// created lists the directories this run created, outermost first.
	created []string
	// seqStart is the sequential counter of ROOT/create before the run,
	// once seqKnown (create).
	seqStart int32
	seqKnown bool
	// dataPaths are the nodes set, get and mixed work on.
	dataPaths []string

	clients []*client.Client
	rngs    []*rand.Rand
	mutexes []*recipes.Mutex

	watchers []*client.Client
	tracker  *loadgen.WatchTracker
	watchWG  sync.WaitGroup
}

// dir returns the workload's node: ROOT/WORKLOAD.
func (b *benchRun) dir() string { return b.spec.root + "/" + b.spec.workload }

// setup creates ROOT, ROOT/WORKLOAD and what the workload reads or writes.
func (b *benchRun) setup(ctx context.Context) error {
	if err := b.ensureDir(ctx, b.spec.root); err != nil {
		return err
	}
	dir := b.dir()
	switch b.spec.workload {
	case "set", "get", "mixed":
		dir = b.spec.root + "/data"
	}
	if b.spec.workload == "watch" {
		return b.put(ctx, dir)
	}
	if err := b.ensureDir(ctx, dir); err != nil {
		return err
	}
	switch b.spec.workload {
	case "create":
		n, err := b.creations(ctx)
		if err != nil {
			return err
		}
		b.seqStart, b.seqKnown = n, true
	case "set", "get", "mixed":
		b.dataPaths = make([]string, benchDataNodes)
		for i := range b.dataPaths {
			b.dataPaths[i] = dir + "/" + strconv.Itoa(i)
		}
		return b.putAll(ctx, b.dataPaths)
	}
	return nil
}

// ensureDir creates path, empty, unless it exists; it remembers a
// creation for cleanup.
func (b *benchRun) ensureDir(ctx context.Context, path string) error {
	rctx, cancel := context.WithTimeout(ctx, b.spec.timeout)
	defer cancel()
	_, err := b.admin.Create(rctx, path, nil)
	switch {
	case err == nil:
		b.created = append(b.created, path)
	case !errors.Is(err, client.ErrNodeExists):
		return &opError{op: "create", path: path, err: err}
	}
	return nil
}

// put creates path with the run's value, or sets it if it exists.
func (b *benchRun) put(ctx context.Context, path string) error {
	rctx, cancel := context.WithTimeout(ctx, b.spec.timeout)
	defer cancel()
	_, err := b.admin.Create(rctx, path, b.value)
	if errors.Is(err, client.ErrNodeExists) {
		if _, err := b.admin.Set(rctx, path, b.value, -1); err != nil {
			return &opError{op: "set", path: path, err: err}
		}
		return nil
	}
	if err != nil {
		return &opError{op: "create", path: path, err: err}
	}
	return nil
}

// putAll puts paths in Multi batches; a batch that finds a node already
// there (a run with --keep left it) is done one node at a time.
func (b *benchRun) putAll(ctx context.Context, paths []string) error {
	batch := min(setupBatchOps, max(1, setupBatchBytes/(len(b.value)+benchNodeOverhead)))
	for lo := 0; lo < len(paths); lo += batch {
		chunk := paths[lo:min(lo+batch, len(paths))]
		ops := make([]client.Op, len(chunk))
		for i, p := range chunk {
			ops[i] = client.CreateOp(p, b.value)
		}
		rctx, cancel := context.WithTimeout(ctx, b.spec.timeout)
		_, err := b.admin.Multi(rctx, ops...)
		cancel()
		if err == nil {
			continue
		}
		if !errors.Is(err, client.ErrNodeExists) {
			return &opError{op: "create", path: chunk[0], err: err}
		}
		for _, p := range chunk {
			if err := b.put(ctx, p); err != nil {
				return err
			}
		}
	}
	return nil
}

// creations returns ROOT/create's sequential counter: the number of
// children ever created under it. Its Stat has it as (cversion +
// children) / 2, since cversion counts creations plus deletions.
func (b *benchRun) creations(ctx context.Context) (int32, error) {
	rctx, cancel := context.WithTimeout(ctx, b.spec.timeout)
	defer cancel()
	st, err := b.admin.Exists(rctx, b.dir())
	if err != nil {
		return 0, &opError{op: "exists", path: b.dir(), err: err}
	}
	return int32((int64(st.Cversion) + int64(st.NumChildren)) / 2), nil
}

// cleanup deletes the nodes the workload wrote, then the directories the
// run created, innermost first, if nothing else is left in them.
func (b *benchRun) cleanup(ctx context.Context) error {
	var err error
	switch {
	case b.spec.workload == "create" && b.seqKnown:
		// Every node created since setup, including those whose create
		// was cut short by the run's end after it took effect: the
		// counter is the member's. They are named as they are deleted,
		// since a long run may have made millions.
		n, cerr := b.creations(ctx)
		if cerr != nil {
			if !errors.Is(cerr, client.ErrNoNode) {
				return cerr
			}
			n = b.seqStart // the directory is gone, and its nodes with it
		}
		prefix := b.dir() + "/n-"
		err = b.deleteAll(ctx, int(n-b.seqStart), func(i int) string { return zpath.Sequential(prefix, b.seqStart+int32(i)) })
	case len(b.dataPaths) > 0:
		err = b.deleteAll(ctx, len(b.dataPaths), func(i int) string { return b.dataPaths[i] })
	case b.spec.workload == "watch":
		err = b.deleteAll(ctx, 1, func(int) string { return b.dir() })
	}
	if err != nil {
		return err
	}
	for i := len(b.created) - 1; i >= 0; i-- {
		rctx, cancel := context.WithTimeout(ctx, b.spec.timeout)
		err := b.admin.Delete(rctx, b.created[i], -1)
		cancel()
		switch {
		case errors.Is(err, client.ErrNotEmpty):
			// Someone else's nodes are in it: leave them, and it.
			return nil
		case err != nil && !errors.Is(err, client.ErrNoNode):
			return &opError{op: "delete", path: b.created[i], err: err}
		}
	}
	return nil
}

// deleteAll deletes the n nodes path(0) ... path(n-1) in Multi batches; a
// batch that misses a node is done one node at a time, as a missing node
// is not an error.
func (b *benchRun) deleteAll(ctx context.Context, n int, path func(i int) string) error {
	for lo := 0; lo < n; lo += deleteBatchOps {
		chunk := make([]string, min(deleteBatchOps, n-lo))
		ops := make([]client.Op, len(chunk))
		for i := range chunk {
			chunk[i] = path(lo + i)
			ops[i] = client.DeleteOp(chunk[i], -1)
		}
		rctx, cancel := context.WithTimeout(ctx, b.spec.timeout)
		_, err := b.admin.Multi(rctx, ops...)
		cancel()
		if err == nil {
			continue
		}
		if !errors.Is(err, client.ErrNoNode) {
			return &opError{op: "delete", path: chunk[0], err: err}
		}
		for _, p := range chunk {
			rctx, cancel := context.WithTimeout(ctx, b.spec.timeout)
			err := b.admin.Delete(rctx, p, -1)
			cancel()
			if err != nil && !errors.Is(err, client.ErrNoNode) {
				return &opError{op: "delete", path: p, err: err}
			}
		}
	}
	return nil
}

// connectOne opens session i on the servers, starting with server i mod
// n: sessions are spread round-robin, and each moves on to the next
// server only if its own is down.
func connectOne(ctx context.Context, s benchSpec, i int) (*client.Client, error) {
	k := i % len(s.servers)
	servers := append(slices.Clone(s.servers[k:]), s.servers[:k]...)
	return dial(ctx, servers, s.timeout, s.sessionTimeout, client.WithOrderedServers())
}

// connect opens the clients' sessions and, for watch, the watchers'
// with their watches, a bounded number at a time.
func (b *benchRun) connect(ctx context.Context) error {
	n := b.spec.clients
	if b.spec.workload == "watch" {
		n = 1
	}
	b.clients = make([]*client.Client, n)
	err := loadgen.ForEach(ctx, n, clientConnects, func(ctx context.Context, i int) error {
		cl, err := connectOne(ctx, b.spec, i)
		if err != nil {
			return fmt.Errorf("client %d: %w", i, err)
		}
		b.clients[i] = cl
		return nil
	})
	if err != nil {
		return err
	}
	switch b.spec.workload {
	case "set", "get", "mixed":
		b.rngs = make([]*rand.Rand, n)
		seed := rand.Uint64()
		for i := range b.rngs {
			b.rngs[i] = rand.New(rand.NewPCG(seed, uint64(i)))
		}
	case "lock":
		b.mutexes = make([]*recipes.Mutex, n)
		for i, cl := range b.clients {
			b.mutexes[i] = recipes.NewMutex(cl, b.dir())
		}
	case "watch":
		return b.connectWatchers(ctx)
	}
	return nil
}

func (b *benchRun) connectWatchers(ctx context.Context) error {
	w := b.spec.watchers
	b.watchers = make([]*client.Client, w)
	b.tracker = loadgen.NewWatchTracker(w, 0)
	return loadgen.ForEach(ctx, w, watcherConnects, func(ctx context.Context, i int) error {
		// The writer is session 0 of the round-robin; watchers follow.
		cl, err := connectOne(ctx, b.spec, i+1)
		if err != nil {
			return fmt.Errorf("watcher %d: %w", i, err)
		}
		b.watchers[i] = cl
		wctx, cancel := context.WithTimeout(ctx, b.spec.timeout)
		defer cancel()
		wt, err := cl.AddWatch(wctx, b.dir(), false)
		if err != nil {
			return fmt.Errorf("watcher %d: %w", i, &opError{op: "addwatch", path: b.dir(), err: err})
		}
		b.watchWG.Add(1)
		go func() {
			defer b.watchWG.Done()
			for ev := range wt.Events() {
				b.tracker.Saw(i, int64(ev.Zxid), time.Now())
			}
			why := wt.Err()
			if why == nil {
				why = errors.New("watch ended")
			}
			b.tracker.Fail(i, why)
		}()
		return nil
	})
}

// closeSessions closes every session the run opened, a bounded number at
// a time, and waits for the watchers' goroutines.
func (b *benchRun) closeSessions(ctx context.Context) {
	all := append(slices.Clone(b.clients), b.watchers...)
	_ = loadgen.ForEach(ctx, len(all), watcherConnects, func(ctx context.Context, i int) error {
		if all[i] != nil {
			// A session that fails to close expires on its own.
			_ = closeSession(ctx, all[i])
		}
		return nil
	})
	b.watchWG.Wait()
}

// op returns the workload's operation.
func (b *benchRun) op() loadgen.Op {
	switch b.spec.workload {
	case "create":
		prefix := b.dir() + "/n-"
		return loadgen.Timed(func(ctx context.Context, c int) error {
			_, err := b.clients[c].Create(ctx, prefix, b.value, client.WithMode(client.ModePersistentSequential))
			return err
		})
	case "set":
		return loadgen.Timed(func(ctx context.Context, c int) error {
			_, err := b.clients[c].Set(ctx, b.dataPaths[b.rngs[c].IntN(len(b.dataPaths))], b.value, -1)
			return err
		})
	case "get":
		return loadgen.Timed(func(ctx context.Context, c int) error {
			_, _, err := b.clients[c].Get(ctx, b.dataPaths[b.rngs[c].IntN(len(b.dataPaths))])
			return err
		})
	case "mixed":
		return loadgen.Timed(func(ctx context.Context, c int) error {
			r := b.rngs[c]
			p := b.dataPaths[r.IntN(len(b.dataPaths))]
			if r.Float64() < benchGetFraction {
				_, _, err := b.clients[c].Get(ctx, p)
				return err
			}
			_, err := b.clients[c].Set(ctx, p, b.value, -1)
			return err
		})
	case "lock":
		return loadgen.Timed(b.lockOnce)
	case "watch":
		return b.watchOnce
	}
	panic("bench: no op for workload " + b.spec.workload) // benchSpecFrom admits no other
}

// lockOnce acquires and releases client c's lock.
func (b *benchRun) lockOnce(ctx context.Context, c int) error {
	m := b.mutexes[c]
	if err := m.Lock(ctx); err != nil {
		return err
	}
	if err := m.Unlock(ctx); err != nil {
		// The value may still think it holds the lock; start afresh.
		// Its node goes when the session does, or when deleted.
		b.mutexes[c] = recipes.NewMutex(b.clients[c], b.dir())
		return err
	}
	return nil
}

// watchOnce sets the watched node and returns the time from the set's
// acknowledgement until the last watcher had an event for it.
func (b *benchRun) watchOnce(ctx context.Context, _ int) (time.Duration, error) {
	st, err := b.clients[0].Set(ctx, b.dir(), b.value, -1)
	if err != nil {
		return 0, err
	}
	acked := time.Now()
	last, err := b.tracker.Wait(ctx, st.Mzxid)
	if err != nil {
		return 0, err
	}
	// A watcher may hear of the write before the writer does: then
	// the latency is 0.
	return loadgen.WatchLatency(acked, last), nil
}

// countOf is "1 operation", "1,000 operations".
func countOf(n int64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return loadgen.Thousands(n) + " " + noun + "s"
}
