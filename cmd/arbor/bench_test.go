package main

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/arbor-coord/arbor/client"
	"github.com/arbor-coord/arbor/internal/loadgen"
)

// benchBound bounds the test's own waits and requests.
const benchBound = 20 * time.Second

// benchRunJSON runs arbor --output json bench args against addr, expects
// success, and returns the result with the raw object's field names.
func benchRunJSON(t *testing.T, addr string, args ...string) (loadgen.Report, map[string]any) {
	t.Helper()
	r := arborAt(t, addr, "", append([]string{"--output", "json", "bench"}, args...)...)
	if r.code != 0 || strings.Contains(r.stderr, "arbor:") {
		t.Fatalf("arbor bench %q: %v", args, r)
	}
	if n := strings.Count(r.stdout, "\n"); n != 1 {
		t.Fatalf("arbor bench %q: %d lines on stdout, want one JSON object: %q", args, n, r.stdout)
	}
	var j loadgen.Report
	if err := json.Unmarshal([]byte(r.stdout), &j); err != nil {
		t.Fatalf("arbor bench %q: %v in %q", args, err, r.stdout)
	}
	var raw map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &raw); err != nil {
		t.Fatal(err)
	}
	return j, raw
}

// benchFields are the fields of the result format shared with cmpbench.
var benchFields = []string{"system", "workload", "clients", "value_size", "watchers", "seconds", "ops", "ops_per_sec",
	"p50_ms", "p99_ms", "p999_ms", "max_ms", "errors", "first_error"}

// checkSane checks what every successful run's result must say.
func checkSane(t *testing.T, j loadgen.Report, raw map[string]any) {
	t.Helper()
	for _, f := range benchFields {
		if _, ok := raw[f]; !ok {
			t.Errorf("%s: no field %q in %v", j.Workload, f, raw)
		}
	}
	want := len(benchFields)
	if _, ok := raw["target_rate"]; ok { // only in a fixed-rate run's result
		want++
	}
	if len(raw) != want {
		t.Errorf("%s: fields %v, want exactly %v (and target_rate in a fixed-rate run)", j.Workload, raw, benchFields)
	}
	if j.System != "arbor" || j.Ops <= 0 || j.Seconds <= 0 || j.OpsPerSec <= 0 || j.Errors != 0 || j.FirstError != "" {
		t.Errorf("%s: %+v", j.Workload, j)
	}
	if !(j.P50Ms <= j.P99Ms && j.P99Ms <= j.P999Ms && j.P999Ms <= j.MaxMs && j.MaxMs > 0) {
		t.Errorf("%s: percentiles out of order: %+v", j.Workload, j)
	}
}

// Every workload runs, measures something and leaves nothing behind.
func TestBenchWorkloads(t *testing.T) {
	t.Parallel()
	addr := member(t)
	c := lockClient(t, addr)
	for _, tc := range []struct {
		workload                  string
		args                      []string
		clients, watchers, valueB int
	}{
		{"create", nil, 2, 0, 100},
		{"set", []string{"--value-size", "10"}, 2, 0, 10},
		{"get", nil, 2, 0, 1024},
		{"mixed", nil, 3, 0, 1024},
		{"watch", []string{"--watchers", "3"}, 1, 3, 1024},
		{"lock", nil, 2, 0, 0},
	} {
		args := append([]string{"--workload", tc.workload, "--clients", strconv.Itoa(max(tc.clients, 2)), "--duration", "1s", "--warmup", "200ms"}, tc.args...)
		j, raw := benchRunJSON(t, addr, args...)
		checkSane(t, j, raw)
		if j.Workload != tc.workload || j.Clients != tc.clients || j.Watchers != tc.watchers || j.ValueSize != tc.valueB {
			t.Errorf("%s: %+v; want %d clients, %d watchers, value size %d", tc.workload, j, tc.clients, tc.watchers, tc.valueB)
		}
		ctx, cancel := context.WithTimeout(context.Background(), benchBound)
		if _, err := c.Exists(ctx, "/arbor-bench"); !errors.Is(err, client.ErrNoNode) {
			t.Errorf("%s: /arbor-bench after the run: %v; want NoNode (cleaned up)", tc.workload, err)
		}
		cancel()
	}
}

