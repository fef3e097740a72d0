package gctune

import (
	"context"
	"log/slog"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Defaults for the zero values of Tuner.
const (
	DefaultMinPercent = 100
	DefaultMaxPercent = 10000
	DefaultInterval   = time.Second
)

// minLive is the least live heap Percent assumes: Go's collector does not
// run below a 4 MiB heap anyway.
const minLive = 4 << 20

// Percent returns the GOGC (a percentage of the live heap) that lets a
// heap whose live part is live bytes grow by headroom bytes before the
// next collection, kept within [minPercent, maxPercent].
func Percent(live, headroom uint64, minPercent, maxPercent int) int {
	live = max(live, minLive)
	p := headroom / (live / 100)
	switch {
	case p < uint64(minPercent):
		return minPercent
	case p > uint64(maxPercent):
		return maxPercent
	}
	return int(p)
}

// Tuner sets GOGC from the live heap so that the heap may grow by at least
// Headroom bytes between collections. The zero values of the other fields
// take the Default constants.
type Tuner struct {
	// Headroom is the growth in bytes allowed between collections while
	// the live heap is smaller than it (past that, MinPercent decides).
	Headroom uint64
	// MinPercent and MaxPercent bound the GOGC set.
	MinPercent, MaxPercent int
	// Interval is how often the live heap is read; GOGC changes only when
	// a collection has run since.
	Interval time.Duration
	// Logger receives a debug line per change; nil discards them.
	Logger *slog.Logger
}

// Run tunes GOGC until ctx ends, then restores the GOGC it found. It
// blocks; run it on its own goroutine. GOGC is the process's: run one
// Tuner per process.
func (t Tuner) Run(ctx context.Context) {
	if t.MinPercent <= 0 {
		t.MinPercent = DefaultMinPercent
	}
	if t.MaxPercent < t.MinPercent {
		t.MaxPercent = max(DefaultMaxPercent, t.MinPercent)
	}
	if t.Interval <= 0 {
		t.Interval = DefaultInterval
	}
	logger := t.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	samples := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/cycles/total:gc-cycles"}}
	read := func() (live, cycles uint64) {
		metrics.Read(samples)
		return value(samples[0]), value(samples[1])
	}
	live, seen := read()
	current := Percent(live, t.Headroom, t.MinPercent, t.MaxPercent)
	prev := debug.SetGCPercent(current)
	defer debug.SetGCPercent(prev)
	logger.Debug("gc target set", "gogc", current, "live_bytes", live)
	tick := time.NewTicker(t.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		live, cycles := read()
		if cycles == seen {
			continue // no collection since: the live heap is the same
		}
		seen = cycles
		if p := Percent(live, t.Headroom, t.MinPercent, t.MaxPercent); p != current {
			current = p
			debug.SetGCPercent(p)
			logger.Debug("gc target set", "gogc", p, "live_bytes", live)
		}
	}
}

func value(s metrics.Sample) uint64 {
	if s.Value.Kind() != metrics.KindUint64 {
		return 0 // a runtime without the metric: Percent assumes minLive
	}
	return s.Value.Uint64()
}
