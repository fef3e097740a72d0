package tree

import (
	"encoding/binary"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// sessionCache keeps, for the apply loop, the committed record of recently
// used sessions, so that a write, which checks its session and whether its
// Seq was already applied, costs no store lookups in the usual case. Like
// nodeCache it is used only by the goroutine that calls Apply and Import,
// is updated only after a run commits, and never influences results, only
// speed.
type sessionCache struct {
	m map[int64]*sessionRecord // nil: known not open
}

// sessionCacheMax bounds the sessions cached; past it, random ones go.
const sessionCacheMax = 1 << 16

func newSessionCache() *sessionCache { return &sessionCache{m: make(map[int64]*sessionRecord)} }

// get returns id's record and whether the cache knows it.
func (c *sessionCache) get(id int64) (*sessionRecord, bool) {
	rec, ok := c.m[id]
	return rec, ok
}

// put caches id's record.
func (c *sessionCache) put(id int64, rec *sessionRecord) {
	if _, ok := c.m[id]; !ok && len(c.m) >= sessionCacheMax {
		k := len(c.m)/8 + 1
		for old := range c.m {
			if k == 0 {
				break
			}
			delete(c.m, old)
			k--
		}
	}
	c.m[id] = rec
}

func (c *sessionCache) clear() { clear(c.m) }

// committed folds the records a committed run read or wrote into the
// cache.
func (c *sessionCache) committed(a *applier) {
	for id, e := range a.sessions {
		c.put(id, e.rec)
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
