package loadgen

import (
	"context"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestRunCountsAndBounds(t *testing.T) {
	var calls atomic.Int64
	seen := make([]atomic.Int64, 4)
	op := func(ctx context.Context, c int) (time.Duration, error) {
		calls.Add(1)
		seen[c].Add(1)
		time.Sleep(100 * time.Microsecond) // long enough for every client to start
		return time.Duration(c+1) * time.Millisecond, nil
	}
	res, err := Run(context.Background(), Config{Clients: 4, Duration: 10 * time.Second, MaxOps: 2000}, op)
	if err != nil {
		t.Fatal(err)
	}
	// MaxOps ends the run long before its duration.
	if res.Elapsed >= 10*time.Second {
		t.Errorf("the run lasted %v: MaxOps did not end it", res.Elapsed)
	}
	if res.Ops < 2000 || res.Ops > 2000+4 {
		t.Errorf("Ops = %d, want 2000 (up to one more per client)", res.Ops)
	}
	for c := range seen {
		if seen[c].Load() == 0 {
			t.Errorf("client %d never ran", c)
		}
	}
	if res.Errors != 0 || res.FirstErr != nil {
		t.Errorf("errors %d (%v), want none", res.Errors, res.FirstErr)
	}
	// Latencies are what the Op returned: 1 to 4 ms.
	if lo, hi := res.Latencies.Quantile(0), res.Latencies.Max(); lo < time.Millisecond*99/100 || hi != 4*time.Millisecond {
		t.Errorf("latencies from %v to %v, want 1 ms to 4 ms", lo, hi)
	}
}

func TestRunWarmupNotMeasured(t *testing.T) {
	var measuredStart atomic.Int64
	op := Timed(func(ctx context.Context, c int) error {
		time.Sleep(time.Millisecond)
		return nil
	})
	var progress []Progress
	var mu sync.Mutex
	begin := time.Now()
	res, err := Run(context.Background(), Config{
		Clients:  2,
		Warmup:   200 * time.Millisecond,
		Duration: 300 * time.Millisecond,
		Interval: 50 * time.Millisecond,
		Progress: func(p Progress) {
			mu.Lock()
			progress = append(progress, p)
			mu.Unlock()
			measuredStart.CompareAndSwap(0, int64(time.Since(begin)))
		},
	}, op)
	if err != nil {
		t.Fatal(err)
	}
	if got := time.Duration(measuredStart.Load()); got < 200*time.Millisecond {
		t.Errorf("first progress report %v after the start, within the 200 ms warm-up", got)
	}
	if res.Elapsed < 300*time.Millisecond || res.Elapsed > 2*time.Second {
		t.Errorf("measured for %v, want about 300 ms", res.Elapsed)
	}
	// Two clients sleeping 1 ms per op cannot exceed 2 ops per ms.
	if max := int64(2 * res.Elapsed / time.Millisecond); res.Ops > max || res.Ops == 0 {
		t.Errorf("Ops = %d in %v: want between 1 and %d (warm-up ops must not count)", res.Ops, res.Elapsed, max)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(progress) == 0 {
		t.Fatal("no progress report")
	}
	for i := 1; i < len(progress); i++ {
		if progress[i].Ops < progress[i-1].Ops || progress[i].Elapsed <= progress[i-1].Elapsed {
			t.Errorf("progress went backwards: %+v then %+v", progress[i-1], progress[i])
		}
	}
}

func TestRunErrors(t *testing.T) {
	boom := errors.New("boom")
	var n atomic.Int64
	op := Timed(func(ctx context.Context, c int) error {
		if n.Add(1)%2 == 0 {
			return boom
		}
		return nil
	})
	res, err := Run(context.Background(), Config{Clients: 2, Duration: 100 * time.Millisecond}, op)
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors == 0 || !errors.Is(res.FirstErr, boom) {
		t.Errorf("Errors = %d, FirstErr = %v; want some, boom", res.Errors, res.FirstErr)
	}
	if res.Ops == 0 {
		t.Error("no successful op counted")
	}
}

func TestRunContextEndsEarly(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	op := Timed(func(ctx context.Context, c int) error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
			return nil
		}
	})
	res, err := Run(ctx, Config{Clients: 3, Duration: time.Minute}, op)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run = %v, want the context's deadline", err)
	}
	if res == nil || res.Ops == 0 || res.Errors != 0 {
		t.Fatalf("result %+v: want the ops done before the end and no errors (cancelled ops are not failures)", res)
	}
}

func TestRunBadConfig(t *testing.T) {
	op := Timed(func(context.Context, int) error { return nil })
	for _, cfg := range []Config{
		{Clients: 0, Duration: time.Second},
		{Clients: 1, Duration: 0},
		{Clients: 1, Duration: time.Second, Warmup: -1},
		{Clients: 1, Duration: time.Second, MaxOps: -1},
	} {
		if _, err := Run(context.Background(), cfg, op); err == nil {
			t.Errorf("Run(%+v) succeeded, want an error", cfg)
		}
	}
}

func TestRunRateBoundsTheStarts(t *testing.T) {
	var calls atomic.Int64
	op := func(ctx context.Context, c int) (time.Duration, error) {
		calls.Add(1)
		return time.Microsecond, nil
	}
	begin := time.Now()
	res, err := Run(context.Background(), Config{Clients: 8, Duration: 400 * time.Millisecond, Rate: 100}, op)
	if err != nil {
		t.Fatal(err)
	}
	// Slot k is due at k/100 s: no more can have started than were due
	// by the end, however fast the op.
	due := int64(time.Since(begin).Seconds()*100) + 1
	if n := calls.Load(); n > due {
		t.Errorf("%d ops started in %v at 100/s: at most %d were due", n, time.Since(begin), due)
	}
	if res.Ops == 0 {
		t.Error("no op measured")
	}
}

func TestRunRateChargesTheWait(t *testing.T) {
	// One client whose op takes 20 ms cannot keep a schedule of 1,000/s:
	// each op waits longer for its turn, and its latency must say so.
	op := Timed(func(ctx context.Context, c int) error {
		time.Sleep(20 * time.Millisecond)
		return nil
	})
	res, err := Run(context.Background(), Config{Clients: 1, Duration: 300 * time.Millisecond, Rate: 1000}, op)
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops < 2 {
		t.Fatalf("%d ops measured", res.Ops)
	}
	// The last op measured was due at most ~15 ms into the run but started
	// ~20 ms per earlier op later.
	if max := res.Latencies.Max(); max < 100*time.Millisecond {
		t.Errorf("max latency %v: the wait behind the schedule was not counted", max)
	}
}

func TestRunRateRefused(t *testing.T) {
	op := Timed(func(context.Context, int) error { return nil })
	for _, r := range []float64{-1, math.NaN(), math.Inf(1)} {
		if _, err := Run(context.Background(), Config{Clients: 1, Duration: time.Millisecond, Rate: r}, op); err == nil {
			t.Errorf("rate %v accepted", r)
		}
	}
}
