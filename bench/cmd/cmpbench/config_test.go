package main

import (
	"bytes"
	"context"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseFlagsDefaults(t *testing.T) {
	tests := []struct {
		args                 []string
		servers              []string
		valueBytes, watchers int
	}{
		{[]string{"-system", "zookeeper"}, []string{"127.0.0.1:2181"}, 100, 0},
		{[]string{"-system", "etcd"}, []string{"127.0.0.1:2379"}, 100, 0},
		{[]string{"-system", "etcd", "-workload", "set"}, []string{"127.0.0.1:2379"}, 1024, 0},
		{[]string{"-system", "etcd", "-workload", "get"}, []string{"127.0.0.1:2379"}, 1024, 0},
		{[]string{"-system", "etcd", "-workload", "mixed"}, []string{"127.0.0.1:2379"}, 1024, 0},
		{[]string{"-system", "zookeeper", "-workload", "watch"}, []string{"127.0.0.1:2181"}, 100, 64},
		{[]string{"-system", "zookeeper", "-workload", "watch", "-watchers", "5000"}, []string{"127.0.0.1:2181"}, 100, 5000},
		{[]string{"-system", "zookeeper", "-workload", "lock"}, []string{"127.0.0.1:2181"}, 0, 0},
		{[]string{"-system", "zookeeper", "-value-size", "0"}, []string{"127.0.0.1:2181"}, 0, 0},
		{[]string{"-system", "etcd", "-servers", "a:1, b.example:2379,[::1]:3"}, []string{"a:1", "b.example:2379", "[::1]:3"}, 100, 0},
	}
	for _, tt := range tests {
		cfg, err := parseFlags(tt.args, io.Discard)
		if err != nil {
			t.Errorf("%q: %v", tt.args, err)
			continue
		}
		if !slices.Equal(cfg.servers, tt.servers) || cfg.valueBytes != tt.valueBytes || cfg.watchers != tt.watchers {
			t.Errorf("%q: servers %q, value size %d, watchers %d; want %q, %d, %d",
				tt.args, cfg.servers, cfg.valueBytes, cfg.watchers, tt.servers, tt.valueBytes, tt.watchers)
		}
		if cfg.root != "/arbor-bench" || cfg.duration != 10*time.Second || cfg.warmup != 2*time.Second || cfg.clients != 64 || cfg.maxOps != 0 {
			t.Errorf("%q: root %q, duration %v, warm-up %v, clients %d, max ops %d: not the defaults",
				tt.args, cfg.root, cfg.duration, cfg.warmup, cfg.clients, cfg.maxOps)
		}
	}
}

// TestParseFlagsWatchers checks that the watchers default to -clients.
func TestParseFlagsWatchers(t *testing.T) {
	cfg, err := parseFlags([]string{"-system", "etcd", "-workload", "watch", "-clients", "7"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.clients != 7 || cfg.watchers != 7 {
		t.Errorf("%d clients, %d watchers; want 7, 7", cfg.clients, cfg.watchers)
	}
}

func TestParseFlagsErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string // a part of the error that says what is wrong
	}{
		{[]string{}, "-system is required"},
		{[]string{"-system", "consul"}, `-system "consul": want zookeeper or etcd`},
		{[]string{"-system", "etcd", "-workload", "delete"}, `-workload "delete": want create, set, get, mixed, watch or lock`},
		{[]string{"-system", "etcd", "-clients", "0"}, "-clients 0: must be in [1, 1024]"},
		{[]string{"-system", "etcd", "-clients", "1025"}, "-clients 1025: must be in [1, 1024]"},
		{[]string{"-system", "etcd", "-duration", "0s"}, "-duration 0s: must be in (0, 10m0s]"},
		{[]string{"-system", "etcd", "-duration", "11m"}, "-duration 11m0s: must be in (0, 10m0s]"},
		{[]string{"-system", "etcd", "-warmup", "-1s"}, "-warmup -1s: must be in [0, 10m0s]"},
		{[]string{"-system", "etcd", "-max-ops", "-5"}, "-max-ops -5: must not be negative"},
		{[]string{"-system", "etcd", "-rate", "-5"}, "-rate -5: must be in [0, 10000000] operations per second"},
		{[]string{"-system", "etcd", "-value-size", "-1"}, "-value-size -1: must be in [0, 524288]"},
		{[]string{"-system", "etcd", "-value-size", "600000"}, "-value-size 600000: must be in [0, 524288]"},
		{[]string{"-system", "etcd", "-workload", "lock", "-value-size", "10"}, "-value-size does not apply to the lock workload"},
		{[]string{"-system", "etcd", "-watchers", "3"}, "-watchers applies only to the watch workload, not create"},
		{[]string{"-system", "etcd", "-workload", "watch", "-watchers", "0"}, "-watchers 0: must be in [1, 10000]"},
		{[]string{"-system", "etcd", "-workload", "watch", "-watchers", "10001"}, "-watchers 10001: must be in [1, 10000]"},
		{[]string{"-system", "etcd", "-servers", ""}, "-servers is empty"},
		{[]string{"-system", "etcd", "-servers", "127.0.0.1:1,,127.0.0.1:2"}, "address 2 is empty"},
		{[]string{"-system", "etcd", "-servers", "http://127.0.0.1:2379"}, "without a scheme"},
		{[]string{"-system", "etcd", "-servers", "127.0.0.1"}, `"127.0.0.1": want host:port`},
		{[]string{"-system", "etcd", "-servers", ":2379"}, "the host is missing"},
		{[]string{"-system", "etcd", "-servers", "localhost:http"}, `port "http" is not a number`},
		{[]string{"-system", "etcd", "-servers", "localhost:70000"}, `port "70000" is not a number in [1, 65535]`},
		{[]string{"-system", "etcd", "-root", "bench"}, "must be an absolute path other than /"},
		{[]string{"-system", "etcd", "-root", "/"}, "must be an absolute path other than /"},
		{[]string{"-system", "etcd", "-root", "/a//b"}, "empty component"},
		{[]string{"-system", "etcd", "-root", "/a/"}, "empty component"},
		{[]string{"-system", "etcd", "-root", "/a/../b"}, `has a ".." component`},
		{[]string{"-system", "zookeeper", "-workload", "get", "-serializable"}, "-serializable applies only to -system etcd"},
		{[]string{"-system", "etcd", "-workload", "set", "-serializable"}, "-serializable applies only to the get and mixed workloads, not set"},
		{[]string{"-system", "etcd", "extra"}, `unexpected argument "extra"`},
		{[]string{"-system", "etcd", "-clients", "many"}, `invalid value "many" for flag -clients`},
		{[]string{"-system", "etcd", "-nosuchflag"}, "flag provided but not defined: -nosuchflag"},
	}
	for _, tt := range tests {
		_, err := parseFlags(tt.args, io.Discard)
		if err == nil {
			t.Errorf("%q: no error, want one with %q", tt.args, tt.want)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %q, want one with %q", tt.args, err, tt.want)
		}
	}
}

// TestRunCommandBadFlags checks that a bad command line ends with status
// 2, the reason on stderr and nothing on stdout, before any connection.
func TestRunCommandBadFlags(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := runCommand(context.Background(), []string{"-system", "etcd", "-workload", "scan"}, &stdout, &stderr)
	if code != exitBadFlags {
		t.Errorf("exit status %d, want %d", code, exitBadFlags)
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout %q, want nothing", stdout.String())
	}
	if want := `cmpbench: -workload "scan": want create, set, get, mixed, watch or lock`; !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr %q, want %q", stderr.String(), want)
	}
}

// TestRunCommandNoServer checks that a run against a port nobody listens
// on fails in setup with a message naming the server, and prints no
// result.
func TestRunCommandNoServer(t *testing.T) {
	port := freePort(t)
	for _, system := range []string{systemZooKeeper, systemEtcd} {
		var stdout, stderr bytes.Buffer
		// The clients retry until their context ends.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		code := runCommand(ctx, []string{"-system", system, "-servers", port, "-clients", "1", "-duration", "1s"}, &stdout, &stderr)
		cancel()
		if code != exitFailed {
			t.Errorf("%s: exit status %d, want %d", system, code, exitFailed)
		}
		if stdout.Len() != 0 {
			t.Errorf("%s: stdout %q, want nothing", system, stdout.String())
		}
		if want := "cmpbench: setup: connect to " + port; !strings.Contains(stderr.String(), want) {
			t.Errorf("%s: stderr %q, want %q", system, stderr.String(), want)
		}
	}
}
