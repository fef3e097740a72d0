package loadgen

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestWatchTracker(t *testing.T) {
	ctx := context.Background()
	base := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return base.Add(time.Duration(ms) * time.Millisecond) }

	tr := NewWatchTracker(3, 10)
	// Two watchers see version 11 before the writer has its
	// acknowledgement; a stale report is ignored.
	tr.Saw(0, 11, at(5))
	tr.Saw(2, 11, at(7))
	tr.Saw(2, 10, at(8))
	done := make(chan time.Time)
	go func() {
		last, err := tr.Wait(ctx, 11)
		if err != nil {
			t.Error(err)
		}
		done <- last
	}()
	// The third one comes after the wait began (or before: the result
	// is the same either way).
	tr.Saw(1, 11, at(9))
	if last := <-done; !last.Equal(at(9)) {
		t.Errorf("last event at %v, want %v", last, at(9))
	}
	if d := WatchLatency(at(6), at(9)); d != 3*time.Millisecond {
		t.Errorf("latency %v, want 3ms", d)
	}
	if d := WatchLatency(at(10), at(9)); d != 0 {
		t.Errorf("latency of events before the acknowledgement: %v, want 0", d)
	}

	// Everyone at 11 already: a wait for 11 returns at once.
	if last, err := tr.Wait(ctx, 11); err != nil || !last.Equal(at(9)) {
		t.Errorf("second wait for 11: %v, %v; want %v", last, err, at(9))
	}
	// A watcher beyond the write means a second writer.
	tr.Saw(0, 15, at(20))
	if _, err := tr.Wait(ctx, 14); !errors.Is(err, ErrWatchersAhead) {
		t.Errorf("wait with a watcher ahead: %v, want ErrWatchersAhead", err)
	}

	// A wait ends with its context.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := tr.Wait(cctx, 16); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled wait: %v, want context.Canceled", err)
	}

	// A failed watcher fails the current wait and every later one.
	errGone := errors.New("session expired")
	go tr.Fail(1, errGone)
	if _, err := tr.Wait(ctx, 16); !errors.Is(err, errGone) {
		t.Errorf("wait with a failed watcher: %v, want %v", err, errGone)
	}
	if _, err := tr.Wait(ctx, 17); !errors.Is(err, errGone) {
		t.Errorf("wait after a failure: %v, want %v", err, errGone)
	}
}
