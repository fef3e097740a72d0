package session

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

const s = time.Second

func newTestTracker(t testing.TB, tick time.Duration, maxSessions int) *Tracker {
	t.Helper()
	tr, err := NewTracker(Limits{Tick: tick, MinTimeout: time.Millisecond, MaxTimeout: MaxTimeout, MaxSessions: maxSessions})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func mustAdd(t testing.TB, tr *Tracker, id int64, timeout, now time.Duration) {
	t.Helper()
	if err := tr.Add(id, timeout, now); err != nil {
		t.Fatalf("Add(%d, %v, %v): %v", id, timeout, now, err)
	}
}

// expect calls Expired(now) and checks the ids it returns.
func expect(t *testing.T, tr *Tracker, now time.Duration, want ...int64) {
	t.Helper()
	got := tr.Expired(now)
	if !slices.Equal(got, want) {
		t.Fatalf("Expired(%v) = %v, want %v", now, got, want)
	}
}

func TestTrackerDeadlineOnTickExpiresExactly(t *testing.T) {
	tr := newTestTracker(t, s, 10)
	mustAdd(t, tr, 1, 5*s, 0)
	expect(t, tr, 5*s-1)
	expect(t, tr, 5*s, 1)
	if tr.Len() != 0 {
		t.Fatalf("Len after expiry = %d", tr.Len())
	}
	expect(t, tr, 6*s)
}

func TestTrackerDeadlineRoundsUpToTick(t *testing.T) {
	tr := newTestTracker(t, s, 10)
	// Deadline 5.5s rounds up to 6s: never early, less than a tick late.
	mustAdd(t, tr, 1, 5500*time.Millisecond, 0)
	// Deadline 2.3s + 1.7s = 4s is on a tick.
	mustAdd(t, tr, 2, 1700*time.Millisecond, 2300*time.Millisecond)
	expect(t, tr, 4*s-1)
	expect(t, tr, 4*s, 2)
	expect(t, tr, 5500*time.Millisecond)
	expect(t, tr, 6*s-1)
	expect(t, tr, 6*s, 1)
}

func TestTrackerTouchExtends(t *testing.T) {
	tr := newTestTracker(t, s, 10)
	mustAdd(t, tr, 1, 5*s, 0)
	mustAdd(t, tr, 2, 5*s, 0)
	if !tr.Touch(1, 2500*time.Millisecond) { // deadline 7.5s, bucket 8s
		t.Fatal("Touch of a tracked session returned false")
	}
	if !tr.Touch(1, 3*s) { // deadline 8s, the same bucket
		t.Fatal("Touch returned false")
	}
	expect(t, tr, 5*s, 2)
	expect(t, tr, 8*s-1)
	if !tr.Touch(1, 8*s-1) { // deadline 13s-1ns, bucket 13s
		t.Fatal("Touch returned false")
	}
	expect(t, tr, 8*s)
	expect(t, tr, 13*s-1)
	expect(t, tr, 13*s, 1)
	if tr.Touch(1, 14*s) {
		t.Fatal("Touch of an expired session returned true")
	}
	if tr.Touch(99, 14*s) {
		t.Fatal("Touch of an unknown session returned true")
	}
}

func TestTrackerReAddSetsTimeout(t *testing.T) {
	tr := newTestTracker(t, s, 1)
	mustAdd(t, tr, 1, 5*s, 0)
	mustAdd(t, tr, 1, 2*s, s) // not a second session: the limit of 1 holds
	if tr.Len() != 1 {
		t.Fatalf("Len = %d", tr.Len())
	}
	expect(t, tr, 3*s, 1)
}

func TestTrackerRemove(t *testing.T) {
	tr := newTestTracker(t, s, 10)
	mustAdd(t, tr, 1, 5*s, 0)
	mustAdd(t, tr, 2, 5*s, 0)
	mustAdd(t, tr, 3, 5*s, 0)
	if !tr.Remove(2) {
		t.Fatal("Remove of a tracked session returned false")
	}
	if tr.Remove(2) {
		t.Fatal("second Remove returned true")
	}
	if tr.Touch(2, s) {
		t.Fatal("Touch of a removed session returned true")
	}
	expect(t, tr, 5*s, 1, 3)
}

func TestTrackerResetAllGrantsFullTimeout(t *testing.T) {
	tr := newTestTracker(t, s, 10)
	mustAdd(t, tr, 1, 5*s, 0)
	mustAdd(t, tr, 2, 10*s, 0)
	mustAdd(t, tr, 3, 3*s, 2*s)
	// A new leader at 100s: every deadline has passed, but nobody expired
	// them, and the touches of the last 100s went to another leader.
	tr.ResetAll(100 * s)
	expect(t, tr, 100*s)
	expect(t, tr, 103*s-1)
	expect(t, tr, 103*s, 3)
	expect(t, tr, 105*s, 1)
	expect(t, tr, 110*s, 2)
}

func TestTrackerLimit(t *testing.T) {
	tr := newTestTracker(t, s, 2)
	mustAdd(t, tr, 1, 5*s, 0)
	mustAdd(t, tr, 2, 5*s, 0)
	if err := tr.Add(3, 5*s, 0); !errors.Is(err, ErrTooManySessions) {
		t.Fatalf("Add past the limit: %v, want ErrTooManySessions", err)
	}
	if tr.Touch(3, 0) {
		t.Fatal("the refused session is tracked")
	}
	tr.Remove(1)
	mustAdd(t, tr, 3, 5*s, 0)
}

func TestTrackerPanics(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    func(tr *Tracker)
	}{
		{"time goes back", func(tr *Tracker) { tr.Expired(2 * s); tr.Touch(1, s) }},
		{"negative time", func(tr *Tracker) { tr.Expired(-1) }},
		{"zero timeout", func(tr *Tracker) { _ = tr.Add(1, 0, 0) }},
		{"timeout too long", func(tr *Tracker) { _ = tr.Add(1, MaxTimeout+1, 0) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			tc.f(newTestTracker(t, s, 10))
		})
	}
}

