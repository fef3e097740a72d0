package tree

import "sync"

// nodeCache keeps recently applied or read nodes, decoded: most creates and
// deletes re-read a parent that an earlier run just wrote, and most reads
// are of nodes written or read by recent runs. Only the goroutine that
// calls Apply and Import writes it; readers only look up, under mu. Nodes
// are immutable once shared (see node), so the cache hands out the same
// pointer it holds.
//
// It never influences results, only speed: every entry equals what the
// store holds, because entries are written only after a run commits (and
// before Applied reports the run) and the cache is emptied when an Import
// replaces the state. A reader never fills it: a node it read could be
// overwritten by a run committing meanwhile.
type nodeCache struct {
	mu        sync.RWMutex // written only by the apply goroutine, with mu held
	m         map[string]*node
	dataBytes int
}

const (
	// cacheMaxNodes bounds the entries; past it, random entries are evicted.
	cacheMaxNodes = 1 << 16
	// cacheMaxDataBytes bounds the data held; larger nodes are not cached.
	cacheMaxDataBytes = 32 << 20
	cacheMaxNodeData  = 4 << 10
)

func newNodeCache() *nodeCache { return &nodeCache{m: make(map[string]*node)} }

func (c *nodeCache) get(p string) (*node, bool) {
	c.mu.RLock()
	n, ok := c.m[p]
	c.mu.RUnlock()
	return n, ok
}

// putLocked records n (nil: no node) as the committed node at p. The
// caller holds mu.
func (c *nodeCache) putLocked(p string, n *node) {
	if old, ok := c.m[p]; ok {
		c.dataBytes -= len(old.data)
		delete(c.m, p)
	}
	if n == nil || len(n.data) > cacheMaxNodeData {
		return
	}
	for len(c.m) >= cacheMaxNodes || c.dataBytes+len(n.data) > cacheMaxDataBytes {
		c.evict(len(c.m)/8 + 1)
	}
	c.m[p] = n
	c.dataBytes += len(n.data)
}

// evict drops about k entries; map iteration order makes the choice random.
func (c *nodeCache) evict(k int) {
	for p, n := range c.m {
		if k == 0 {
			return
		}
		c.dataBytes -= len(n.data)
		delete(c.m, p)
		k--
	}
}

func (c *nodeCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.m)
	c.dataBytes = 0
}
