package loadgen

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestReport(t *testing.T) {
	res := &Result{Clients: 64, Elapsed: 10 * time.Second, Ops: 212130, Errors: 2, FirstErr: errors.New("boom\nagain")}
	for _, d := range []time.Duration{2 * time.Millisecond, 13 * time.Millisecond} {
		res.Latencies.Record(d)
	}
	r := NewReport("arbor", "create", 100, 0, res)
	if r.OpsPerSec != 21213 || r.Seconds != 10 || r.FirstError != "boom; again" {
		t.Errorf("report %+v: want 21213 ops/s over 10 s and the error on one line", r)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(b, &fields); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"system", "workload", "clients", "value_size", "watchers", "seconds", "ops", "ops_per_sec", "p50_ms", "p99_ms", "p999_ms", "max_ms", "errors", "first_error"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("JSON %s has no %q", b, k)
		}
	}
	if len(fields) != 14 {
		t.Errorf("JSON has %d fields, want 14: %s", len(fields), b)
	}
	text := r.Text()
	if !strings.HasPrefix(text, "create: 64 clients, 10.0 s: 21,213 ops/s, p50 ") || !strings.HasSuffix(text, ", 2 errors") {
		t.Errorf("Text() = %q", text)
	}
	w := NewReport("etcd", "watch", 100, 1000, &Result{Clients: 1, Elapsed: time.Second})
	if got := w.Text(); !strings.HasPrefix(got, "watch: 1 client, 1,000 watchers, 1.0 s: 0 ops/s") {
		t.Errorf("Text() = %q", got)
	}
	fixed := NewReport("arbor", "get", 1024, 0, &Result{Clients: 8, TargetRate: 20000, Elapsed: time.Second})
	if got := fixed.Text(); !strings.HasPrefix(got, "get: 8 clients, scheduled at 20,000 ops/s, 1.0 s: ") || fixed.TargetRate != 20000 {
		t.Errorf("fixed-rate Text() = %q, TargetRate %v", got, fixed.TargetRate)
	}
	if got := ProgressLine(Progress{Elapsed: 3 * time.Second, Ops: 63102, Rate: 21034.4}); got != "  3s  21,034 ops/s  (63,102 ops, 0 errors)" {
		t.Errorf("ProgressLine = %q", got)
	}
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", -1234567: "-1,234,567"} {
		if got := Thousands(n); got != want {
			t.Errorf("Thousands(%d) = %q, want %q", n, got, want)
		}
	}
	for v, want := range map[float64]string{0.4123: "0.412", 2.414: "2.41", 13.24: "13.2", 1234.4: "1234"} {
		if got := shortMs(v); got != want {
			t.Errorf("shortMs(%v) = %q, want %q", v, got, want)
		}
	}
}