func TestTrackerManySessions(t *testing.T) {
	const n = 10_000
	tr := newTestTracker(t, 100*time.Millisecond, n)
	want := map[time.Duration][]int64{}
	// Ids in decreasing order, timeouts 1s..10s: each expiry batch must
	// still come out sorted.
	for i := range int64(n) {
		id := n - i
		timeout := time.Duration(1+i%10) * s
		mustAdd(t, tr, id, timeout, 0)
		want[timeout] = append(want[timeout], id)
	}
	for timeout := range want {
		slices.Sort(want[timeout])
	}
	for now := time.Duration(0); now <= 11*s; now += 50 * time.Millisecond {
		got := tr.Expired(now)
		if !slices.Equal(got, want[now]) {
			t.Fatalf("Expired(%v): %d sessions, want %d", now, len(got), len(want[now]))
		}
	}
	if tr.Len() != 0 {
		t.Fatalf("Len = %d at the end", tr.Len())
	}
}

// TestTrackerAgainstModel runs seeded random operations on a Tracker and on
// a map of deadlines, and checks that a session is expired at the first
// multiple of the tick at or after its deadline: never before its deadline,
// and never a whole tick after it.
func TestTrackerAgainstModel(t *testing.T) {
	seeds := 300
	if testing.Short() {
		seeds = 30
	}
	for seed := range uint64(seeds) {
		if !t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) { runModel(t, seed, 2000) }) {
			t.Fatalf("failed with seed %d", seed)
		}
	}
}

type modelSession struct {
	timeout, deadline time.Duration
}

