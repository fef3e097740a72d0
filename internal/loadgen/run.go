package loadgen

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Op runs one operation as client c (0 ≤ c < Config.Clients) and returns
// the latency to record for it. Most operations are timed from call to
// return (see Timed); one that measures something else, such as the time
// from a write's acknowledgement to the last watcher's event, returns that.
// An Op is called by one goroutine per client, so state kept per client
// needs no lock.
type Op func(ctx context.Context, c int) (time.Duration, error)

// Timed returns an Op that runs f and records how long it took.
func Timed(f func(ctx context.Context, c int) error) Op {
	return func(ctx context.Context, c int) (time.Duration, error) {
		start := time.Now()
		err := f(ctx, c)
		return time.Since(start), err
	}
}

// Config is one run's shape.
type Config struct {
	// Clients is how many goroutines call the Op, each with one call in
	// flight at a time.
	Clients int
	// Warmup runs the load without measuring it, before Duration.
	Warmup time.Duration
	// Duration is how long the measured part lasts.
	Duration time.Duration
	// MaxOps ends the measured part early once this many operations have
	// completed in it; 0 means no bound but Duration.
	MaxOps int64
	// Rate, if positive, starts operations on a fixed schedule of Rate
	// per second in total instead of as fast as the clients can: the
	// clients take the schedule's slots in turn, each waiting for its
	// slot's time. An operation's latency then counts from its slot's
	// time, not from when a client got to it, so that a system that falls
	// behind the schedule is charged for the wait (no coordinated
	// omission). Comparing systems at the same Rate compares their
	// latencies at equal load.
	Rate float64
	// Interval is how often Progress is called; 0 means every second.
	Interval time.Duration
	// Progress, if not nil, is called from one goroutine every Interval
	// of the measured part.
	Progress func(Progress)
}

// Progress is a report from a running measurement.
type Progress struct {
	Elapsed time.Duration // since the measured part began
	Ops     int64         // operations completed in the measured part
	Errors  int64         // of which failed
	Rate    float64       // completed operations per second over the last interval
}

// Result is what a run measured. Latencies count successful operations
// only.
type Result struct {
	Clients    int
	TargetRate float64       // Config.Rate: 0 for a closed loop
	Elapsed    time.Duration // the measured part's length
	Ops        int64         // successful operations in the measured part
	Errors     int64         // failed operations in the measured part
	FirstErr   error         // the first failure, if any
	Latencies  Histogram
}

// Rate returns successful operations per second.
func (r *Result) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Ops) / r.Elapsed.Seconds()
}

// MaxRate is the highest Config.Rate: far above what one machine serves.
const MaxRate = 10_000_000

// errorPause is how long a client waits after a failed operation, so that
// a run against a member that refuses everything does not spin.
const errorPause = 10 * time.Millisecond

