package server

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/arbor-coord/arbor/internal/errcode"
	"github.com/arbor-coord/arbor/server/raftnode"
	"github.com/arbor-coord/arbor/session"
	"github.com/arbor-coord/arbor/tree"
)

// sessions is the member's side of sessions (DESIGN.md, Sessions): it
// creates, resumes and closes them through the replica, and keeps a
// tracker of when each open session expires.
//
// Every member's tracker follows the replicated state: it holds every open
// session, added when its CreateSession is applied and removed when its
// CloseSession is. Only the leader expires sessions. A member hears from
// the clients connected to it (touch); a member that is not the leader
// forwards the ids it heard from to the leader once per tick (see
// peerMessages), and the leader touches them in its own tracker. A member
// that becomes leader grants every session a full timeout before expiring
// any, since the touches of its last moments as a follower went elsewhere.
// A single member is always the leader.
//
// Time is the monotonic time since the manager started (now), so the
// tracker never sees the wall clock step.
type sessions struct {
	r      *replica
	limits session.Limits
	now    func() time.Duration
	log    *slog.Logger
	// forward sends a batch of touched session ids to the leader; nil for
	// a member alone. It must not block.
	forward func(leader uint64, ids []int64) bool
	// status is the member's raft status (the replica node's; tests set it).
	status func() raftnode.Status
	// proposeTimeout bounds the wait for one expiry to apply (the
	// server's RequestTimeout). An expiry proposed just before this member
	// lost its leadership may never apply, and the tick that waits for it
	// must go on: waiting forever stopped every later expiry, so that once
	// this member led again no session ever expired.
	proposeTimeout time.Duration

	mu      sync.Mutex // guards the fields below
	tracker *session.Tracker
	ids     *session.IDs
	leader  bool // this member expires sessions
	// touched holds the sessions heard from since the last forward, while
	// this member is not the leader.
	touched map[int64]struct{}
}

// newSessions starts following the replica's sessions: every open session
// in the replicated state is tracked, granted a full timeout from now, as
// a new leader must, and so is every session created from now on.
func newSessions(r *replica, limits session.Limits, now func() time.Duration, log *slog.Logger) (*sessions, error) {
	if err := limits.Validate(); err != nil {
		return nil, err
	}
	s := &sessions{r: r, limits: limits, now: now, log: log, touched: make(map[int64]struct{}), proposeTimeout: DefaultRequestTimeout}
	s.status = r.node.Status
	s.leader = s.status().Role == raftnode.RoleLeader
	if r.transport != nil {
		s.forward = r.sendTouches
	}
	// Hook into apply before reading the state, under mu, which the hook
	// also takes: a session the state already holds is loaded here, and
	// one created or ended later is seen by the hook after the load.
	s.mu.Lock()
	defer s.mu.Unlock()
	r.sm.sessions.Store(s)
	open, err := r.tree.Sessions()
	if err != nil {
		r.sm.sessions.Store(nil)
		return nil, err
	}
	if s.tracker, err = s.trackerOf(open); err != nil {
		r.sm.sessions.Store(nil)
		return nil, err
	}
	// Ids stay unique across restarts: the counter starts above both the
	// wall clock in ms and every counter this member has issued before.
	seed := uint64(max(r.now().UnixMilli(), 0))
	for _, rec := range open {
		if member, counter := session.SplitID(rec.ID); member == r.id && counter >= seed {
			seed = counter + 1
		}
	}
	if s.ids, err = session.NewIDs(r.id, seed); err != nil {
		r.sm.sessions.Store(nil)
		return nil, err
	}
	return s, nil
}

// reload rebuilds the tracker from the replicated state, after a snapshot
// replaced it: the sessions created and ended in the entries the snapshot
// stands for were never observed. Every session gets a full timeout.
func (s *sessions) reload() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	open, err := s.r.tree.Sessions()
	if err != nil {
		return err
	}
	tr, err := s.trackerOf(open)
	if err != nil {
		return err
	}
	s.tracker = tr
	clear(s.touched)
	return nil
}

