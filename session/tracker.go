package session

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// ErrTooManySessions is returned by Tracker.Add when the tracker already
// holds Limits.MaxSessions sessions.
var ErrTooManySessions = errors.New("session: too many sessions")

// Tracker is the leader's record of when each session expires.
//
// A session's deadline is the time of its last Add or Touch plus its
// timeout. Deadlines are rounded up to a multiple of Limits.Tick, and the
// sessions sharing a rounded deadline are kept in one bucket, as in
// ZooKeeper's ExpiryQueue: a session expires at the first multiple of Tick
// at or after its deadline, so never early and less than one Tick late
// (given Expired is called at every multiple of Tick). Add, Touch and
// Remove take constant time; Expired takes time proportional to the
// sessions it returns plus the smaller of the number of buckets and the
// ticks since its previous call.
//
// Every method takes now, the time on the owner's monotonic clock as a
// duration since the owner's origin. now must be at least 0 and must never
// decrease from one call to the next; a Tracker panics otherwise.
type Tracker struct {
	tick        time.Duration
	maxSessions int
	sessions    map[int64]*tracked
	// buckets maps a rounded deadline, in ticks, to the first of the
	// sessions that expire then. Only non-empty buckets are kept, and
	// every key is above done.
	buckets map[int64]*tracked
	// done is the last bucket key that Expired has emptied.
	done int64
	now  time.Duration
}

// tracked is one session in a bucket's doubly linked list.
type tracked struct {
	id         int64
	timeout    time.Duration
	bucket     int64
	prev, next *tracked
}

// NewTracker returns an empty tracker with the Tick and MaxSessions of l,
// or the error of l.Validate.
func NewTracker(l Limits) (*Tracker, error) {
	if err := l.Validate(); err != nil {
		return nil, err
	}
	return &Tracker{
		tick:        l.Tick,
		maxSessions: l.MaxSessions,
		sessions:    make(map[int64]*tracked),
		buckets:     make(map[int64]*tracked),
		done:        -1,
	}, nil
}

// Len returns the number of sessions tracked.
func (t *Tracker) Len() int { return len(t.sessions) }

// Add starts tracking a session with the given timeout (which must be
// positive and at most MaxTimeout) as if touched at now. Adding a session already tracked sets its
// timeout and touches it. It fails with ErrTooManySessions if the tracker
// is full.
func (t *Tracker) Add(id int64, timeout time.Duration, now time.Duration) error {
	t.advance(now)
	if timeout <= 0 || timeout > MaxTimeout {
		panic(fmt.Sprintf("session: Add of session %#x with timeout %v", id, timeout))
	}
	if s, ok := t.sessions[id]; ok {
		s.timeout = timeout
		t.move(s, t.key(now+timeout))
		return nil
	}
	if len(t.sessions) >= t.maxSessions {
		return fmt.Errorf("session: add %#x: %w (limit %d)", id, ErrTooManySessions, t.maxSessions)
	}
	s := &tracked{id: id, timeout: timeout}
	t.sessions[id] = s
	t.link(s, t.key(now+timeout))
	return nil
}

// Touch extends a session's deadline to now plus its timeout. It reports
// whether the session is tracked; false means it was never added, was
// removed, or has been returned by Expired, in which case its expiry is
// under way and the server refuses its requests, as ZooKeeper does for a
// closing session.
func (t *Tracker) Touch(id int64, now time.Duration) bool {
	t.advance(now)
	s, ok := t.sessions[id]
	if !ok {
		return false
	}
	t.move(s, t.key(now+s.timeout))
	return true
}

// Remove stops tracking a session and reports whether it was tracked.
func (t *Tracker) Remove(id int64) bool {
	s, ok := t.sessions[id]
	if !ok {
		return false
	}
	t.unlink(s)
	delete(t.sessions, id)
	return true
}

// Expired returns, in increasing order, the sessions whose rounded
// deadline is at or before now, and stops tracking them: each expired
// session is returned once. The owner proposes CloseSession{Expired: true}
// for each and, should a proposal be dropped while it is still leader,
// proposes again; on losing leadership it discards the tracker or keeps it
// for ResetAll.
func (t *Tracker) Expired(now time.Duration) []int64 {
	t.advance(now)
	last := int64(now / t.tick)
	if last <= t.done {
		return nil
	}
	var ids []int64
	drain := func(k int64) {
		for s := t.buckets[k]; s != nil; s = s.next {
			ids = append(ids, s.id)
			delete(t.sessions, s.id)
		}
		delete(t.buckets, k)
	}
	if uint64(last-t.done) <= uint64(len(t.buckets)) {
		for k := t.done + 1; k <= last; k++ {
			drain(k)
		}
	} else {
		for k := range t.buckets {
			if k <= last {
				drain(k)
			}
		}
	}
	t.done = last
	slices.Sort(ids)
	return ids
}

// ResetAll grants every tracked session a full timeout from now, as a new
// leader must before expiring any: while it was not leader, the touches of
// its sessions went elsewhere or nowhere.
func (t *Tracker) ResetAll(now time.Duration) {
	t.advance(now)
	clear(t.buckets)
	for _, s := range t.sessions {
		s.prev, s.next = nil, nil
		t.link(s, t.key(now+s.timeout))
	}
}

// advance checks and records now.
func (t *Tracker) advance(now time.Duration) {
	if now < t.now || now < 0 {
		panic(fmt.Sprintf("session: tracker time went from %v to %v", t.now, now))
	}
	t.now = now
}

// key returns the bucket of a deadline: the deadline in ticks, rounded up.
// It is above done for every deadline after now (timeouts are positive).
func (t *Tracker) key(deadline time.Duration) int64 {
	return int64((deadline + t.tick - 1) / t.tick)
}

func (t *Tracker) move(s *tracked, k int64) {
	if s.bucket == k {
		return
	}
	t.unlink(s)
	t.link(s, k)
}

func (t *Tracker) link(s *tracked, k int64) {
	if k <= t.done {
		panic(fmt.Sprintf("session: bucket %d of session %#x already expired (done %d)", k, s.id, t.done))
	}
	s.bucket = k
	s.prev = nil
	s.next = t.buckets[k]
	if s.next != nil {
		s.next.prev = s
	}
	t.buckets[k] = s
}

func (t *Tracker) unlink(s *tracked) {
	if s.prev != nil {
		s.prev.next = s.next
	} else if s.next != nil {
		t.buckets[s.bucket] = s.next
	} else {
		delete(t.buckets, s.bucket)
	}
	if s.next != nil {
		s.next.prev = s.prev
	}
	s.prev, s.next = nil, nil
}