// Run calls op from cfg.Clients goroutines until the warm-up and the
// measured part are over (or MaxOps is reached), and returns what the
// measured part saw. Operations still in flight when it ends are cancelled
// through their context and not counted. It returns an error only for a
// bad Config or when ctx ends first; the Result then holds what was
// measured until then.
func Run(ctx context.Context, cfg Config, op Op) (*Result, error) {
	switch {
	case cfg.Clients < 1:
		return nil, fmt.Errorf("loadgen: %d clients: need at least 1", cfg.Clients)
	case cfg.Duration <= 0:
		return nil, fmt.Errorf("loadgen: duration %v: must be positive", cfg.Duration)
	case cfg.Warmup < 0:
		return nil, fmt.Errorf("loadgen: warm-up %v: must not be negative", cfg.Warmup)
	case cfg.MaxOps < 0:
		return nil, fmt.Errorf("loadgen: max ops %d: must not be negative", cfg.MaxOps)
	case !(cfg.Rate >= 0 && cfg.Rate <= MaxRate):
		return nil, fmt.Errorf("loadgen: rate %v: want operations per second up to %v, or 0 for none", cfg.Rate, MaxRate)
	}
	interval := cfg.Interval
	if interval <= 0 {
		interval = time.Second
	}

	runCtx, stop := context.WithCancel(ctx)
	defer stop()

	var (
		measuring atomic.Bool
		ops, errs atomic.Int64 // in the measured part, successes and failures
		firstErr  atomic.Pointer[error]
	)
	hists := make([]*Histogram, cfg.Clients)
	sched := newSchedule(cfg.Rate, time.Now())
	var wg sync.WaitGroup
	for c := range cfg.Clients {
		h := new(Histogram)
		hists[c] = h
		wg.Add(1)
		go func() {
			defer wg.Done()
			for runCtx.Err() == nil {
				lag, ok := sched.wait(runCtx)
				if !ok {
					return
				}
				lat, err := op(runCtx, c)
				lat += lag
				if runCtx.Err() != nil {
					// Cut short by the end of the run: neither a
					// success nor a failure of the system measured.
					return
				}
				if !measuring.Load() {
					if err != nil {
						pause(runCtx, errorPause)
					}
					continue
				}
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, &err)
					pause(runCtx, errorPause)
					continue
				}
				h.Record(lat)
				if n := ops.Add(1); cfg.MaxOps > 0 && n >= cfg.MaxOps {
					stop()
				}
			}
		}()
	}

	var start time.Time
	var ended time.Time
	func() {
		if !pause(runCtx, cfg.Warmup) {
			return
		}
		measuring.Store(true)
		start = time.Now()
		deadline := time.NewTimer(cfg.Duration)
		defer deadline.Stop()
		tick := time.NewTicker(interval)
		defer tick.Stop()
		last, lastAt := int64(0), start
		for {
			select {
			case <-runCtx.Done():
				return
			case <-deadline.C:
				return
			case now := <-tick.C:
				if cfg.Progress == nil {
					continue
				}
				n, e := ops.Load(), errs.Load()
				cfg.Progress(Progress{
					Elapsed: now.Sub(start),
					Ops:     n + e,
					Errors:  e,
					Rate:    float64(n+e-last) / now.Sub(lastAt).Seconds(),
				})
				last, lastAt = n+e, now
			}
		}
	}()
	// The measured part ends now; what completes after this is not counted.
	measuring.Store(false)
	ended = time.Now()
	stop()
	wg.Wait()

	res := &Result{Clients: cfg.Clients, TargetRate: cfg.Rate, Ops: ops.Load(), Errors: errs.Load()}
	if !start.IsZero() {
		res.Elapsed = ended.Sub(start)
	}
	if p := firstErr.Load(); p != nil {
		res.FirstErr = *p
	}
	for _, h := range hists {
		res.Latencies.Merge(h)
	}
	// Operations that completed between the end and the workers seeing
	// it were counted in ops but may be missing from a histogram, or the
	// reverse; the histogram is what was recorded, so the count follows it.
	res.Ops = int64(res.Latencies.Count())
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("loadgen: run ended early: %w", err)
	}
	return res, nil
}

// pause waits d or until ctx ends, and reports whether the full d passed.
func pause(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// schedule hands out the slots of a fixed-rate run: slot k is due at
// start + k/rate. A nil schedule (no rate) has every slot due at once.
type schedule struct {
	start time.Time
	every float64 // seconds between slots
	next  atomic.Int64
}

func newSchedule(rate float64, start time.Time) *schedule {
	if rate <= 0 {
		return nil
	}
	return &schedule{start: start, every: 1 / rate}
}

// wait takes the next slot, waits for its time, and returns how late the
// caller is for it (0 if on time). It reports false if ctx ended first.
func (s *schedule) wait(ctx context.Context) (time.Duration, bool) {
	if s == nil {
		return 0, ctx.Err() == nil
	}
	k := s.next.Add(1) - 1
	due := s.start.Add(time.Duration(float64(k) * s.every * float64(time.Second)))
	if d := time.Until(due); d > 0 {
		if !pause(ctx, d) {
			return 0, false
		}
		return 0, true
	}
	return time.Since(due), ctx.Err() == nil
}
