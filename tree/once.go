package tree

import (
	"errors"

	"github.com/cockroachdb/pebble/v2"

	"github.com/arbor-coord/arbor/internal/errcode"
)

// Exactly-once writes (Command.Seq): a session's record keeps the result of
// each of its writes until the client acknowledges it, so a write retried
// after a lost connection gets its one true result instead of applying
// twice. The session record holds the acknowledged watermark, below which
// results are gone and a Seq is refused, and one result inline: a
// closed-loop client (one write in flight) acknowledges each result with
// its next write, so its record alone holds what it may retry, and a write
// costs one record rewrite instead of a result key, its tombstone and the
// record. Results that find the inline slot taken (pipelined writes) go
// under the session's result keys, with a bound in the record on the Seqs
// stored there.

// onceState is what one run has done to the result keys of one session,
// which are not in the store until the run commits.
type onceState struct {
	recorded []recordedResult // keyed results recorded in this run
	cleared  bool             // the session was closed in this run: no stored result key counts
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
	if v := a.recorded(sess, c.Seq); v != nil {
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

// recordResult applies the acknowledgement a command with a Seq carries,
// then records its outcome: in the session record if its inline slot is
// free, under a result key otherwise.
func (a *applier) recordResult(c *Command, res *Result) {
	sess := a.getSession(c.Session)
	if sess == nil {
		return // not reached: checkOnce found it open, and no write closes a session
	}
	s := *a.acknowledge(sess, c.LowestUnacked)
	if s.inlineSeq == 0 {
		// Its own allocation, not the arena: the record outlives the run
		// in the session cache.
		s.inlineSeq, s.inline = c.Seq, appendResult(nil, res)
	} else {
		start := len(a.arena)
		a.arena = appendResult(a.arena, res)
		v := a.arenaSince(start)
		st := a.onceOf(c.Session)
		st.recorded = append(st.recorded, recordedResult{seq: c.Seq, v: v})
		a.setKey(a.resultKey(c.Session, c.Seq), v)
		s.keyedHigh = max(s.keyedHigh, c.Seq)
	}
	a.putSession(s.ID, &s)
}

// acknowledge raises the session's watermark to low, forgetting the
// results below it, and returns the record as it is then. Every keyed
// result is within [old watermark, keyedHigh], so the keys to delete are
// known.
func (a *applier) acknowledge(sess *sessionRecord, low uint64) *sessionRecord {
	old := sess.LowestUnacked
	if low <= old {
		return sess
	}
	s := *sess
	s.LowestUnacked = low
	if s.inlineSeq != 0 && s.inlineSeq < low {
		s.inlineSeq, s.inline = 0, nil
	}
	if s.keyedHigh != 0 {
		end := min(low, s.keyedHigh+1) // forget [old, end)
		switch {
		case end <= old:
		case end-old > MaxUnackedWrites:
			a.kv = append(a.kv, kvOp{key: a.resultKey(s.ID, old), end: a.resultKey(s.ID, end)})
		default:
			for seq := old; seq < end; seq++ {
				a.deleteKey(a.resultKey(s.ID, seq))
			}
		}
		if s.keyedHigh < low {
			s.keyedHigh = 0
		}
	}
	a.putSession(s.ID, &s)
	return &s
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
// nil. seq is at or above the session's watermark.
func (a *applier) recorded(sess *sessionRecord, seq uint64) []byte {
	if seq == sess.inlineSeq {
		return sess.inline
	}
	if seq > sess.keyedHigh {
		return nil // the usual case, a session's next write: no lookup
	}
	st := a.once[sess.ID]
	if st != nil {
		if v, ok := st.find(seq); ok {
			return v
		}
		if st.cleared {
			return nil
		}
	}
	v, err := getBytes(a.t.db, resultKey(sess.ID, seq))
	if err != nil {
		if !errors.Is(err, pebble.ErrNotFound) && a.err == nil {
			a.err = err
		}
		return nil
	}
	return v
}
