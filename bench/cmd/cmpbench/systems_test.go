package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/arbor-coord/arbor/internal/loadgen"
)

// The servers the tests start: Debian's packages (zookeeper, etcd-server).
const (
	zooKeeperJar = "/usr/share/java/zookeeper.jar"
	etcdBinary   = "etcd"
	// serverStartTimeout bounds the wait for a server to serve; a JVM
	// on a busy machine takes a while.
	serverStartTimeout = 60 * time.Second
)

// TestZooKeeperWorkloads runs every workload for a second against a
// ZooKeeper started for the test.
func TestZooKeeperWorkloads(t *testing.T) {
	addr := startZooKeeper(t)
	checkWorkloads(t, systemZooKeeper, addr, func(t *testing.T, root string) int {
		conn, err := zkConnect(context.Background(), addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ok, _, err := conn.Exists(root)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return 0
		}
		var n int
		var count func(path string)
		count = func(path string) {
			children, _, err := conn.Children(path)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range children {
				n++
				count(path + "/" + c)
			}
		}
		count(root)
		return 1 + n
	})
}

// TestZooKeeperWatchRace checks that a ZooKeeper watcher sees every
// version even when a change lands between its event and its re-arm.
// Two sets in one multi always do that (they fire one event between
// them, and the re-read shows both); two sets in quick succession take
// either path. Every wait for the second set must end.
func TestZooKeeperWatchRace(t *testing.T) {
	addr := startZooKeeper(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg, err := parseFlags([]string{"-system", "zookeeper", "-servers", addr, "-workload", "watch",
		"-watchers", "3", "-root", "/cmpbench-race"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	z := newZooKeeper(cfg)
	defer z.close()
	if err := z.setup(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() {
		z.closeClients()
		if err := z.cleanup(ctx); err != nil {
			t.Error(err)
		}
	}()
	writer := z.clients[0]
	path := cfg.root + "/watch"
	for round := range 100 {
		var version int32
		if round%2 == 0 {
			set := &zk.SetDataRequest{Path: path, Version: -1}
			res, err := writer.Multi(set, set)
			if err != nil {
				t.Fatal(err)
			}
			version = res[1].Stat.Version
		} else {
			if _, err := writer.Set(path, nil, -1); err != nil {
				t.Fatal(err)
			}
			stat, err := writer.Set(path, nil, -1)
			if err != nil {
				t.Fatal(err)
			}
			version = stat.Version
		}
		wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
		_, err = z.tracker.Wait(wctx, int64(version))
		wcancel()
		if err != nil {
			t.Fatalf("round %d: wait for version %d: %v", round, version, err)
		}
	}
}

// TestEtcdWorkloads runs every workload for a second against an etcd
// started for the test.
func TestEtcdWorkloads(t *testing.T) {
	addr := startEtcd(t)
	checkWorkloads(t, systemEtcd, addr, func(t *testing.T, root string) int {
		cli, err := etcdConnect(context.Background(), addr)
		if err != nil {
			t.Fatal(err)
		}
		defer cli.Close()
		resp, err := cli.Get(context.Background(), root+"/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			t.Fatal(err)
		}
		return int(resp.Count)
	})
}

// checkWorkloads runs each workload against system at addr with a few
// clients for a second and checks the result and the cleanup. nodes
// counts what is left under a root (the root included, for ZooKeeper).
func checkWorkloads(t *testing.T, system, addr string, nodes func(t *testing.T, root string) int) {
	base := []string{"-system", system, "-servers", addr, "-clients", "3", "-duration", "1s", "-warmup", "200ms", "-json"}
	for _, workload := range []string{"create", "set", "get", "mixed", "watch", "lock"} {
		t.Run(workload, func(t *testing.T) {
			args := append(base[:len(base):len(base)], "-workload", workload)
			if workload == "watch" {
				args = append(args, "-watchers", "4")
			}
			rep := runJSON(t, args)
			checkReport(t, rep, system, workload)
			if n := nodes(t, "/arbor-bench"); n != 0 {
				t.Errorf("%d nodes left under /arbor-bench after the run; want none", n)
			}
		})
	}
	if system == systemEtcd {
		t.Run("serializable", func(t *testing.T) {
			rep := runJSON(t, append(base[:len(base):len(base)], "-workload", "mixed", "-serializable"))
			checkReport(t, rep, system, "mixed")
		})
	}
	t.Run("max-ops", func(t *testing.T) {
		// A bound on operations ends the run before the 10 minutes.
		args := append(base[:len(base):len(base)], "-workload", "set", "-duration", "10m", "-max-ops", "50")
		rep := runJSON(t, args)
		if rep.Ops < 50 || rep.Ops > 50+int64(rep.Clients) {
			t.Errorf("%d ops with -max-ops 50 and %d clients; want 50 to %d", rep.Ops, rep.Clients, 50+rep.Clients)
		}
	})
	t.Run("interrupted", func(t *testing.T) {
		// A signal in the middle of the measurement (here: the first
		// progress line) ends the run: it reports what it measured,
		// fails, and still cleans up.
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var stdout bytes.Buffer
		stderr := &cancelOnWrite{cancel: cancel}
		args := append(base[:len(base):len(base)], "-workload", "create", "-duration", "10m")
		if code := runCommand(ctx, args, &stdout, stderr); code != exitFailed {
			t.Errorf("exit status %d, want %d", code, exitFailed)
		}
		var rep loadgen.Report
		if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
			t.Fatalf("stdout %q: %v", stdout.String(), err)
		}
		if rep.Ops <= 0 || rep.Errors != 0 {
			t.Errorf("%d ops, %d errors before the interruption; want some ops and no errors", rep.Ops, rep.Errors)
		}
		if want := "run ended early: context canceled"; !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr %q, want %q", stderr.String(), want)
		}
		if n := nodes(t, "/arbor-bench"); n != 0 {
			t.Errorf("%d nodes left under /arbor-bench after the interrupted run; want none", n)
		}
	})
	t.Run("keep", func(t *testing.T) {
		root := "/cmpbench-keep"
		args := append(base[:len(base):len(base)], "-workload", "create", "-root", root, "-keep", "-max-ops", "20")
		rep := runJSON(t, args)
		// What was measured, plus what the warm-up made, is left.
		if n := nodes(t, root); n < int(rep.Ops) {
			t.Errorf("%d nodes left under %s after %d creates with -keep; want at least as many", n, root, rep.Ops)
		}
		// Twice, so that the second finds the data nodes there.
		for range 2 {
			runJSON(t, append(base[:len(base):len(base)], "-workload", "set", "-root", root, "-keep", "-max-ops", "20"))
			if n := nodes(t, root); n < int(rep.Ops)+dataNodes {
				t.Errorf("%d nodes left under %s after a set run with -keep; want at least %d", n, root, int(rep.Ops)+dataNodes)
			}
		}
		// A run without -keep removes everything under its root,
		// what earlier runs left included.
		runJSON(t, append(base[:len(base):len(base)], "-workload", "set", "-root", root, "-max-ops", "20"))
		if n := nodes(t, root); n != 0 {
			t.Errorf("%d nodes left under %s; want none", n, root)
		}
	})
}

// runJSON runs the command with args and decodes its one line of JSON.
func runJSON(t *testing.T, args []string) loadgen.Report {
	t.Helper()
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code := runCommand(ctx, args, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("%q: exit status %d; stderr:\n%s", args, code, stderr.String())
	}
	out := stdout.String()
	if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") {
		t.Fatalf("stdout %q: want one line", out)
	}
	var fields map[string]any
	if err := json.Unmarshal([]byte(out), &fields); err != nil {
		t.Fatalf("stdout %q: %v", out, err)
	}
	if len(fields) != 14 {
		t.Errorf("stdout %q: %d fields, want the 14 of the common format", out, len(fields))
	}
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	var rep loadgen.Report
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("stdout %q: %v", out, err)
	}
	return rep
}

