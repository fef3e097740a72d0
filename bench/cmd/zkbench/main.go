// Command zkbench is a closed-loop load generator for a ZooKeeper-protocol
// server (ZooKeeper itself, or arbor's ZooKeeper front end) on this machine.
//
// Each of -clients clients has its own session and connection and keeps one
// request in flight at a time. The workloads are:
//
//	create  persistent sequential nodes of -value-size bytes (default 100)
//	        under one parent
//	get     reads of 1,000 pre-created nodes of -value-size bytes (default
//	        1024), chosen at random
//	set     overwrites of those 1,000 nodes with -value-size bytes (default
//	        1024), chosen at random
//
// It prints one line with the throughput and the latency percentiles, or a
// JSON object with -json. It only dials loopback addresses, and it is
// bounded both in time (-duration, at most 10 minutes) and in count
// (-max-ops requests in all).
//
// Usage:
//
//	zkbench -servers 127.0.0.1:2181 -workload set -clients 64 -duration 10s
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zookeeper/zk"
)

// Limits that keep a run bounded whatever the flags say.
const (
	maxClients  = 1024
	maxDuration = 10 * time.Minute
	// dataNodes is how many nodes the get and set workloads use.
	dataNodes = 1000
)

// config is the parsed command line.
type config struct {
	servers   []string
	workload  string
	clients   int
	duration  time.Duration
	warmup    time.Duration
	valueSize int
	maxOps    int64
	root      string
	json      bool
}

// Result is the outcome of one run, as printed with -json.
type Result struct {
	Workload  string  `json:"workload"`
	Clients   int     `json:"clients"`
	ValueSize int     `json:"value_size"`
	Seconds   float64 `json:"seconds"`
	Ops       int64   `json:"ops"`
	OpsPerSec float64 `json:"ops_per_sec"`
	P50Ms     float64 `json:"p50_ms"`
	P99Ms     float64 `json:"p99_ms"`
	P999Ms    float64 `json:"p999_ms"`
	Errors    int64   `json:"errors"`
	FirstErr  string  `json:"first_error,omitempty"`
}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "zkbench:", err)
		os.Exit(2)
	}
	res, err := run(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "zkbench:", err)
		os.Exit(1)
	}
	if cfg.json {
		out, _ := json.Marshal(res)
		fmt.Println(string(out))
	} else {
		fmt.Printf("%s clients=%d value=%dB ops=%d time=%.2fs %.0f ops/s p50=%.3fms p99=%.3fms p99.9=%.3fms errors=%d\n",
			res.Workload, res.Clients, res.ValueSize, res.Ops, res.Seconds, res.OpsPerSec,
			res.P50Ms, res.P99Ms, res.P999Ms, res.Errors)
	}
	if res.Errors > 0 {
		fmt.Fprintln(os.Stderr, "zkbench: first error:", res.FirstErr)
		os.Exit(1)
	}
}

