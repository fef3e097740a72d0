package loadgen

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestForEach(t *testing.T) {
	var running, peak, calls atomic.Int64
	err := ForEach(context.Background(), 50, 4, func(ctx context.Context, i int) error {
		calls.Add(1)
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(time.Millisecond)
		running.Add(-1)
		return nil
	})
	if err != nil || calls.Load() != 50 {
		t.Fatalf("ForEach = %v after %d calls, want nil after 50", err, calls.Load())
	}
	if peak.Load() > 4 {
		t.Errorf("%d calls ran at once, limit 4", peak.Load())
	}

	boom := errors.New("boom")
	calls.Store(0)
	err = ForEach(context.Background(), 1000, 2, func(ctx context.Context, i int) error {
		calls.Add(1)
		if i == 3 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) || calls.Load() >= 1000 {
		t.Errorf("ForEach = %v after %d calls, want boom and the rest not made", err, calls.Load())
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := ForEach(ctx, 10, 2, func(context.Context, int) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("ForEach on an ended ctx = %v, want Canceled", err)
	}
}
