package loadgen

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// WatchTracker gathers what the watchers of a watch workload have seen,
// so that its one writer can wait until every one has seen its write. A
// version is whatever grows with each write: arbor's zxid, ZooKeeper's
// Stat.Version, etcd's revision.
//
// The watchers call Saw (and Fail) from their own goroutines; the one
// writer calls Wait. A watcher may see a write before the writer has its
// acknowledgement, so what each watcher saw and when is kept until the
// writer asks.
type WatchTracker struct {
	mu     sync.Mutex
	seen   []int64     // per watcher, the newest version it has seen
	seenAt []time.Time // per watcher, when it received that version
	err    error       // the first watcher failure; every later wait fails with it

	// The writer's current wait, if any.
	target  int64         // the version waited for
	missing int           // watchers that have not seen target yet
	lastAt  time.Time     // the latest time a watcher received target
	done    chan struct{} // closed when missing reaches 0 or err is set
}

// NewWatchTracker returns a tracker of n watchers that have all seen
// version initial.
func NewWatchTracker(n int, initial int64) *WatchTracker {
	t := &WatchTracker{seen: make([]int64, n), seenAt: make([]time.Time, n)}
	for i := range t.seen {
		t.seen[i] = initial
	}
	return t
}

// Saw records that watcher i received version at time at. Versions that
// are not newer than what i saw before are ignored.
func (t *WatchTracker) Saw(i int, version int64, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	prev := t.seen[i]
	if version <= prev {
		return
	}
	t.seen[i], t.seenAt[i] = version, at
	if t.done == nil || prev >= t.target || version < t.target {
		return
	}
	if at.After(t.lastAt) {
		t.lastAt = at
	}
	t.missing--
	if t.missing == 0 {
		close(t.done)
		t.done = nil
	}
}

// Fail records that watcher i can watch no more; the writer's waits fail
// from now on, since a missing watcher would make them wait forever.
func (t *WatchTracker) Fail(i int, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.err != nil {
		return
	}
	t.err = fmt.Errorf("watcher %d: %w", i, err)
	if t.done != nil {
		close(t.done)
		t.done = nil
	}
}

// ErrWatchersAhead reports a write whose version some watcher had seen
// exceeded before the write was acknowledged: another writer is at work.
var ErrWatchersAhead = errors.New("a watcher saw a newer version than the write's before it was acknowledged")

// Wait blocks until every watcher has seen version (or a newer one) and
// returns the time the last of them received it. There is one writer, so
// there is one wait at a time.
func (t *WatchTracker) Wait(ctx context.Context, version int64) (time.Time, error) {
	t.mu.Lock()
	if t.err != nil {
		t.mu.Unlock()
		return time.Time{}, t.err
	}
	t.target, t.missing, t.lastAt = version, 0, time.Time{}
	for i, v := range t.seen {
		switch {
		case v < version:
			t.missing++
		case v > version:
			// With one writer in a closed loop, a watcher cannot be
			// beyond the write the writer is waiting for.
			t.mu.Unlock()
			return time.Time{}, fmt.Errorf("watcher %d at version %d, write at %d: %w", i, v, version, ErrWatchersAhead)
		case t.seenAt[i].After(t.lastAt):
			t.lastAt = t.seenAt[i]
		}
	}
	if t.missing == 0 {
		at := t.lastAt
		t.mu.Unlock()
		return at, nil
	}
	done := make(chan struct{})
	t.done = done
	t.mu.Unlock()

	select {
	case <-done:
	case <-ctx.Done():
		t.mu.Lock()
		if t.done == done {
			t.done = nil
		}
		t.mu.Unlock()
		return time.Time{}, ctx.Err()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.missing > 0 {
		return time.Time{}, t.err
	}
	return t.lastAt, nil
}

// WatchLatency is the latency of one watch op: from the write's
// acknowledgement to the last watcher's event, or 0 when every event came
// before the acknowledgement did.
func WatchLatency(acked, lastEvent time.Time) time.Duration {
	return max(0, lastEvent.Sub(acked))
}