// trackerOf returns a tracker of the open sessions, each granted a full
// timeout from now. The tracker follows the replicated state, so it must
// never refuse a session: create enforces limits.MaxSessions before
// proposing.
func (s *sessions) trackerOf(open []tree.Session) (*session.Tracker, error) {
	tl := s.limits
	tl.MaxSessions = math.MaxInt
	tr, err := session.NewTracker(tl)
	if err != nil {
		return nil, err
	}
	now := s.now()
	for _, rec := range open {
		if err := tr.Add(rec.ID, time.Duration(rec.TimeoutMs)*time.Millisecond, now); err != nil {
			return nil, fmt.Errorf("track session %#x: %w", rec.ID, err)
		}
	}
	return tr, nil
}

// observe is the apply hook: it tracks the sessions an applied run created
// and stops tracking those it ended. It runs on the Ready loop.
func (s *sessions) observe(batch []tree.Entry, results []tree.Result) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range results {
		cmd := batch[i].Cmd
		if cmd == nil || results[i].Code != errcode.Ok {
			continue
		}
		switch op := cmd.Op.(type) {
		case *tree.CreateSession:
			timeout := time.Duration(op.TimeoutMs) * time.Millisecond
			if timeout <= 0 || timeout > session.MaxTimeout {
				timeout = s.limits.MaxTimeout
			}
			_ = s.tracker.Add(op.ID, timeout, s.now()) // never full (newSessions)
		case *tree.CloseSession:
			s.tracker.Remove(op.ID)
			delete(s.touched, op.ID)
		}
	}
}

// create opens a new session with the negotiated timeout and the given
// password (session.PasswordLen random bytes). It refuses (Throttled) when
// limits.MaxSessions sessions are open; concurrent creates may overshoot
// the limit by as many as are in flight.
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
// session the tracker no longer follows (ended, or being expired). On a
// member that is not the leader the touch is also queued for the leader.
func (s *sessions) touch(id int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.tracker.Touch(id, s.now()) {
		return false
	}
	if !s.leader && s.forward != nil {
		s.touched[id] = struct{}{}
	}
	return true
}

// touchedElsewhere records the touches another member forwarded. Ids the
// tracker does not follow (ended meanwhile) are ignored.
func (s *sessions) touchedElsewhere(ids []int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for _, id := range ids {
		s.tracker.Touch(id, now)
	}
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
	pctx, cancel := context.WithTimeout(ctx, s.proposeTimeout)
	defer cancel()
	res, err := s.r.propose(pctx, &tree.Command{System: true, Op: &tree.CloseSession{ID: id, Expired: true}})
	switch {
	case err == nil && (res.Code == errcode.Ok || res.Code == errcode.SessionExpired):
		s.log.Info("session expired", "session", fmt.Sprintf("%#x", id))
		return res.Code == errcode.Ok
	case ctx.Err() != nil:
		return false // the member is stopping
	}
	s.log.Warn("session expiry not applied; retrying", "session", fmt.Sprintf("%#x", id), "err", err)
	s.mu.Lock()
	_ = s.tracker.Add(id, s.limits.Tick, s.now())
	s.mu.Unlock()
	return false
}

// run does the member's part every tick until ctx ends: as the leader it
// expires the sessions due; otherwise it forwards its touches to the
// leader.
func (s *sessions) run(ctx context.Context) {
	every(ctx, s.limits.Tick, s.tick)
}

func (s *sessions) tick(ctx context.Context) {
	st := s.status()
	leading := st.Role == raftnode.RoleLeader
	var batch []int64
	s.mu.Lock()
	if leading && !s.leader {
		s.tracker.ResetAll(s.now())
		s.log.Info("leading: every session is granted a full timeout", "sessions", s.tracker.Len(), "term", st.Term)
	}
	s.leader = leading
	if leading {
		clear(s.touched)
	} else if st.Lead != 0 && len(s.touched) > 0 {
		batch = make([]int64, 0, len(s.touched))
		for id := range s.touched {
			batch = append(batch, id)
		}
	}
	s.mu.Unlock()
	switch {
	case leading:
		s.expireDue(ctx)
	case batch != nil:
		// A batch the transport refuses stays queued for the next tick;
		// one lost on the way is not resent: the client's next ping
		// (every third of its timeout) touches its session again.
		if s.forward(st.Lead, batch) {
			s.mu.Lock()
			for _, id := range batch {
				delete(s.touched, id)
			}
			s.mu.Unlock()
		}
	}
}

// count returns the number of sessions tracked.
func (s *sessions) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tracker.Len()
}
