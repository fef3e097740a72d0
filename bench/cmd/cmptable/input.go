package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// maxLineBytes bounds one input line; a result line is a few hundred bytes.
const maxLineBytes = 1 << 20

// result is one load run: the common result format of `arbor bench` and
// cmpbench, plus the cluster size compare.sh adds.
type result struct {
	System     string  `json:"system"`
	Workload   string  `json:"workload"`
	Members    int     `json:"members"`
	Clients    int     `json:"clients"`
	TargetRate float64 `json:"target_rate"` // a fixed schedule's ops/s; 0 for a closed loop
	ValueSize  int     `json:"value_size"`
	Watchers   int     `json:"watchers"`
	Seconds    float64 `json:"seconds"`
	Ops        int64   `json:"ops"`
	OpsPerSec  float64 `json:"ops_per_sec"`
	P50Ms      float64 `json:"p50_ms"`
	P99Ms      float64 `json:"p99_ms"`
	P999Ms     float64 `json:"p999_ms"`
	MaxMs      float64 `json:"max_ms"`
	Errors     int64   `json:"errors"`
	FirstError string  `json:"first_error"`
	// Failed is set by compare.sh when the run gave no result (the tool
	// exited with an error); FirstError then says why.
	Failed bool `json:"failed"`
}

// machine describes where and when the run happened, as compare.sh found it.
type machine struct {
	Date        string `json:"date"`
	Nproc       int    `json:"nproc"`
	CPU         string `json:"cpu"`
	Memory      string `json:"memory"`
	Kernel      string `json:"kernel"`
	Go          string `json:"go"`
	Java        string `json:"java"`
	ZooKeeper   string `json:"zookeeper"`
	Etcd        string `json:"etcd"`
	ArborCommit string `json:"arbor_commit"`
	Filesystem  string `json:"filesystem"`
}

// footprint is one system's cost of holding Nodes nodes, measured on one
// member (the leader when there are several) after the fill.
type footprint struct {
	System    string `json:"system"`
	Members   int    `json:"members"`
	Nodes     int64  `json:"nodes"`
	ValueSize int    `json:"value_size"`
	// FillOpsPerSec is the create rate of the fill itself.
	FillOpsPerSec float64 `json:"fill_ops_per_sec"`
	RSSBytes      int64   `json:"rss_bytes"`
	// HeapUsedBytes is the JVM heap in use after a full GC (ZooKeeper only).
	HeapUsedBytes *int64 `json:"heap_used_bytes"`
	DiskBytes     int64  `json:"disk_bytes"`
	// RestartMs is from the restart of a member killed with SIGKILL (a
	// follower when there are several) until it served a read of an
	// existing node, having caught up with the leader.
	RestartMs float64 `json:"restart_ms"`
	// Error, if not empty, says why the measurement is missing or partial.
	Error string `json:"error"`
}

// input is everything read, in input order.
type input struct {
	results    []result
	footprints []footprint
	machine    *machine
}

// read adds the JSON lines of r (named name in errors) to in.
func (in *input) read(name string, r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLineBytes)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if err := in.add(line); err != nil {
			return fmt.Errorf("%s:%d: %w", name, n, err)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("%s: a line is longer than %d bytes: %w", name, maxLineBytes, err)
		}
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// add parses one line.
func (in *input) add(line []byte) error {
	var probe struct {
		Kind string `json:"kind"`
	}
	if err := json.Unmarshal(line, &probe); err != nil {
		return fmt.Errorf("not a JSON object: %w", err)
	}
	switch probe.Kind {
	case "":
		r := result{Members: 1}
		if err := json.Unmarshal(line, &r); err != nil {
			return fmt.Errorf("not a result: %w", err)
		}
		if r.System == "" || r.Workload == "" {
			return errors.New(`a result needs "system" and "workload"`)
		}
		if r.Members < 1 || r.Clients < 0 {
			return fmt.Errorf("a result with %d members and %d clients", r.Members, r.Clients)
		}
		in.results = append(in.results, r)
	case "machine":
		var m machine
		if err := json.Unmarshal(line, &m); err != nil {
			return fmt.Errorf("not a machine line: %w", err)
		}
		in.machine = &m
	case "footprint":
		f := footprint{Members: 1}
		if err := json.Unmarshal(line, &f); err != nil {
			return fmt.Errorf("not a footprint line: %w", err)
		}
		if f.System == "" {
			return errors.New(`a footprint needs "system"`)
		}
		in.footprints = append(in.footprints, f)
	default:
		return fmt.Errorf("unknown kind %q (want machine, footprint, or none for a result)", probe.Kind)
	}
	return nil
}
