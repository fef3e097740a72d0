package ring

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
)

const (
	// DefaultVnodes is the number of points per member when New is given
	// 0. A member's share of the keys then deviates from the fair share
	// by about 9% (one standard deviation, 1/sqrt(vnodes)); give more
	// vnodes for a tighter balance (1024: about 3%).
	DefaultVnodes = 128
	// MaxVnodes bounds the points per member, and so the memory and the
	// time a change of membership takes (a ring is rebuilt on each).
	MaxVnodes = 4096
	// MaxMembers bounds the members of a ring, for the same reason.
	MaxMembers = 65536
)

// Ring assigns keys to members by consistent hashing. The zero value is
// not usable: make one with New. It is safe for concurrent use.
type Ring struct {
	vnodes int
	// mu serialises changes of membership; lookups do not take it.
	mu sync.Mutex
	// cur is the current snapshot, replaced whole on every change so
	// that lookups never see a ring half rebuilt.
	cur atomic.Pointer[snapshot]
}

// snapshot is one immutable state of the ring.
type snapshot struct {
	// members are the member names, sorted and distinct.
	members []string
	// points are the virtual nodes sorted by hash (then member, so that
	// two members whose points collide are ordered the same everywhere).
	points []point
}

// point is one virtual node: a position on the circle and the index of
// its member in snapshot.members.
type point struct {
	hash   uint64
	member int32
}

// New returns an empty ring that gives each member vnodes points (0 means
// DefaultVnodes). More points balance the keys better (a member's share
// deviates from fair by about 1/sqrt(vnodes)) and cost memory and
// rebuild time. It panics if vnodes is negative or
// above MaxVnodes, a programming error.
func New(vnodes int) *Ring {
	if vnodes < 0 || vnodes > MaxVnodes {
		panic(fmt.Sprintf("ring: vnodes must be between 0 (the default, %d) and %d, got %d", DefaultVnodes, MaxVnodes, vnodes))
	}
	if vnodes == 0 {
		vnodes = DefaultVnodes
	}
	r := &Ring{vnodes: vnodes}
	r.cur.Store(&snapshot{})
	return r
}

// Set replaces the membership with members (duplicates count once, the
// order does not matter). It panics if a name is empty or there are more
// than MaxMembers, programming errors; the ring is then unchanged.
func (r *Ring) Set(members []string) {
	next := distinct(members)
	r.mu.Lock()
	defer r.mu.Unlock()
	if slices.Equal(next, r.cur.Load().members) {
		return
	}
	r.cur.Store(r.build(next))
}

// Add adds member; adding a member already there changes nothing. It panics
// if the name is empty or the ring holds MaxMembers already.
func (r *Ring) Add(member string) {
	checkName(member)
	r.mu.Lock()
	defer r.mu.Unlock()
	cur := r.cur.Load().members
	i, found := slices.BinarySearch(cur, member)
	if found {
		return
	}
	if len(cur) >= MaxMembers {
		panic(fmt.Sprintf("ring: more than %d members", MaxMembers))
	}
	r.cur.Store(r.build(slices.Insert(slices.Clone(cur), i, member)))
}

// Remove removes member; removing a member not there changes nothing.
func (r *Ring) Remove(member string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cur := r.cur.Load().members
	i, found := slices.BinarySearch(cur, member)
	if !found {
		return
	}
	r.cur.Store(r.build(slices.Delete(slices.Clone(cur), i, i+1)))
}

// Members returns the members, sorted.
func (r *Ring) Members() []string {
	return slices.Clone(r.cur.Load().members)
}

// Locate returns the member that owns key, or false if the ring is empty.
func (r *Ring) Locate(key string) (string, bool) {
	s := r.cur.Load()
	if len(s.points) == 0 {
		return "", false
	}
	return s.members[s.points[s.first(hashString(key))].member], true
}