// The text output is one line on stdout, with progress on stderr.
func TestBenchText(t *testing.T) {
	t.Parallel()
	addr := member(t)
	r := arborAt(t, addr, "", "bench", "--workload", "get", "--clients", "2", "--duration", "1500ms", "--warmup", "0s")
	line := regexp.MustCompile(`^get: 2 clients, 1\.[0-9] s: [0-9,]+ ops/s, p50 [0-9.]+ ms, p99 [0-9.]+ ms, p99\.9 [0-9.]+ ms, max [0-9.]+ ms, 0 errors\n$`)
	progress := regexp.MustCompile(`^ +1s  [0-9,]+ ops/s  \([0-9,]+ ops, 0 errors\)\n$`)
	if r.code != 0 || !line.MatchString(r.stdout) || !progress.MatchString(r.stderr) {
		t.Fatalf("arbor bench: %v", r)
	}
}

// create makes the nodes it counts: with --keep they stay, without they
// go, and a run without --keep leaves what an earlier run kept.
func TestBenchCreateKeep(t *testing.T) {
	t.Parallel()
	addr := member(t)
	c := lockClient(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), benchBound)
	defer cancel()
	children := func() []string {
		t.Helper()
		names, _, err := c.Children(ctx, "/kept/create")
		if err != nil {
			t.Fatal(err)
		}
		return names
	}

	// No warm-up: every node created is one of the run's, bar the
	// creates of other clients still in flight when --max-ops ended it.
	const clients = 2
	j, raw := benchRunJSON(t, addr, "--workload", "create", "--clients", strconv.Itoa(clients), "--warmup", "0s",
		"--duration", "20s", "--max-ops", "40", "--root", "/kept", "--keep", "--value-size", "7")
	checkSane(t, j, raw)
	kept := children()
	if j.Ops < 40 || int64(len(kept)) < j.Ops || int64(len(kept)) > j.Ops+clients {
		t.Fatalf("%d ops, %d nodes; want at least 40 ops and between ops and ops+%d nodes", j.Ops, len(kept), clients)
	}
	for _, name := range kept {
		data, _, err := c.Get(ctx, "/kept/create/"+name)
		if err != nil || len(data) != 7 || !strings.HasPrefix(name, "n-") {
			t.Fatalf("node %s: %q, %v; want 7 bytes", name, data, err)
		}
	}

	// A fixed-rate run starts no more ops than its schedule had due, and
	// says so in its report.
	j, raw = benchRunJSON(t, addr, "--workload", "get", "--clients", strconv.Itoa(clients), "--warmup", "0s",
		"--duration", "500ms", "--rate", "100", "--root", "/kept")
	checkSane(t, j, raw)
	if j.TargetRate != 100 || j.Ops < 1 || j.Ops > int64(100*j.Seconds)+clients+1 {
		t.Fatalf("--rate 100 for %.3f s: %d ops, target_rate %v", j.Seconds, j.Ops, j.TargetRate)
	}

	// Without --keep the run removes its own nodes only.
	j, raw = benchRunJSON(t, addr, "--workload", "create", "--clients", strconv.Itoa(clients), "--warmup", "0s",
		"--duration", "20s", "--max-ops", "30", "--root", "/kept")
	checkSane(t, j, raw)
	if after := children(); !slices.Equal(after, kept) {
		t.Fatalf("after a run without --keep: %d nodes, want the %d kept before", len(after), len(kept))
	}

	// A fresh root goes entirely.
	benchRunJSON(t, addr, "--workload", "create", "--clients", "2", "--duration", "1s", "--warmup", "0s", "--root", "/kept/fresh")
	if _, err := c.Exists(ctx, "/kept/fresh"); !errors.Is(err, client.ErrNoNode) {
		t.Fatalf("/kept/fresh after the run: %v; want NoNode", err)
	}
}

// Each op of the watch workload is one write that the watchers saw: the
// count of ops is the count of writes, which a watcher of the test's own
// sees one by one.
func TestBenchWatchCountsWrites(t *testing.T) {
	t.Parallel()
	addr := member(t)
	c := lockClient(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), benchBound)
	defer cancel()
	w, err := c.AddWatch(ctx, "/wb/watch", false)
	if err != nil {
		t.Fatal(err)
	}
	const writes = 30
	j, raw := benchRunJSON(t, addr, "--workload", "watch", "--watchers", "4", "--warmup", "0s",
		"--duration", "20s", "--max-ops", strconv.Itoa(writes), "--root", "/wb", "--keep")
	checkSane(t, j, raw)
	if j.Ops != writes || j.Watchers != 4 {
		t.Fatalf("%+v; want %d ops, 4 watchers", j, writes)
	}
	_, st, err := c.Get(ctx, "/wb/watch")
	if err != nil {
		t.Fatal(err)
	}
	// The node was created, then set once per op and never more.
	if st.Version != writes {
		t.Fatalf("the watched node's version is %d after %d ops", st.Version, writes)
	}
	changes := 0
	for changes < writes {
		select {
		case ev := <-w.Events():
			if ev.Type == client.EventNodeDataChanged {
				changes++
			}
		case <-ctx.Done():
			t.Fatalf("the test's watcher saw %d changes of %d", changes, writes)
		}
	}
}

