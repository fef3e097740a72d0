package main

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/arbor-coord/arbor/internal/loadgen"
)

// report is one run's outcome in the common result format that
// `arbor --output json bench` prints too, so that one script reads both.
type report struct {
	System     string  `json:"system"`
	Workload   string  `json:"workload"`
	Clients    int     `json:"clients"`
	ValueBytes int     `json:"value_size"`
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
}

// newReport sums up what loadgen measured for cfg.
func newReport(cfg config, res *loadgen.Result) report {
	r := report{
		System:     cfg.system,
		Workload:   cfg.workload,
		Clients:    res.Clients,
		ValueBytes: cfg.valueBytes,
		Watchers:   cfg.watchers,
		Seconds:    round(res.Elapsed.Seconds(), 3),
		Ops:        res.Ops,
		OpsPerSec:  round(res.Rate(), 1),
		P50Ms:      ms(res.Latencies.Quantile(0.50)),
		P99Ms:      ms(res.Latencies.Quantile(0.99)),
		P999Ms:     ms(res.Latencies.Quantile(0.999)),
		MaxMs:      ms(res.Latencies.Max()),
		Errors:     res.Errors,
	}
	if res.FirstErr != nil {
		r.FirstError = res.FirstErr.Error()
	}
	return r
}

// text is the report as one line for people, e.g.
// "create: 64 clients, 10.0 s: 21,213 ops/s, p50 2.41 ms, ...".
func (r report) text() string {
	who := plural(int64(r.Clients), "client")
	if r.Workload == "watch" {
		who += ", " + plural(int64(r.Watchers), "watcher")
	}
	return fmt.Sprintf("%s: %s, %.1f s: %s ops/s, p50 %s ms, p99 %s ms, p99.9 %s ms, max %s ms, %s",
		r.Workload, who, r.Seconds, thousands(int64(math.Round(r.OpsPerSec))),
		shortMs(r.P50Ms), shortMs(r.P99Ms), shortMs(r.P999Ms), shortMs(r.MaxMs),
		plural(r.Errors, "error"))
}

// progressLine is loadgen's progress report as one stderr line, e.g.
// "  3s  21,034 ops/s  (63,102 ops, 0 errors)".
func progressLine(p loadgen.Progress) string {
	return fmt.Sprintf("%3ds  %s ops/s  (%s ops, %s errors)",
		int64(p.Elapsed.Round(time.Second)/time.Second),
		thousands(int64(math.Round(p.Rate))), thousands(p.Ops), thousands(p.Errors))
}

// ms converts d to milliseconds with three decimals.
func ms(d time.Duration) float64 {
	return round(float64(d)/float64(time.Millisecond), 3)
}

// round rounds x to the given number of decimals.
func round(x float64, decimals int) float64 {
	p := math.Pow(10, float64(decimals))
	return math.Round(x*p) / p
}

// shortMs formats a latency in milliseconds with three significant digits
// (at most three decimals), as people read them: 0.431, 2.41, 13.2, 180.
func shortMs(v float64) string {
	switch {
	case v < 1:
		return strconv.FormatFloat(v, 'f', 3, 64)
	case v < 10:
		return strconv.FormatFloat(v, 'f', 2, 64)
	case v < 100:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
}

// plural is "1 client", "2 clients", "1,000 watchers".
func plural(n int64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return thousands(n) + " " + noun + "s"
}

// thousands formats n with commas between groups of three digits.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	out := make([]byte, 0, len(s)+len(s)/3+1)
	if neg {
		out = append(out, '-')
	}
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}
