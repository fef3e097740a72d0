package main

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/arbor-coord/arbor/internal/loadgen"
)

func TestThousands(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{
		{0, "0"}, {7, "7"}, {999, "999"}, {1000, "1,000"}, {21213, "21,213"},
		{123456, "123,456"}, {1234567, "1,234,567"}, {-1234, "-1,234"},
	}
	for _, tt := range tests {
		if got := thousands(tt.n); got != tt.want {
			t.Errorf("thousands(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

func TestShortMs(t *testing.T) {
	tests := []struct {
		v    float64
		want string
	}{
		{0, "0.000"}, {0.431, "0.431"}, {2.41, "2.41"}, {13.2, "13.2"}, {40.14, "40.1"}, {180.4, "180"},
	}
	for _, tt := range tests {
		if got := shortMs(tt.v); got != tt.want {
			t.Errorf("shortMs(%v) = %q, want %q", tt.v, got, tt.want)
		}
	}
}

func TestProgressLine(t *testing.T) {
	got := progressLine(loadgen.Progress{Elapsed: 3*time.Second + 2*time.Millisecond, Ops: 63102, Errors: 0, Rate: 21034.4})
	if want := "  3s  21,034 ops/s  (63,102 ops, 0 errors)"; got != want {
		t.Errorf("progress line %q, want %q", got, want)
	}
}

// measured returns a loadgen result with the given latencies, as a run
// would have recorded them.
func measured(clients int, elapsed time.Duration, lat ...time.Duration) *loadgen.Result {
	res := &loadgen.Result{Clients: clients, Elapsed: elapsed, Ops: int64(len(lat))}
	for _, d := range lat {
		res.Latencies.Record(d)
	}
	return res
}

func TestReportText(t *testing.T) {
	cfg := config{system: systemEtcd, workload: "create", valueBytes: 100}
	res := measured(64, 10*time.Second, 2*time.Millisecond, 3*time.Millisecond, 80*time.Millisecond)
	res.Errors = 1
	res.FirstErr = errors.New("etcdserver: request timed out")
	rep := newReport(cfg, res)
	// The quantiles are bucket midpoints (within 1% of what was
	// recorded); max is exact.
	want := "create: 64 clients, 10.0 s: 0 ops/s, p50 " + shortMs(rep.P50Ms) + " ms, p99 " + shortMs(rep.P99Ms) +
		" ms, p99.9 " + shortMs(rep.P999Ms) + " ms, max 80.0 ms, 1 error"
	if got := rep.text(); got != want {
		t.Errorf("text %q, want %q", got, want)
	}
	if rep.P50Ms < 2.97 || rep.P50Ms > 3.03 {
		t.Errorf("p50 %v ms, want 3 ms within 1%%", rep.P50Ms)
	}

	cfg = config{system: systemZooKeeper, workload: "watch", watchers: 1000, valueBytes: 100}
	// One op in 2 s rounds to 1 op/s.
	rep = newReport(cfg, measured(1, 2*time.Second, time.Millisecond))
	p := shortMs(rep.P50Ms)
	if want := "watch: 1 client, 1,000 watchers, 2.0 s: 1 ops/s, p50 " + p + " ms, p99 " + p + " ms, p99.9 " + p + " ms, max 1.00 ms, 0 errors"; rep.text() != want {
		t.Errorf("text %q, want %q", rep.text(), want)
	}
}

// TestReportJSON checks the common result format's field names: exactly
// the ones the comparison script reads, every one present.
func TestReportJSON(t *testing.T) {
	cfg := config{system: systemZooKeeper, workload: "set", valueBytes: 1024}
	rep := newReport(cfg, measured(4, 1500*time.Millisecond, time.Millisecond, 2*time.Millisecond))
	line, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(line, &fields); err != nil {
		t.Fatal(err)
	}
	want := []string{"system", "workload", "clients", "value_size", "watchers", "seconds", "ops", "ops_per_sec",
		"p50_ms", "p99_ms", "p999_ms", "max_ms", "errors", "first_error"}
	var got []string
	for k := range fields {
		got = append(got, k)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("fields %q, want %q", got, want)
	}
	if fields["system"] != "zookeeper" || fields["ops"] != 2.0 || fields["ops_per_sec"] != 1.3 || fields["seconds"] != 1.5 || fields["first_error"] != "" {
		t.Errorf("report %s: wrong values", line)
	}
}
