package discovery

import (
	"math/rand/v2"
	"sync"
)

// Balancer chooses the instance a call goes to. Balancers are pure (they
// talk to no member), safe for concurrent use, and take the list of
// instances on every pick, so that the list may change between picks:
// instances are known by ID, the state of an instance that left is dropped
// and an instance that arrives starts fresh.
type Balancer interface {
	// Pick chooses one of instances (not modified) and returns it with
	// the Done to call when the call to it has finished. It returns
	// ErrNoInstances if instances is empty.
	Pick(instances []Instance) (Instance, Done, error)
}

// Done reports that the call made to a picked instance has finished, with
// its error (nil for success). Call it once per pick; later calls do
// nothing. Balancers that keep no per-call state ignore it.
type Done func(err error)

// noDone is the Done of balancers that keep no per-call state.
func noDone(error) {}

// roundRobin picks the instances in turn by ID.
type roundRobin struct {
	mu   sync.Mutex
	last string // the ID picked last
	any  bool   // whether anything was picked yet
}

// NewRoundRobin returns a Balancer that picks the instances in turn, in ID
// order: over any n consecutive picks from an unchanging list of n
// instances each is picked once. It turns by ID rather than by position,
// so that an instance arriving or leaving does not make the others lose or
// get an extra turn: the next pick is the instance with the least ID
// greater than the one picked last (or the least ID, round again).
func NewRoundRobin() Balancer { return &roundRobin{} }

