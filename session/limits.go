package session

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// MaxTimeout is the largest session timeout there can be: the replicated
// record holds it as int32 milliseconds (about 24.8 days).
const MaxTimeout = math.MaxInt32 * time.Millisecond

// DefaultMaxSessions is the default bound on the sessions a Tracker holds.
const DefaultMaxSessions = 100_000

// Limits are the server's session settings.
type Limits struct {
	// Tick is the width of the Tracker's expiry buckets: a session expires
	// at the first multiple of Tick at or after its deadline.
	Tick time.Duration
	// MinTimeout and MaxTimeout bound the negotiated session timeout.
	MinTimeout time.Duration
	MaxTimeout time.Duration
	// MaxSessions bounds the sessions tracked at once; past it, Add fails
	// with ErrTooManySessions.
	MaxSessions int
}

// DefaultLimits returns ZooKeeper's defaults for a server tick: timeouts
// between 2 and 20 ticks, DefaultMaxSessions sessions.
func DefaultLimits(tick time.Duration) Limits {
	return Limits{Tick: tick, MinTimeout: 2 * tick, MaxTimeout: 20 * tick, MaxSessions: DefaultMaxSessions}
}

// Validate reports what is wrong with l, all problems joined, or nil.
// Timeouts must be whole milliseconds (the unit of the record), with
// 0 < MinTimeout ≤ MaxTimeout ≤ the package's MaxTimeout; Tick and
// MaxSessions must be positive.
func (l Limits) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("session limits: "+format, args...))
	}
	if l.Tick <= 0 {
		bad("tick %v must be positive", l.Tick)
	}
	if l.MinTimeout <= 0 {
		bad("min timeout %v must be positive", l.MinTimeout)
	}
	if l.MinTimeout > l.MaxTimeout {
		bad("min timeout %v exceeds max timeout %v", l.MinTimeout, l.MaxTimeout)
	}
	if l.MaxTimeout > MaxTimeout {
		bad("max timeout %v exceeds %v", l.MaxTimeout, MaxTimeout)
	}
	if l.MinTimeout%time.Millisecond != 0 || l.MaxTimeout%time.Millisecond != 0 {
		bad("timeouts %v and %v must be whole milliseconds", l.MinTimeout, l.MaxTimeout)
	}
	if l.MaxSessions <= 0 {
		bad("max sessions %d must be positive", l.MaxSessions)
	}
	return errors.Join(errs...)
}

// Negotiate returns the session timeout granted for a client's requested
// one, clamped to [min, max] as ZooKeeper does; a request of 0 or less
// gets min. It panics unless 0 < min ≤ max (Limits.Validate checks this
// at start).
func Negotiate(requested, min, max time.Duration) time.Duration {
	if min <= 0 || min > max {
		panic(fmt.Sprintf("session: Negotiate with min %v, max %v", min, max))
	}
	if requested < min {
		return min
	}
	if requested > max {
		return max
	}
	return requested
}
