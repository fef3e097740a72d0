package gctune

import (
	"context"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestPercent(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		live, headroom uint64
		want           int
	}{
		{20 * mib, 128 * mib, 640},   // a small heap gets the headroom
		{128 * mib, 128 * mib, 100},  // equal: Go's default
		{512 * mib, 128 * mib, 100},  // a large heap: never below the minimum
		{0, 128 * mib, 3200},         // below 4 MiB counts as 4 MiB
		{1 * mib, 1 << 40, 10000},    // capped
		{64 * mib, 0, 100},           // no headroom: the minimum
		{100 * mib, 150 * mib, 150},  // in between
		{1 << 62, 1 << 20, 100},      // no overflow at the extremes
		{minLive, 1 << 63, 10000},    // nor here
		{3 * mib, 40 * mib, 1000},    // 40 MiB over 4 MiB
		{400 * mib, 1000 * mib, 250}, // 1000/400
	} {
		if got := Percent(tc.live, tc.headroom, 100, 10000); got != tc.want {
			t.Errorf("Percent(%d MiB live, %d MiB headroom) = %d, want %d", tc.live/mib, tc.headroom/mib, got, tc.want)
		}
	}
}

// TestRunSetsAndRestores runs a Tuner: it sets GOGC for the small live
// heap of a test binary and puts back the GOGC it found when ctx ends.
// It changes the process's GOGC, so it does not run in parallel.
func TestRunSetsAndRestores(t *testing.T) {
	before := debug.SetGCPercent(77)
	defer debug.SetGCPercent(before)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Tuner{Headroom: 1 << 30, Interval: time.Millisecond}.Run(ctx)
	}()
	// With a live heap of a few MiB and 1 GiB of headroom, the tuner sets
	// a GOGC well above Go's default (at most the cap).
	deadline := time.Now().Add(10 * time.Second)
	var got int
	for {
		runtime.GC()
		got = debug.SetGCPercent(-1)
		debug.SetGCPercent(got)
		if got > 1000 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got <= 1000 || got > DefaultMaxPercent {
		t.Errorf("GOGC while tuning = %d, want above 1000 and at most %d", got, DefaultMaxPercent)
	}
	cancel()
	<-done
	if restored := debug.SetGCPercent(before); restored != 77 {
		t.Errorf("GOGC after Run = %d, want the 77 it found", restored)
	}
}