// checkReport checks what every successful run's report must say.
func checkReport(t *testing.T, rep loadgen.Report, system, workload string) {
	t.Helper()
	if rep.System != system || rep.Workload != workload {
		t.Errorf("report of %s %s, want %s %s", rep.System, rep.Workload, system, workload)
	}
	if rep.Ops <= 0 || rep.OpsPerSec <= 0 || rep.Seconds <= 0 {
		t.Errorf("%d ops, %v ops/s in %v s: want a positive measurement", rep.Ops, rep.OpsPerSec, rep.Seconds)
	}
	if rep.Errors != 0 || rep.FirstError != "" {
		t.Errorf("%d errors (%q), want none", rep.Errors, rep.FirstError)
	}
	if !(0 <= rep.P50Ms && rep.P50Ms <= rep.P99Ms && rep.P99Ms <= rep.P999Ms && rep.P999Ms <= rep.MaxMs) {
		t.Errorf("latencies p50 %v, p99 %v, p99.9 %v, max %v ms: not in order", rep.P50Ms, rep.P99Ms, rep.P999Ms, rep.MaxMs)
	}
	// A watch op's latency runs from the write's acknowledgement to the
	// last event, which may come first (0); every other op takes time.
	if workload != "watch" && rep.P50Ms <= 0 {
		t.Errorf("p50 %v ms, want a positive latency", rep.P50Ms)
	}
	switch workload {
	case "watch":
		if rep.Clients != 1 || rep.Watchers != 4 || rep.ValueSize != 100 {
			t.Errorf("watch: %d clients, %d watchers, value size %d; want 1 (the writer), 4, 100", rep.Clients, rep.Watchers, rep.ValueSize)
		}
	case "lock":
		if rep.Clients != 3 || rep.Watchers != 0 || rep.ValueSize != 0 {
			t.Errorf("lock: %d clients, %d watchers, value size %d; want 3, 0, 0", rep.Clients, rep.Watchers, rep.ValueSize)
		}
	default:
		want := 1024
		if workload == "create" {
			want = 100
		}
		if rep.Clients != 3 || rep.Watchers != 0 || rep.ValueSize != want {
			t.Errorf("%s: %d clients, %d watchers, value size %d; want 3, 0, %d", workload, rep.Clients, rep.Watchers, rep.ValueSize, want)
		}
	}
}