// LocateN returns the n distinct members that own key (its replicas): the
// owner Locate gives, then the next members met going round the circle,
// in that order. It returns every member if the ring has fewer than n,
// none if it is empty. It panics if n < 1, a programming error.
func (r *Ring) LocateN(key string, n int) []string {
	if n < 1 {
		panic(fmt.Sprintf("ring: LocateN wants n >= 1, got %d", n))
	}
	s := r.cur.Load()
	n = min(n, len(s.members))
	if n == 0 {
		return nil
	}
	out := make([]string, 0, n)
	seen := make([]bool, len(s.members))
	start := s.first(hashString(key))
	for i := 0; i < len(s.points) && len(out) < n; i++ {
		m := s.points[(start+i)%len(s.points)].member
		if !seen[m] {
			seen[m] = true
			out = append(out, s.members[m])
		}
	}
	return out
}

// Follow keeps the ring in step with a stream of membership snapshots (each
// the whole membership, as Set takes it; empty names are ignored), such as
// the instance IDs of a recipes/discovery Service. It returns nil when
// changes is closed, or ctx's error when ctx ends. Run it in a goroutine
// of your own.
func (r *Ring) Follow(ctx context.Context, changes <-chan []string) error {
	for {
		select {
		case members, ok := <-changes:
			if !ok {
				return nil
			}
			r.Set(slices.DeleteFunc(slices.Clone(members), func(m string) bool { return m == "" }))
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Moved returns how many of keys have a different owner in after than in
// before (a key owned in one and not in the other, because a ring is
// empty, counts as moved).
func Moved(before, after *Ring, keys []string) int {
	moved := 0
	for _, k := range keys {
		a, okA := before.Locate(k)
		b, okB := after.Locate(k)
		if a != b || okA != okB {
			moved++
		}
	}
	return moved
}

// build returns the snapshot of members (sorted, distinct).
func (r *Ring) build(members []string) *snapshot {
	s := &snapshot{members: members, points: make([]point, 0, len(members)*r.vnodes)}
	buf := make([]byte, 0, 64)
	for m, name := range members {
		for v := 0; v < r.vnodes; v++ {
			// "name#v": the separator keeps "a1"+"0" and "a"+"10"
			// apart.
			buf = strconv.AppendInt(append(append(buf[:0], name...), '#'), int64(v), 10)
			s.points = append(s.points, point{hashBytes(buf), int32(m)})
		}
	}
	slices.SortFunc(s.points, func(a, b point) int {
		return cmp.Or(cmp.Compare(a.hash, b.hash), cmp.Compare(a.member, b.member))
	})
	return s
}

// first returns the index of the first point at or after h, going round.
func (s *snapshot) first(h uint64) int {
	i, _ := slices.BinarySearchFunc(s.points, h, func(p point, h uint64) int { return cmp.Compare(p.hash, h) })
	if i == len(s.points) {
		return 0
	}
	return i
}

// distinct returns members sorted without duplicates, after checking them.
func distinct(members []string) []string {
	out := slices.Clone(members)
	for _, m := range out {
		checkName(m)
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) > MaxMembers {
		panic(fmt.Sprintf("ring: %d members, more than %d", len(out), MaxMembers))
	}
	return out
}

func checkName(member string) {
	if member == "" {
		panic("ring: empty member name")
	}
}

// hashString hashes a key onto the circle.
func hashString(s string) uint64 { return hash(s) }

// hashBytes hashes a point's name onto the circle.
func hashBytes(b []byte) uint64 { return hash(b) }

// hash is 64-bit FNV-1a, written out (a test checks it against hash/fnv)
// because hash/fnv's Write would make every lookup allocate, then mixed.
func hash[T string | []byte](s T) uint64 {
	const (
		offset64 = 14695981039346656037
		prime64  = 1099511628211
	)
	h := uint64(offset64)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= prime64
	}
	return mix(h)
}

// mix is a 64-bit finalizer (the one of MurmurHash3): after it, each bit
// of x flips each output bit with probability close to 1/2, which FNV-1a
// alone does not give for inputs that differ in their last bytes.
func mix(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb33f1a85ec53
	x ^= x >> 33
	return x
}
