package session_test

import (
	"fmt"
	"time"

	"github.com/arbor-coord/arbor/session"
)

func ExampleTracker() {
	limits := session.DefaultLimits(2 * time.Second) // timeouts 4s..40s
	tr, err := session.NewTracker(limits)
	if err != nil {
		panic(err)
	}
	// now is the owner's monotonic clock since its origin.
	now := time.Duration(0)
	timeout := session.Negotiate(10*time.Second, limits.MinTimeout, limits.MaxTimeout)
	_ = tr.Add(1, timeout, now)
	_ = tr.Add(2, session.Negotiate(time.Second, limits.MinTimeout, limits.MaxTimeout), now)

	// The owner calls Expired on every tick; session 1 pings at 6s.
	for now = 0; now <= 20*time.Second; now += limits.Tick {
		if now == 6*time.Second {
			tr.Touch(1, now)
		}
		for _, id := range tr.Expired(now) {
			fmt.Printf("%v: propose CloseSession{ID: %d, Expired: true}\n", now, id)
		}
	}
	// Output:
	// 4s: propose CloseSession{ID: 2, Expired: true}
	// 16s: propose CloseSession{ID: 1, Expired: true}
}
