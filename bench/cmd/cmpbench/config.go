package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/arbor-coord/arbor/internal/loadgen"
)

// Limits that keep a run bounded whatever the flags say.
const (
	maxClients  = 1024
	maxWatchers = 10_000
	maxDuration = 10 * time.Minute
	// maxValueBytes stays well under ZooKeeper's default packet limit
	// (jute.maxbuffer, 1 MiB) and etcd's request limit (1.5 MiB).
	maxValueBytes = 512 << 10
	// dataNodes is how many nodes the set, get and mixed workloads use.
	dataNodes = 1000
)

// The systems cmpbench drives.
const (
	systemZooKeeper = "zookeeper"
	systemEtcd      = "etcd"
)

// workloadNames lists the workloads for the usage and the errors.
const workloadNames = "create, set, get, mixed, watch or lock"

// config is one run as the command line describes it.
type config struct {
	system       string
	servers      []string // host:port, each
	workload     string
	clients      int
	watchers     int // watch workload only
	duration     time.Duration
	warmup       time.Duration
	valueBytes   int // 0 for lock, which writes no value
	maxOps       int64
	rate         float64
	root         string
	keep         bool
	serializable bool // etcd get and mixed only
	json         bool
}

// parseFlags parses and checks the command line. Every error says which
// flag is wrong and why.
func parseFlags(args []string, usageOut io.Writer) (config, error) {
	fs := flag.NewFlagSet("cmpbench", flag.ContinueOnError)
	fs.SetOutput(usageOut)
	system := fs.String("system", "", "the system to drive: zookeeper or etcd (required)")
	servers := fs.String("servers", "", "comma-separated host:port list (default 127.0.0.1:2181 for zookeeper, 127.0.0.1:2379 for etcd)")
	workload := fs.String("workload", "create", "the workload: "+workloadNames)
	clients := fs.Int("clients", 64, fmt.Sprintf("concurrent clients, each with its own session (1 to %d)", maxClients))
	watchers := fs.Int("watchers", 0, fmt.Sprintf("watch workload: watching clients (default -clients; at most %d)", maxWatchers))
	duration := fs.Duration("duration", 10*time.Second, fmt.Sprintf("measured run time (at most %v)", maxDuration))
	warmup := fs.Duration("warmup", 2*time.Second, "unmeasured run time before the measurement")
	valueSize := fs.Int("value-size", 0, "bytes per value (default 100 for create and watch, 1024 for set, get and mixed)")
	maxOps := fs.Int64("max-ops", 0, "end the measurement after this many operations (0: only -duration bounds it)")
	rate := fs.Float64("rate", 0, "start this many operations per second in total on a fixed schedule, latency counted from each one's scheduled time (0: a closed loop)")
	root := fs.String("root", "/arbor-bench", "the benchmark's own node (ZooKeeper) or key prefix (etcd); removed at the end")
	keep := fs.Bool("keep", false, "leave what the run created under -root")
	serializable := fs.Bool("serializable", false, "etcd get and mixed: serializable gets instead of linearizable ones")
	asJSON := fs.Bool("json", false, "print the result as one JSON object")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected argument %q (every setting is a flag)", fs.Arg(0))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })

	cfg := config{
		system:       *system,
		workload:     *workload,
		clients:      *clients,
		watchers:     *watchers,
		duration:     *duration,
		warmup:       *warmup,
		valueBytes:   *valueSize,
		maxOps:       *maxOps,
		rate:         *rate,
		root:         *root,
		keep:         *keep,
		serializable: *serializable,
		json:         *asJSON,
	}
	switch cfg.system {
	case systemZooKeeper, systemEtcd:
	case "":
		return config{}, errors.New("-system is required: zookeeper or etcd")
	default:
		return config{}, fmt.Errorf("-system %q: want zookeeper or etcd", cfg.system)
	}
	if !given["servers"] {
		*servers = "127.0.0.1:2181"
		if cfg.system == systemEtcd {
			*servers = "127.0.0.1:2379"
		}
	}
	var err error
	if cfg.servers, err = parseServers(*servers); err != nil {
		return config{}, err
	}
	if err := cfg.checkWorkload(given); err != nil {
		return config{}, err
	}
	switch {
	case cfg.clients < 1 || cfg.clients > maxClients:
		return config{}, fmt.Errorf("-clients %d: must be in [1, %d]", cfg.clients, maxClients)
	case cfg.duration <= 0 || cfg.duration > maxDuration:
		return config{}, fmt.Errorf("-duration %v: must be in (0, %v]", cfg.duration, maxDuration)
	case cfg.warmup < 0 || cfg.warmup > maxDuration:
		return config{}, fmt.Errorf("-warmup %v: must be in [0, %v]", cfg.warmup, maxDuration)
	case cfg.maxOps < 0:
		return config{}, fmt.Errorf("-max-ops %d: must not be negative (0 means no bound)", cfg.maxOps)
	case !(cfg.rate >= 0 && cfg.rate <= loadgen.MaxRate):
		return config{}, fmt.Errorf("-rate %v: must be in [0, %d] operations per second (0: a closed loop)", cfg.rate, loadgen.MaxRate)
	}
	if err := checkRoot(cfg.root); err != nil {
		return config{}, err
	}
	if cfg.serializable && cfg.system != systemEtcd {
		return config{}, errors.New("-serializable applies only to -system etcd")
	}
	if cfg.serializable && cfg.workload != "get" && cfg.workload != "mixed" {
		return config{}, fmt.Errorf("-serializable applies only to the get and mixed workloads, not %s", cfg.workload)
	}
	return cfg, nil
}

