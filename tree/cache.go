package tree

// nodeCache keeps recently applied or read nodes, decoded, for the apply
// loop: most creates and deletes re-read a parent that an earlier run just
// wrote. It is used only by the goroutine that calls Apply and Import, so it
// has no lock. Nodes are immutable once shared (see node), so the cache
// hands out the same pointer it holds.
//
// It never influences results, only speed: every entry equals what the
// store holds, because entries are written only after a run commits and the
// cache is emptied when an Import replaces the state.
type nodeCache struct {
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
	n, ok := c.m[p]
	return n, ok
}

// put records n (nil: no node) as the committed node at p.
func (c *nodeCache) put(p string, n *node) {
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
	clear(c.m)
	c.dataBytes = 0
}
