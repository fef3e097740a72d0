package history

import (
	"maps"
	"slices"
	"sync"
	"time"
)

// SessionEnds records when the owner of each session saw it end: its
// expiry observed, or its close acknowledged. The zero value is ready to
// use; it is safe for concurrent use.
type SessionEnds struct {
	mu sync.Mutex
	at map[int64]time.Duration
}

// Ended records that session ended at (a Recorder's Now). Only the earliest
// end of a session is kept.
func (s *SessionEnds) Ended(session int64, at time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.at == nil {
		s.at = make(map[int64]time.Duration)
	}
	if prev, ok := s.at[session]; !ok || at < prev {
		s.at[session] = at
	}
}

// Times returns a copy of the recorded ends, by session id.
func (s *SessionEnds) Times() map[int64]time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.at)
}

// EphemeralRead is the output of an exists (or get) of a node that may be
// ephemeral, read by a client other than its owner.
type EphemeralRead struct {
	Exists bool  `json:"exists"`
	Owner  int64 `json:"owner"` // the node's ephemeralOwner: 0 unless ephemeral
}

// CheckEphemerals checks that ephemeral nodes go with their sessions. ended
// is SessionEnds.Times; each read's Input is the path read; final maps each
// node listed after the run to its ephemeralOwner.
//
// The rules:
//
//   - "outlived-session": a read invoked after the owner saw its session
//     end still found a node of that session.
//   - "survived-session": a node listed after the run belongs to a
//     session that ended.
func CheckEphemerals(ended map[int64]time.Duration, reads []Op[string, EphemeralRead], final map[string]int64) []Violation {
	var vs []Violation
	for i, op := range reads {
		if op.Outcome != OK || !op.Output.Exists || op.Output.Owner == 0 {
			continue
		}
		if end, ok := ended[op.Output.Owner]; ok && op.Call > end {
			vs = append(vs, violationf("outlived-session", "%s found %s of session %#x, which ended at %v",
				describe(i, op), op.Input, op.Output.Owner, end))
		}
	}
	for _, path := range slices.Sorted(maps.Keys(final)) {
		owner := final[path]
		if end, ok := ended[owner]; ok && owner != 0 {
			vs = append(vs, violationf("survived-session", "%s of session %#x is still listed after the run; the session ended at %v",
				path, owner, end))
		}
	}
	return vs
}