// Every wrong command line is refused before anything is contacted, and
// nothing is created.
func TestBenchUsage(t *testing.T) {
	t.Parallel()
	addr := member(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"bench"}, "arbor: bench: --workload is required: one of create, set, get, mixed, watch, lock"},
		{[]string{"bench", "-w", "delete"}, `arbor: bench: --workload "delete": want one of create, set, get, mixed, watch, lock`},
		{[]string{"bench", "-w", "get", "--clients", "0"}, "arbor: bench: --clients 0: want 1 to 1024"},
		{[]string{"bench", "-w", "get", "--clients", "1025"}, "arbor: bench: --clients 1025: want 1 to 1024"},
		{[]string{"bench", "-w", "get", "--duration", "0s"}, "arbor: bench: --duration 0s: want more than 0 and at most 10m0s"},
		{[]string{"bench", "-w", "get", "--duration", "11m"}, "arbor: bench: --duration 11m0s: want more than 0 and at most 10m0s"},
		{[]string{"bench", "-w", "get", "--warmup", "-1s"}, "arbor: bench: --warmup -1s: want 0 to 10m0s"},
		{[]string{"bench", "-w", "get", "--max-ops", "-1"}, "arbor: bench: --max-ops -1: want 0 (no bound) or more"},
		{[]string{"bench", "-w", "get", "--rate", "-1"}, "arbor: bench: --rate -1: want 0 (a closed loop) to 10000000 ops per second"},
		{[]string{"bench", "-w", "get", "--rate", "NaN"}, "arbor: bench: --rate NaN: want 0 (a closed loop) to 10000000 ops per second"},
		{[]string{"bench", "-w", "set", "--value-size", "1048577"}, "arbor: bench: --value-size 1048577: want 0 to 1048576 bytes"},
		{[]string{"bench", "-w", "set", "--value-size", "-1"}, "arbor: bench: --value-size -1: want 0 to 1048576 bytes"},
		{[]string{"bench", "-w", "lock", "--value-size", "10"}, "arbor: bench: --value-size: the lock workload writes no data"},
		{[]string{"bench", "-w", "get", "--watchers", "3"}, "arbor: bench: --watchers is for the watch workload only, not get"},
		{[]string{"bench", "-w", "watch", "--watchers", "0"}, "arbor: bench: --watchers 0: want 1 to 10000"},
		{[]string{"bench", "-w", "watch", "--watchers", "10001"}, "arbor: bench: --watchers 10001: want 1 to 10000"},
		{[]string{"bench", "-w", "get", "--root", "bench"}, `arbor: bench: --root: invalid path "bench": must start with /`},
		{[]string{"bench", "-w", "get", "--root", "/a/"}, `arbor: bench: --root: invalid path "/a/": must not end with /`},
		{[]string{"bench", "-w", "get", "--root", "/"}, "arbor: bench: --root /: want a node below /, which the run may create and delete"},
		{[]string{"bench", "-w", "get", "extra"}, `arbor: bench takes no arguments, got ["extra"] (flags start with --)`},
		{[]string{"bench", "-w", "get", "--clients", "many"}, `arbor: bench: invalid value "many" for flag -clients: parse error`},
	} {
		r := arborAt(t, addr, "", tc.args...)
		if r.code != exitUsage || r.stderr != tc.want+"\n" || r.stdout != "" {
			t.Errorf("arbor %q: %v; want exit %d, stderr %q", tc.args, r, exitUsage, tc.want)
		}
	}
	fails(t, "127.0.0.1", exitUsage, `arbor: bench: --servers: "127.0.0.1" is not HOST:PORT`, "bench", "-w", "get")
	fails(t, ",,", exitUsage, `arbor: --servers ",,": want HOST:PORT[,HOST:PORT...]`, "bench", "-w", "get")
	// The shell's commands share its session: bench is not one of them.
	if r := arborAt(t, addr, "bench -w get\n", "shell"); r.code != 2 || r.stderr != "arbor: bench: not available in the shell\n" {
		t.Errorf("bench in the shell: %v", r)
	}

	c := lockClient(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), benchBound)
	defer cancel()
	names, _, err := c.Children(ctx, "/")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if n != "arbor" {
			t.Errorf("a usage error created /%s", n)
		}
	}
}

// A client that cannot connect fails the run with the server it tried.
func TestBenchConnectError(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	fails(t, addr, exitError, "arbor: bench: connect "+addr+": timed out (see --timeout)",
		"--timeout", "300ms", "bench", "-w", "get")
}