func runModel(t *testing.T, seed uint64, ops int) {
	rng := rand.New(rand.NewPCG(seed, 0x5e55))
	ticks := []time.Duration{time.Millisecond, 7 * time.Millisecond, 100 * time.Millisecond, s}
	tick := ticks[rng.IntN(len(ticks))]
	maxSessions := 1 + rng.IntN(60)
	tr := newTestTracker(t, tick, maxSessions)
	model := map[int64]modelSession{}
	now := time.Duration(rng.Int64N(int64(10 * s)))
	randTimeout := func() time.Duration { return 1 + time.Duration(rng.Int64N(int64(30*tick))) }
	randID := func() int64 { return 1 + rng.Int64N(80) }
	for op := range ops {
		switch r := rng.IntN(100); {
		case r < 20: // time passes, now and then a lot of it
			if rng.IntN(20) == 0 {
				now += time.Duration(rng.Int64N(int64(100 * tick)))
			} else {
				now += time.Duration(rng.Int64N(int64(2 * tick)))
			}
		case r < 40:
			id, timeout := randID(), randTimeout()
			err := tr.Add(id, timeout, now)
			_, exists := model[id]
			if !exists && len(model) >= maxSessions {
				if !errors.Is(err, ErrTooManySessions) {
					t.Fatalf("op %d: Add(%d) to a full tracker: %v", op, id, err)
				}
				break
			}
			if err != nil {
				t.Fatalf("op %d: Add(%d): %v", op, id, err)
			}
			model[id] = modelSession{timeout, now + timeout}
		case r < 65:
			id := randID()
			m, exists := model[id]
			if got := tr.Touch(id, now); got != exists {
				t.Fatalf("op %d: Touch(%d) = %v, want %v", op, id, got, exists)
			}
			if exists {
				m.deadline = now + m.timeout
				model[id] = m
			}
		case r < 72:
			id := randID()
			_, exists := model[id]
			if got := tr.Remove(id); got != exists {
				t.Fatalf("op %d: Remove(%d) = %v, want %v", op, id, got, exists)
			}
			delete(model, id)
		case r < 74:
			tr.ResetAll(now)
			for id, m := range model {
				m.deadline = now + m.timeout
				model[id] = m
			}
		default:
			got := tr.Expired(now)
			var want []int64
			for id, m := range model {
				rounded := (m.deadline + tick - 1) / tick * tick
				if rounded <= now {
					want = append(want, id)
				}
			}
			slices.Sort(want)
			for _, id := range got {
				if m, ok := model[id]; !ok || m.deadline > now {
					t.Fatalf("op %d: Expired(%v) returned %d early (deadline %v, tick %v)", op, now, id, m.deadline, tick)
				}
			}
			for id, m := range model {
				if m.deadline+tick <= now && !slices.Contains(got, id) {
					t.Fatalf("op %d: Expired(%v) missed %d (deadline %v, tick %v)", op, now, id, m.deadline, tick)
				}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("op %d: Expired(%v) = %v, want %v (tick %v)", op, now, got, want, tick)
			}
			for _, id := range got {
				delete(model, id)
			}
		}
		if tr.Len() != len(model) {
			t.Fatalf("op %d: Len = %d, model has %d", op, tr.Len(), len(model))
		}
	}
}

const benchSessions = 100_000

// BenchmarkTrackerTouch touches 100k sessions round-robin while the clock
// advances, so most touches move a session to a later bucket.
func BenchmarkTrackerTouch(b *testing.B) {
	const tick = 2 * s
	tr := newTestTracker(b, tick, benchSessions)
	for id := range int64(benchSessions) {
		mustAdd(b, tr, id+1, 20*s, 0)
	}
	now, id := time.Duration(0), int64(0)
	for b.Loop() {
		now += 10 * time.Microsecond
		id = id%benchSessions + 1
		if !tr.Touch(id, now) {
			b.Fatal("untracked")
		}
	}
}

// BenchmarkTrackerExpired calls Expired once per tick over 100k sessions
// with timeouts spread over 4s..40s (ZooKeeper's defaults for a 2s tick),
// re-adding the expired ones so the population stays at 100k.
func BenchmarkTrackerExpired(b *testing.B) {
	const tick = 2 * s
	tr := newTestTracker(b, tick, benchSessions)
	timeout := func(id int64) time.Duration { return 4*s + time.Duration(id%37)*s }
	for id := range int64(benchSessions) {
		mustAdd(b, tr, id+1, timeout(id+1), 0)
	}
	var now time.Duration
	expired := 0
	for b.Loop() {
		now += tick
		ids := tr.Expired(now)
		expired += len(ids)
		b.StopTimer()
		for _, id := range ids {
			mustAdd(b, tr, id, timeout(id), now)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(expired)/float64(b.N), "expired/op")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(max(expired, 1)), "ns/expired")
}