func parseFlags(args []string) (config, error) {
	fs := flag.NewFlagSet("zkbench", flag.ContinueOnError)
	servers := fs.String("servers", "127.0.0.1:2181", "comma-separated host:port list (loopback only)")
	workload := fs.String("workload", "create", "create, get or set")
	clients := fs.Int("clients", 64, "concurrent clients, each with its own session")
	duration := fs.Duration("duration", 10*time.Second, "measured run time")
	warmup := fs.Duration("warmup", 2*time.Second, "unmeasured run time before the measurement")
	valueSize := fs.Int("value-size", 0, "bytes per node (0: 100 for create, 1024 for get and set)")
	maxOps := fs.Int64("max-ops", 20_000_000, "stop after this many measured requests in all")
	root := fs.String("root", "/zkbench", "parent of the nodes the benchmark makes")
	asJSON := fs.Bool("json", false, "print the result as a JSON object")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	cfg := config{
		servers:   strings.Split(*servers, ","),
		workload:  *workload,
		clients:   *clients,
		duration:  *duration,
		warmup:    *warmup,
		valueSize: *valueSize,
		maxOps:    *maxOps,
		root:      strings.TrimRight(*root, "/"),
		json:      *asJSON,
	}
	switch cfg.workload {
	case "create":
		if cfg.valueSize == 0 {
			cfg.valueSize = 100
		}
	case "get", "set":
		if cfg.valueSize == 0 {
			cfg.valueSize = 1024
		}
	default:
		return config{}, fmt.Errorf("unknown workload %q (want create, get or set)", cfg.workload)
	}
	switch {
	case cfg.clients < 1 || cfg.clients > maxClients:
		return config{}, fmt.Errorf("-clients must be in [1, %d]", maxClients)
	case cfg.duration <= 0 || cfg.duration > maxDuration:
		return config{}, fmt.Errorf("-duration must be in (0, %v]", maxDuration)
	case cfg.warmup < 0 || cfg.warmup > maxDuration:
		return config{}, fmt.Errorf("-warmup must be in [0, %v]", maxDuration)
	case cfg.valueSize < 0 || cfg.valueSize > 1<<20:
		return config{}, errors.New("-value-size must be in [0, 1 MiB]")
	case cfg.maxOps < 1:
		return config{}, errors.New("-max-ops must be positive")
	case !strings.HasPrefix(cfg.root, "/") || len(cfg.root) < 2:
		return config{}, errors.New("-root must be an absolute path other than /")
	}
	for _, s := range cfg.servers {
		if err := checkLoopback(s); err != nil {
			return config{}, err
		}
	}
	return cfg, nil
}

// checkLoopback reports an error unless addr is host:port and host is a
// loopback IP address or resolves only to loopback addresses.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("server %q: %v", addr, err)
	}
	ips := []net.IP{net.ParseIP(host)}
	if ips[0] == nil {
		ips, err = net.LookupIP(host)
		if err != nil {
			return fmt.Errorf("server %q: %v", addr, err)
		}
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return fmt.Errorf("server %q: %v is not a loopback address", addr, ip)
		}
	}
	return nil
}

// loopbackDialer dials like net.DialTimeout, but refuses any address that is
// not a loopback IP address (the client hands it resolved addresses).
func loopbackDialer(network, address string, timeout time.Duration) (net.Conn, error) {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("refusing to dial %s: not a loopback address", address)
	}
	return net.DialTimeout(network, address, timeout)
}

// quietLogger drops the client library's log lines.
type quietLogger struct{}

func (quietLogger) Printf(string, ...any) {}

// connect opens one session and waits until the server has granted it.
func connect(servers []string) (*zk.Conn, error) {
	conn, events, err := zk.Connect(servers, 10*time.Second,
		zk.WithDialer(loopbackDialer), zk.WithLogger(quietLogger{}))
	if err != nil {
		return nil, err
	}
	timeout := time.After(15 * time.Second)
	for {
		select {
		case ev := <-events:
			if ev.State == zk.StateHasSession {
				go drain(events)
				return conn, nil
			}
			if ev.State == zk.StateAuthFailed || ev.State == zk.StateExpired {
				conn.Close()
				return nil, fmt.Errorf("session: %v", ev.State)
			}
		case <-timeout:
			conn.Close()
			return nil, errors.New("no session within 15s")
		}
	}
}

// drain consumes session events until the connection is closed, so that the
// client never blocks on its event channel.
func drain(events <-chan zk.Event) {
	for range events {
	}
}

// ensure creates path with data if it does not exist, or sets its data.
func ensure(conn *zk.Conn, path string, data []byte) error {
	_, err := conn.Create(path, data, 0, zk.WorldACL(zk.PermAll))
	if errors.Is(err, zk.ErrNodeExists) {
		_, err = conn.Set(path, data, -1)
	}
	if err != nil {
		return fmt.Errorf("prepare %s: %w", path, err)
	}
	return nil
}