// checkWorkload checks the workload's name and fills in the defaults that
// depend on it: the value size and the watcher count.
func (cfg *config) checkWorkload(given map[string]bool) error {
	switch cfg.workload {
	case "create", "watch":
		if !given["value-size"] {
			cfg.valueBytes = 100
		}
	case "set", "get", "mixed":
		if !given["value-size"] {
			cfg.valueBytes = 1024
		}
	case "lock":
		if given["value-size"] {
			return errors.New("-value-size does not apply to the lock workload, which writes no value")
		}
		cfg.valueBytes = 0
	default:
		return fmt.Errorf("-workload %q: want %s", cfg.workload, workloadNames)
	}
	if cfg.valueBytes < 0 || cfg.valueBytes > maxValueBytes {
		return fmt.Errorf("-value-size %d: must be in [0, %d]", cfg.valueBytes, maxValueBytes)
	}
	if cfg.workload != "watch" {
		if given["watchers"] {
			return fmt.Errorf("-watchers applies only to the watch workload, not %s", cfg.workload)
		}
		cfg.watchers = 0
		return nil
	}
	if !given["watchers"] {
		cfg.watchers = cfg.clients
	}
	if cfg.watchers < 1 || cfg.watchers > maxWatchers {
		return fmt.Errorf("-watchers %d: must be in [1, %d]", cfg.watchers, maxWatchers)
	}
	return nil
}

// parseServers splits a comma-separated list of host:port addresses and
// checks each one's shape. Any host is accepted; only the tests confine
// themselves to loopback addresses.
func parseServers(list string) ([]string, error) {
	if strings.TrimSpace(list) == "" {
		return nil, errors.New("-servers is empty: want host:port[,host:port...]")
	}
	parts := strings.Split(list, ",")
	servers := make([]string, 0, len(parts))
	for i, s := range parts {
		s = strings.TrimSpace(s)
		if s == "" {
			return nil, fmt.Errorf("-servers %q: address %d is empty", list, i+1)
		}
		if strings.Contains(s, "://") {
			return nil, fmt.Errorf("-servers: %q: want host:port without a scheme", s)
		}
		host, port, err := net.SplitHostPort(s)
		if err != nil {
			return nil, fmt.Errorf("-servers: %q: want host:port: %w", s, err)
		}
		if host == "" {
			return nil, fmt.Errorf("-servers: %q: the host is missing", s)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("-servers: %q: port %q is not a number in [1, 65535]", s, port)
		}
		servers = append(servers, s)
	}
	return servers, nil
}

// checkRoot reports whether root is an absolute path other than "/" whose
// components are neither empty nor "." or "..", as ZooKeeper requires of
// a node's path (etcd would accept anything, but one rule for both keeps
// the layouts alike).
func checkRoot(root string) error {
	if !strings.HasPrefix(root, "/") || root == "/" {
		return fmt.Errorf("-root %q: must be an absolute path other than /", root)
	}
	for _, part := range strings.Split(root[1:], "/") {
		switch part {
		case "":
			return fmt.Errorf("-root %q: has an empty component (a doubled or trailing /)", root)
		case ".", "..":
			return fmt.Errorf("-root %q: has a %q component", root, part)
		}
	}
	return nil
}