func (b *roundRobin) Pick(instances []Instance) (Instance, Done, error) {
	if len(instances) == 0 {
		return Instance{}, nil, ErrNoInstances
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	next, least := -1, 0
	for i, inst := range instances {
		if inst.ID < instances[least].ID {
			least = i
		}
		if b.any && inst.ID > b.last && (next < 0 || inst.ID < instances[next].ID) {
			next = i
		}
	}
	if next < 0 {
		next = least
	}
	b.last, b.any = instances[next].ID, true
	return instances[next], noDone, nil
}

// lockedRand is a *rand.Rand shared by the picks of one balancer: a
// rand.Rand is not safe for concurrent use.
type lockedRand struct {
	mu sync.Mutex
	r  *rand.Rand
}

// newLockedRand uses r, or a generator seeded for this balancer alone.
func newLockedRand(r *rand.Rand) *lockedRand {
	if r == nil {
		r = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	return &lockedRand{r: r}
}

// intN returns a number in [0, n).
func (l *lockedRand) intN(n int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.IntN(n)
}

// randomBalancer picks uniformly.
type randomBalancer struct{ r *lockedRand }

// NewRandom returns a Balancer that picks an instance uniformly at random
// with r, which it then owns (nil: a generator seeded for this balancer
// alone). Give a seeded r for picks that repeat.
func NewRandom(r *rand.Rand) Balancer { return &randomBalancer{newLockedRand(r)} }

func (b *randomBalancer) Pick(instances []Instance) (Instance, Done, error) {
	if len(instances) == 0 {
		return Instance{}, nil, ErrNoInstances
	}
	return instances[b.r.intN(len(instances))], noDone, nil
}

// weightedRandom picks at random in proportion to weight.
type weightedRandom struct{ r *lockedRand }

// NewWeightedRandom returns a Balancer that picks an instance at random with
// probability proportional to its Weight (0 counts as 1), with r as
// NewRandom takes it.
func NewWeightedRandom(r *rand.Rand) Balancer { return &weightedRandom{newLockedRand(r)} }

func (b *weightedRandom) Pick(instances []Instance) (Instance, Done, error) {
	if len(instances) == 0 {
		return Instance{}, nil, ErrNoInstances
	}
	total := 0
	for _, inst := range instances {
		total += weightOf(inst)
	}
	n := b.r.intN(total)
	for _, inst := range instances {
		if n -= weightOf(inst); n < 0 {
			return inst, noDone, nil
		}
	}
	panic("discovery: weighted pick ran past the total weight")
}

// smoothWeighted is nginx's smooth weighted round-robin.
type smoothWeighted struct {
	mu sync.Mutex
	// current is each instance's running score, by ID.
	current map[string]int
}

// NewSmoothWeighted returns a Balancer that picks in proportion to Weight
// (0 counts as 1), deterministically and evenly interleaved, as nginx's
// smooth weighted round-robin does: at each pick every instance's score
// grows by its weight, the highest score is picked (the least ID among
// equals) and loses the total weight. Over any cycle of total-weight picks
// from an unchanging list each instance is picked exactly its weight
// times; weights 5, 1, 1 give a a b a c a a.
func NewSmoothWeighted() Balancer { return &smoothWeighted{current: map[string]int{}} }

func (b *smoothWeighted) Pick(instances []Instance) (Instance, Done, error) {
	if len(instances) == 0 {
		return Instance{}, nil, ErrNoInstances
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	best, total := -1, 0
	for i, inst := range instances {
		w := weightOf(inst)
		total += w
		cur := b.current[inst.ID] + w
		b.current[inst.ID] = cur
		if best < 0 || cur > b.current[instances[best].ID] ||
			(cur == b.current[instances[best].ID] && inst.ID < instances[best].ID) {
			best = i
		}
	}
	b.current[instances[best].ID] -= total
	if len(b.current) > len(instances) {
		b.current = prune(b.current, instances)
	}
	return instances[best], noDone, nil
}

// leastOutstanding picks the instance with the fewest calls in flight.
type leastOutstanding struct {
	r  *lockedRand
	mu sync.Mutex
	// inflight counts each instance's calls in flight, by ID. A Done
	// decrements the counter it was given, so that the Done of a call
	// to an instance that left and came back does not touch the new
	// counter.
	inflight map[string]*int
}

// NewLeastOutstanding returns a Balancer that picks the instance with the
// fewest picks whose Done has not been called yet, breaking ties uniformly
// at random with r (as NewRandom takes it). It looks at every instance, not
// at two chosen at random (the "power of two choices"): instance lists are
// short, and a full look never picks a busier instance than it must.
func NewLeastOutstanding(r *rand.Rand) Balancer {
	return &leastOutstanding{r: newLockedRand(r), inflight: map[string]*int{}}
}

func (b *leastOutstanding) Pick(instances []Instance) (Instance, Done, error) {
	if len(instances) == 0 {
		return Instance{}, nil, ErrNoInstances
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	best, ties := -1, 0
	for i, inst := range instances {
		n, ok := b.inflight[inst.ID]
		if !ok {
			n = new(int)
			b.inflight[inst.ID] = n
		}
		switch {
		case best < 0 || *n < *b.inflight[instances[best].ID]:
			best, ties = i, 1
		case *n == *b.inflight[instances[best].ID]:
			// Reservoir sampling: each of the k tied so far is
			// kept with probability 1/k.
			ties++
			if b.r.intN(ties) == 0 {
				best = i
			}
		}
	}
	if len(b.inflight) > len(instances) {
		b.inflight = prune(b.inflight, instances)
	}
	n := b.inflight[instances[best].ID]
	*n++
	var once sync.Once
	return instances[best], func(error) {
		once.Do(func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			*n--
		})
	}, nil
}

// prune returns the entries of state whose ID is among instances.
func prune[V any](state map[string]V, instances []Instance) map[string]V {
	out := make(map[string]V, len(instances))
	for _, inst := range instances {
		if v, ok := state[inst.ID]; ok {
			out[inst.ID] = v
		}
	}
	return out
}

// weightOf returns inst's weight, 0 counting as 1 and a weight Register
// would refuse clamped to [1, MaxWeight].
func weightOf(inst Instance) int {
	return min(max(inst.Weight, 1), MaxWeight)
}