// prepare makes the nodes the workload needs and returns the paths that get
// and set use (none for create).
func prepare(conn *zk.Conn, cfg config) (parent string, paths []string, err error) {
	if err := ensure(conn, cfg.root, nil); err != nil {
		return "", nil, err
	}
	if cfg.workload == "create" {
		parent = cfg.root + "/create"
		return parent, nil, ensure(conn, parent, nil)
	}
	parent = cfg.root + "/data"
	if err := ensure(conn, parent, nil); err != nil {
		return "", nil, err
	}
	value := make([]byte, cfg.valueSize)
	paths = make([]string, dataNodes)
	for i := range paths {
		paths[i] = fmt.Sprintf("%s/n%04d", parent, i)
	}
	// The session's requests are pipelined, so a few goroutines fill the
	// nodes quickly.
	var wg sync.WaitGroup
	errs := make([]error, 16)
	for w := range errs {
		wg.Go(func() {
			for i := w; i < len(paths); i += len(errs) {
				if err := ensure(conn, paths[i], value); err != nil {
					errs[w] = err
					return
				}
			}
		})
	}
	wg.Wait()
	return parent, paths, errors.Join(errs...)
}

// client is one closed-loop worker's state and tally.
type client struct {
	conn      *zk.Conn
	rng       *rand.Rand
	latencies []time.Duration
	errors    int64
	firstErr  error
}

// do sends one request of the workload and waits for its answer.
func (c *client) do(cfg config, parent string, paths []string, value []byte) error {
	switch cfg.workload {
	case "create":
		_, err := c.conn.Create(parent+"/n-", value, zk.FlagSequence, zk.WorldACL(zk.PermAll))
		return err
	case "get":
		_, _, err := c.conn.Get(paths[c.rng.IntN(len(paths))])
		return err
	default:
		_, err := c.conn.Set(paths[c.rng.IntN(len(paths))], value, -1)
		return err
	}
}

// run prepares the nodes, runs the clients through the warm-up and the
// measurement, and sums up.
func run(cfg config) (Result, error) {
	setup, err := connect(cfg.servers)
	if err != nil {
		return Result{}, err
	}
	parent, paths, err := prepare(setup, cfg)
	setup.Close()
	if err != nil {
		return Result{}, err
	}

	clients := make([]*client, cfg.clients)
	defer func() {
		for _, c := range clients {
			if c != nil {
				c.conn.Close()
			}
		}
	}()
	for i := range clients {
		conn, err := connect(cfg.servers)
		if err != nil {
			return Result{}, fmt.Errorf("client %d: %w", i, err)
		}
		clients[i] = &client{conn: conn, rng: rand.New(rand.NewPCG(uint64(i), uint64(time.Now().UnixNano())))}
	}

	value := make([]byte, cfg.valueSize)
	for i := range value {
		value[i] = byte('a' + i%26)
	}
	start := time.Now().Add(cfg.warmup)
	end := start.Add(cfg.duration)
	var budget atomic.Int64
	budget.Store(cfg.maxOps)
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Go(func() {
			for {
				t0 := time.Now()
				if !t0.Before(end) {
					return
				}
				measured := !t0.Before(start)
				if measured && budget.Add(-1) < 0 {
					return
				}
				err := c.do(cfg, parent, paths, value)
				d := time.Since(t0)
				if err != nil {
					// Stop this client: a broken session would only spin.
					c.errors++
					c.firstErr = err
					return
				}
				if measured {
					c.latencies = append(c.latencies, d)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)

	var all []time.Duration
	res := Result{Workload: cfg.workload, Clients: cfg.clients, ValueSize: cfg.valueSize, Seconds: elapsed.Seconds()}
	for _, c := range clients {
		all = append(all, c.latencies...)
		res.Errors += c.errors
		if c.firstErr != nil && res.FirstErr == "" {
			res.FirstErr = c.firstErr.Error()
		}
	}
	slices.Sort(all)
	res.Ops = int64(len(all))
	if elapsed > 0 {
		res.OpsPerSec = float64(res.Ops) / elapsed.Seconds()
	}
	res.P50Ms = percentileMs(all, 0.50)
	res.P99Ms = percentileMs(all, 0.99)
	res.P999Ms = percentileMs(all, 0.999)
	return res, nil
}

// percentileMs returns the q-th quantile of the sorted latencies, in
// milliseconds (nearest rank), or 0 when there are none.
func percentileMs(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	i = max(0, min(i, len(sorted)-1))
	return float64(sorted[i]) / float64(time.Millisecond)
}
