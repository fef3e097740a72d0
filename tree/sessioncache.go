package tree

import (
	"encoding/binary"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// sessionCache keeps, for the apply loop, the committed record of recently
// used sessions and an upper bound on the sequence numbers of the write
// results each has stored, so that a write, which checks its session and
// whether its Seq was already applied, costs no store lookups in the usual
// case (a session's next write, above everything recorded). Like nodeCache
// it is used only by the goroutine that calls Apply and Import, is updated
// only after a run commits, and never influences results, only speed.
type sessionCache struct {
	m map[int64]*cachedSession
}

type cachedSession struct {
	rec      *Session // nil: not open; valid only when recKnown
	recKnown bool
	// maxSeq bounds the Seqs of the results stored for the session: none
	// is above it. Valid only when maxKnown.
	maxSeq   uint64
	maxKnown bool
}

// sessionCacheMax bounds the sessions cached; past it, random ones go.
const sessionCacheMax = 1 << 16

func newSessionCache() *sessionCache { return &sessionCache{m: make(map[int64]*cachedSession)} }

func (c *sessionCache) get(id int64) *cachedSession { return c.m[id] }

// entry returns id's entry, creating an empty one (nothing known) if
// needed.
func (c *sessionCache) entry(id int64) *cachedSession {
	e := c.m[id]
	if e == nil {
		if len(c.m) >= sessionCacheMax {
			k := len(c.m)/8 + 1
			for old := range c.m {
				if k == 0 {
					break
				}
				delete(c.m, old)
				k--
			}
		}
		e = &cachedSession{}
		c.m[id] = e
	}
	return e
}

func (c *sessionCache) clear() { clear(c.m) }

// committed folds what a committed run did to sessions into the cache.
func (c *sessionCache) committed(a *applier) {
	for id, s := range a.sessions {
		e := c.entry(id)
		e.rec, e.recKnown = s, true
	}
	for id, st := range a.once {
		e := c.entry(id)
		if st.cleared {
			// The session ended in this run: nothing of it is stored.
			e.maxSeq, e.maxKnown = 0, true
		}
		for _, r := range st.recorded {
			if e.maxKnown {
				e.maxSeq = max(e.maxSeq, r.seq)
			}
		}
	}
}

// maxRecordedSeq returns the highest Seq with a result stored for the
// session, from the store (0 if none).
func (t *Tree) maxRecordedSeq(id int64) (uint64, error) {
	prefix := resultPrefix(id)
	it, err := t.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixUpper(prefix)})
	if err != nil {
		return 0, err
	}
	var seq uint64
	if it.Last() {
		k := it.Key()
		if len(k) != len(prefix)+8 {
			it.Close()
			return 0, fmt.Errorf("%w: result key of %d bytes", ErrCorruptState, len(k))
		}
		seq = binary.BigEndian.Uint64(k[len(prefix):])
	}
	return seq, it.Close()
}