// freePort returns a loopback address that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// startServer starts cmd (a server this test owns), logging to a file in
// dir, and stops it by its PID when the test ends.
func startServer(t *testing.T, cmd *exec.Cmd, dir string) {
	t.Helper()
	logFile, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		logFile.Close()
		close(exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
}

// waitServing calls ready until it succeeds, failing the test (with the
// server's log) after serverStartTimeout.
func waitServing(t *testing.T, dir string, ready func(ctx context.Context) error) {
	t.Helper()
	deadline := time.Now().Add(serverStartTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := ready(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "server.log"))
			t.Fatalf("server not serving within %v: %v; its log:\n%s", serverStartTimeout, err, log)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// startZooKeeper starts a standalone ZooKeeper on a loopback port with its
// data in a temporary directory, and returns its address.
func startZooKeeper(t *testing.T) string {
	t.Helper()
	java, err := exec.LookPath("java")
	if err != nil {
		t.Skip("java is not installed; install Debian's zookeeper package to run the ZooKeeper tests")
	}
	if _, err := os.Stat(zooKeeperJar); err != nil {
		t.Skipf("%s is missing; install Debian's zookeeper package to run the ZooKeeper tests", zooKeeperJar)
	}
	dir := t.TempDir()
	addr := freePort(t)
	_, port, _ := net.SplitHostPort(addr)
	cfg := fmt.Sprintf("tickTime=2000\ndataDir=%s\nclientPort=%s\nclientPortAddress=127.0.0.1\n"+
		"maxClientCnxns=0\nadmin.enableServer=false\n", filepath.Join(dir, "data"), port)
	if err := os.WriteFile(filepath.Join(dir, "zoo.cfg"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	// Without an SLF4J binding on the class path ZooKeeper logs nothing.
	cmd := exec.Command(java, "-Xms256m", "-Xmx256m", "-cp", zooKeeperJar,
		"org.apache.zookeeper.server.ZooKeeperServerMain", filepath.Join(dir, "zoo.cfg"))
	startServer(t, cmd, dir)
	waitServing(t, dir, func(ctx context.Context) error {
		conn, err := zkConnect(ctx, addr)
		if err != nil {
			return err
		}
		defer conn.Close()
		_, _, err = conn.Get("/")
		return err
	})
	return addr
}

// startEtcd starts a one-member etcd on loopback ports with its data in a
// temporary directory, and returns its client address.
func startEtcd(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath(etcdBinary)
	if err != nil {
		t.Skip("etcd is not installed; `apt-get install etcd-server` to run the etcd tests")
	}
	dir := t.TempDir()
	client, peer := freePort(t), freePort(t)
	cmd := exec.Command(bin,
		"--name", "cmpbench",
		"--data-dir", filepath.Join(dir, "data"),
		"--listen-client-urls", "http://"+client,
		"--advertise-client-urls", "http://"+client,
		"--listen-peer-urls", "http://"+peer,
		"--initial-advertise-peer-urls", "http://"+peer,
		"--initial-cluster", "cmpbench=http://"+peer,
	)
	startServer(t, cmd, dir)
	waitServing(t, dir, func(ctx context.Context) error {
		cli, err := etcdConnect(ctx, client)
		if err != nil {
			return err
		}
		defer cli.Close()
		// A linearizable read succeeds once there is a leader.
		_, err = cli.Get(ctx, "/")
		return err
	})
	return client
}

// cancelOnWrite is a stderr that cancels a run on the first line written
// to it (the first progress line, when all goes well).
type cancelOnWrite struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	cancel context.CancelFunc
}

func (w *cancelOnWrite) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.cancel()
	return w.buf.Write(p)
}

func (w *cancelOnWrite) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}
