package tree

import (
	"errors"

	"github.com/cockroachdb/pebble/v2"

	"github.com/arbor-coord/arbor/internal/errcode"
)

// Exactly-once writes (Command.Seq): a session's record keeps the result of
// each of its writes until the client acknowledges it, so a write retried
// after a lost connection gets its one true result instead of applying
// twice. The results live under the session's result keys; the session
// record holds the acknowledged watermark, below which results are gone and
// a Seq is refused.

// onceState is what one run has recorded or forgotten for one session.
type onceState struct {
	recorded []recordedResult // recorded in this run (mostly one: a closed-loop client has one write in flight)
	low      uint64           // results below it were forgotten in this run
	cleared  bool             // the session was closed in this run: nothing in the store counts
}

// recordedResult is one write result recorded in a run.
type recordedResult struct {
	seq uint64
	v   []byte // encoded
}

// find returns the result recorded in this run for seq, if any.
func (st *onceState) find(seq uint64) ([]byte, bool) {
	for _, r := range st.recorded {
		if r.seq == seq {
			return r.v, true
		}
	}
	return nil, false
}

// checkOnce validates a command's Seq and LowestUnacked and answers a retry
// from its recorded result. It reports whether res is final.
func (a *applier) checkOnce(c *Command, res *Result) bool {
	switch c.Op.(type) {
	case *Create, *Delete, *SetData, *Check, *SetACL, *Multi:
	default:
		res.Code = errcode.BadArguments
		return true
	}
	if c.Session == 0 || c.Seq == 0 || c.LowestUnacked == 0 || c.LowestUnacked > c.Seq {
		res.Code = errcode.BadArguments
		return true
	}
	sess := a.getSession(c.Session)
	if sess == nil || c.Seq < sess.LowestUnacked {
		res.Code = errcode.BadArguments // acknowledged: the client promised never to send it again
		return true
	}
	if v := a.recorded(c.Session, c.Seq); v != nil {
		top, ops, err := decodeResult(v)
		if err != nil {
			a.err = err
			return true
		}
		res.OpResult, res.Ops = top, ops
		a.acknowledge(sess, c.LowestUnacked)
		return true
	}
	if c.Seq-max(sess.LowestUnacked, c.LowestUnacked) >= MaxUnackedWrites {
		res.Code = errcode.Throttled
		return true
	}
	return false
}

// recordResult records the outcome of a command with a Seq, then applies
// the acknowledgement it carries.
func (a *applier) recordResult(c *Command, res *Result) {
	st := a.onceOf(c.Session)
	start := len(a.arena)
	a.arena = appendResult(a.arena, res)
	v := a.arenaSince(start)
	st.recorded = append(st.recorded, recordedResult{seq: c.Seq, v: v})
	a.setKey(a.resultKey(c.Session, c.Seq), v)
	if sess := a.getSession(c.Session); sess != nil {
		a.acknowledge(sess, c.LowestUnacked)
	}
}

// acknowledge raises the session's watermark to low, forgetting the
// results below it. Every result kept is at or above the old watermark and
// within MaxUnackedWrites of it, so the keys to delete are known exactly.
func (a *applier) acknowledge(sess *Session, low uint64) {
	old := sess.LowestUnacked
	if low <= old {
		return
	}
	s := *sess
	s.LowestUnacked = low
	a.sessions[s.ID] = &s
	start := len(a.arena)
	a.arena = appendSessionKey(a.arena, s.ID)
	key := a.arenaSince(start)
	start = len(a.arena)
	a.arena = appendSession(a.arena, &s)
	a.setKey(key, a.arenaSince(start))
	st := a.onceOf(s.ID)
	st.low = low
	if low-old > MaxUnackedWrites {
		a.kv = append(a.kv, kvOp{key: a.resultKey(s.ID, old), end: a.resultKey(s.ID, low)})
		return
	}
	for seq := old; seq < low; seq++ {
		a.deleteKey(a.resultKey(s.ID, seq))
	}
}

func (a *applier) onceOf(id int64) *onceState {
	st := a.once[id]
	if st == nil {
		st = &onceState{}
		a.once[id] = st
	}
	return st
}

// recorded returns the encoded result recorded for the session's seq, or
// nil.
func (a *applier) recorded(id int64, seq uint64) []byte {
	if st := a.once[id]; st != nil {
		if seq < st.low {
			return nil
		}
		if v, ok := st.find(seq); ok {
			return v
		}
		if st.cleared {
			return nil
		}
	}
	// Above every stored result (a session's next write): no lookup.
	e := a.t.sessCache.entry(id)
	if !e.maxKnown {
		m, err := a.t.maxRecordedSeq(id)
		if err != nil {
			if a.err == nil {
				a.err = err
			}
			return nil
		}
		e.maxSeq, e.maxKnown = m, true
	}
	if seq > e.maxSeq {
		return nil
	}
	v, err := getBytes(a.t.db, resultKey(id, seq))
	if err != nil {
		if !errors.Is(err, pebble.ErrNotFound) && a.err == nil {
			a.err = err
		}
		return nil
	}
	return v
}
