package loadgen

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Report is one run's outcome in the form both `arbor bench` and
// bench/cmd/cmpbench print it: one JSON object per run (these field tags),
// or one line of text (Text). The comparison script reads either tool's
// output, so the two must never drift apart: both build it here.
type Report struct {
	System     string  `json:"system"`                // arbor, zookeeper or etcd
	Workload   string  `json:"workload"`              // create, set, get, mixed, watch or lock
	Clients    int     `json:"clients"`               // load clients (the watch workload's one writer)
	TargetRate float64 `json:"target_rate,omitempty"` // the fixed schedule's ops/s (Config.Rate); absent for a closed loop
	ValueSize  int     `json:"value_size"`            // bytes per value written or read; 0 for lock
	Watchers   int     `json:"watchers"`              // the watch workload's watchers, else 0
	Seconds    float64 `json:"seconds"`               // the measured part's length
	Ops        int64   `json:"ops"`                   // successful operations measured
	OpsPerSec  float64 `json:"ops_per_sec"`
	P50Ms      float64 `json:"p50_ms"`
	P99Ms      float64 `json:"p99_ms"`
	P999Ms     float64 `json:"p999_ms"`
	MaxMs      float64 `json:"max_ms"`
	Errors     int64   `json:"errors"`      // failed operations measured
	FirstError string  `json:"first_error"` // the first failure, on one line
}

// NewReport sums up res, a run of workload against system.
func NewReport(system, workload string, valueSize, watchers int, res *Result) Report {
	r := Report{
		System:     system,
		Workload:   workload,
		Clients:    res.Clients,
		TargetRate: res.TargetRate,
		ValueSize:  valueSize,
		Watchers:   watchers,
		Seconds:    round(res.Elapsed.Seconds(), 3),
		Ops:        res.Ops,
		OpsPerSec:  round(res.Rate(), 1),
		P50Ms:      millis(res.Latencies.Quantile(0.50)),
		P99Ms:      millis(res.Latencies.Quantile(0.99)),
		P999Ms:     millis(res.Latencies.Quantile(0.999)),
		MaxMs:      millis(res.Latencies.Max()),
		Errors:     res.Errors,
	}
	if res.FirstErr != nil {
		r.FirstError = strings.ReplaceAll(strings.TrimSpace(res.FirstErr.Error()), "\n", "; ")
	}
	return r
}

// Text returns the report as one line for people, e.g. "create: 64
// clients, 10.0 s: 21,213 ops/s, p50 2.41 ms, p99 13.2 ms, p99.9 40.1 ms,
// max 80.3 ms, 0 errors".
func (r Report) Text() string {
	who := plural(int64(r.Clients), "client")
	if r.Watchers > 0 {
		who += ", " + plural(int64(r.Watchers), "watcher")
	}
	if r.TargetRate > 0 {
		who += ", scheduled at " + Thousands(int64(math.Round(r.TargetRate))) + " ops/s"
	}
	return fmt.Sprintf("%s: %s, %.1f s: %s ops/s, p50 %s ms, p99 %s ms, p99.9 %s ms, max %s ms, %s",
		r.Workload, who, r.Seconds, Thousands(int64(math.Round(r.OpsPerSec))),
		shortMs(r.P50Ms), shortMs(r.P99Ms), shortMs(r.P999Ms), shortMs(r.MaxMs),
		plural(r.Errors, "error"))
}

// ProgressLine returns p as one line for a terminal, e.g. "  3s  21,034
// ops/s  (63,102 ops, 0 errors)".
func ProgressLine(p Progress) string {
	return fmt.Sprintf("%3ds  %s ops/s  (%s ops, %s errors)",
		int64(p.Elapsed.Round(time.Second)/time.Second),
		Thousands(int64(math.Round(p.Rate))), Thousands(p.Ops), Thousands(p.Errors))
}

// millis converts d to milliseconds with three decimals.
func millis(d time.Duration) float64 {
	return round(float64(d)/float64(time.Millisecond), 3)
}

func round(x float64, decimals int) float64 {
	p := math.Pow10(decimals)
	return math.Round(x*p) / p
}

// shortMs formats milliseconds with three significant digits (0.412,
// 2.41, 13.2) and no exponent (1234).
func shortMs(v float64) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case v >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strconv.FormatFloat(v, 'f', 3, 64)
}

// plural is "1 client", "2 clients", "1,000 watchers".
func plural(n int64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return Thousands(n) + " " + noun + "s"
}

// Thousands formats n with a comma between groups of three digits:
// 21,213.
func Thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
