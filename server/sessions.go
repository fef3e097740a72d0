package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/arbor-coord/arbor/internal/errcode"
	"github.com/arbor-coord/arbor/session"
	"github.com/arbor-coord/arbor/tree"
)

// sessions is the member's side of sessions: it creates, resumes and
// closes them through the replica, and, as the leader, tracks their
// liveness and proposes the expiry of those not heard from for their
// timeout (DESIGN.md, Sessions). A single member is always the leader.
//
// Time is the monotonic time since the manager started (now), so the
// tracker never sees the wall clock step.
type sessions struct {
	r      *replica
	limits session.Limits
	now    func() time.Duration
	log    *slog.Logger

	mu      sync.Mutex // guards tracker and ids
	tracker *session.Tracker
	ids     *session.IDs
}

// newSessions starts tracking every open session in the replicated state,
// each granted a full timeout from now, as a new leader must.
func newSessions(r *replica, limits session.Limits, now func() time.Duration, log *slog.Logger) (*sessions, error) {
	if err := limits.Validate(); err != nil {
		return nil, err
	}
	tr, err := session.NewTracker(limits)
	if err != nil {
		return nil, err
	}
	open, err := r.tree.Sessions()
	if err != nil {
		return nil, err
	}
	// Ids stay unique across restarts: the counter starts above both the
	// wall clock in ms and every counter this member has issued before.
	seed := uint64(max(r.now().UnixMilli(), 0))
	for _, s := range open {
		if member, counter := session.SplitID(s.ID); member == r.id && counter >= seed {
			seed = counter + 1
		}
		timeout := time.Duration(s.TimeoutMs) * time.Millisecond
		if err := tr.Add(s.ID, timeout, now()); err != nil {
			return nil, fmt.Errorf("track session %#x: %w", s.ID, err)
		}
	}
	ids, err := session.NewIDs(r.id, seed)
	if err != nil {
		return nil, err
	}
	return &sessions{r: r, limits: limits, now: now, log: log, tracker: tr, ids: ids}, nil
}

// create opens a new session with the negotiated timeout and the given
// password (session.PasswordLen random bytes).
func (s *sessions) create(ctx context.Context, requested time.Duration, password []byte) (tree.Session, error) {
	timeout := session.Negotiate(requested, s.limits.MinTimeout, s.limits.MaxTimeout)
	s.mu.Lock()
	if s.tracker.Len() >= s.limits.MaxSessions {
		s.mu.Unlock()
		return tree.Session{}, fmt.Errorf("create session: %w: %d sessions open", errcode.Throttled, s.limits.MaxSessions)
	}
	id, err := s.ids.Next()
	s.mu.Unlock()
	if err != nil {
		return tree.Session{}, err
	}
	rec := tree.Session{ID: id, TimeoutMs: int32(timeout / time.Millisecond), PasswordDigest: session.Digest(password)}
	res, err := s.r.propose(ctx, &tree.Command{System: true,
		Op: &tree.CreateSession{ID: rec.ID, TimeoutMs: rec.TimeoutMs, PasswordDigest: rec.PasswordDigest}})
	if err == nil && res.Code != errcode.Ok {
		err = res.Code
	}
	if err != nil {
		return tree.Session{}, fmt.Errorf("create session: %w", err)
	}
	s.mu.Lock()
	err = s.tracker.Add(id, timeout, s.now())
	s.mu.Unlock()
	if err != nil {
		// Concurrent creates overshot the limit: the record exists, so
		// end it again before answering.
		s.expire(context.WithoutCancel(ctx), id)
		return tree.Session{}, fmt.Errorf("create session: %w: %w", errcode.Throttled, err)
	}
	return rec, nil
}

// resume checks a client's session id and password. An unknown session
// and a wrong password are both SessionExpired, as in ZooKeeper, so that
// the answer reveals nothing about other sessions.
func (s *sessions) resume(id int64, password []byte) (tree.Session, error) {
	rec, err := s.r.tree.Session(id)
	if err != nil {
		return tree.Session{}, err
	}
	if !session.CheckPassword(rec.PasswordDigest, password) {
		return tree.Session{}, errcode.SessionExpired
	}
	if !s.touch(id) {
		return tree.Session{}, errcode.SessionExpired // expiring right now
	}
	return rec, nil
}

// touch records that the session was heard from. It reports false for a
// session the tracker no longer follows (expired or closing).
func (s *sessions) touch(id int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tracker.Touch(id, s.now())
}

// close ends a session at its client's request.
func (s *sessions) close(ctx context.Context, id int64) error {
	s.mu.Lock()
	s.tracker.Remove(id)
	s.mu.Unlock()
	res, err := s.r.propose(ctx, &tree.Command{System: true, Op: &tree.CloseSession{ID: id}})
	if err == nil && res.Code != errcode.Ok {
		err = res.Code
	}
	return err
}

// expireDue proposes the expiry of every session past its deadline, and
// returns how many were expired. A proposal that fails puts its session
// back for one more tick, so the expiry is retried and never lost.
func (s *sessions) expireDue(ctx context.Context) int {
	s.mu.Lock()
	due := s.tracker.Expired(s.now())
	s.mu.Unlock()
	n := 0
	for _, id := range due {
		if s.expire(ctx, id) {
			n++
		}
	}
	return n
}

func (s *sessions) expire(ctx context.Context, id int64) bool {
	res, err := s.r.propose(ctx, &tree.Command{System: true, Op: &tree.CloseSession{ID: id, Expired: true}})
	switch {
	case err == nil && (res.Code == errcode.Ok || res.Code == errcode.SessionExpired):
		s.log.Info("session expired", "session", fmt.Sprintf("%#x", id))
		return res.Code == errcode.Ok
	case errors.Is(err, context.Canceled):
		return false
	}
	s.log.Warn("session expiry not applied; retrying", "session", fmt.Sprintf("%#x", id), "err", err)
	s.mu.Lock()
	_ = s.tracker.Add(id, s.limits.Tick, s.now())
	s.mu.Unlock()
	return false
}

// run expires due sessions every tick until ctx ends.
func (s *sessions) run(ctx context.Context) {
	every(ctx, s.limits.Tick, func(ctx context.Context) { s.expireDue(ctx) })
}

// count returns the number of sessions tracked.
func (s *sessions) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tracker.Len()
}
