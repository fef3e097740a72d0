package watch

import (
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/arbor-coord/arbor/internal/zpath"
)

// model is the deliberately naive registry the oracle test compares with:
// a flat list of registrations, every operation a full scan.
type model struct {
	max  int
	regs []modelReg
}

type modelReg struct {
	w    WatcherID
	path string
	k    Kind // a single kind
}

func (m *model) count(w WatcherID) int {
	n := 0
	for _, r := range m.regs {
		if r.w == w {
			n++
		}
	}
	return n
}

func (m *model) add(w WatcherID, path string, k Kind) error {
	if slices.Contains(m.regs, modelReg{w, path, k}) {
		return nil
	}
	if m.count(w) >= m.max {
		return &LimitError{Watcher: w, Path: path, Kind: k, Limit: m.max}
	}
	m.regs = append(m.regs, modelReg{w, path, k})
	return nil
}

func (m *model) remove(w WatcherID, path string, ks Kind) bool {
	n := len(m.regs)
	m.regs = slices.DeleteFunc(m.regs, func(r modelReg) bool { return r.w == w && r.path == path && r.k&ks != 0 })
	return len(m.regs) < n
}

func (m *model) removeAll(w WatcherID) int {
	n := len(m.regs)
	m.regs = slices.DeleteFunc(m.regs, func(r modelReg) bool { return r.w == w })
	return n - len(m.regs)
}

// matches spells out, kind by kind, which events fire a registration.
func (r modelReg) matches(ev Event) bool {
	switch r.k {
	case Data:
		return r.path == ev.Path && ev.Type != NodeChildrenChanged
	case Child:
		return r.path == ev.Path && (ev.Type == NodeChildrenChanged || ev.Type == NodeDeleted)
	case Persistent:
		return r.path == ev.Path
	case PersistentRecursive:
		return zpath.IsWithin(ev.Path, r.path) && ev.Type != NodeChildrenChanged
	}
	panic("bad kind")
}

func (m *model) fire(ev Event, allow func(WatcherID) bool) []Delivery {
	byWatcher := map[WatcherID]Kind{}
	for _, r := range m.regs {
		if r.matches(ev) {
			byWatcher[r.w] |= r.k
		}
	}
	var out []Delivery
	for w, k := range byWatcher {
		if allow == nil || allow(w) {
			out = append(out, Delivery{w, k, ev})
		}
	}
	slices.SortFunc(out, func(a, b Delivery) int { return cmp.Compare(a.Watcher, b.Watcher) })
	for _, d := range out {
		m.remove(d.Watcher, ev.Path, d.Kind&(Data|Child))
	}
	return out
}

func (m *model) watches(w WatcherID) []Registration {
	var out []Registration
	for _, r := range m.regs {
		if r.w == w {
			out = append(out, Registration{r.path, r.k})
		}
	}
	slices.SortFunc(out, func(a, b Registration) int {
		return cmp.Or(strings.Compare(a.Path, b.Path), cmp.Compare(a.Kind, b.Kind))
	})
	return out
}

func (m *model) stats() Stats {
	ws, ps := map[WatcherID]bool{}, map[string]bool{}
	for _, r := range m.regs {
		ws[r.w], ps[r.path] = true, true
	}
	return Stats{Watchers: len(ws), Paths: len(ps), Watches: len(m.regs)}
}

// randomPath returns one of a small set of paths up to depth 4 over two
// names, so that watches and events meet often.
func randomPath(rng *rand.Rand) string {
	p := "/"
	for range rng.IntN(5) {
		p = zpath.Join(p, []string{"a", "b"}[rng.IntN(2)])
	}
	return p
}

// TestModel runs many seeded random operations on a Registry and on the
// naive model and requires the same results after every one. A failure
// names its seed; rerun it alone with -run 'TestModel/seed=N$'.
func TestModel(t *testing.T) {
	seeds, ops := 300, 2000
	if testing.Short() {
		seeds = 30
	}
	kinds := []Kind{Data, Child, Persistent, PersistentRecursive}
	for seed := range uint64(seeds) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 0x77a7c4))
			max := 1 + rng.IntN(12)
			r, m := New(Config{MaxPerWatcher: max}), &model{max: max}
			watcher := func() WatcherID { return WatcherID(1 + rng.IntN(6)) }
			var zxid int64
			for i := range ops {
				var op string
				switch n := rng.IntN(100); {
				case n < 45:
					w, path, k := watcher(), randomPath(rng), kinds[rng.IntN(len(kinds))]
					op = fmt.Sprintf("Add(%d, %s, %s)", w, path, k)
					got, want := r.Add(w, path, k), m.add(w, path, k)
					var gle, wle *LimitError
					if errors.As(got, &gle) != errors.As(want, &wle) || (gle != nil && *gle != *wle) {
						t.Fatalf("seed %d op %d: %s = %v, model %v", seed, i, op, got, want)
					}
				case n < 85:
					zxid++
					ev := Event{EventType(1 + rng.IntN(4)), randomPath(rng), zxid}
					var allow func(WatcherID) bool
					if rng.IntN(3) == 0 {
						denied := rng.Uint64()
						allow = func(w WatcherID) bool { return denied&(1<<w) == 0 }
					}
					op = fmt.Sprintf("Fire(%v, allow=%v)", ev, allow != nil)
					got, want := r.Fire(ev, allow), m.fire(ev, allow)
					if !slices.Equal(got, want) {
						t.Fatalf("seed %d op %d: %s:\n got: %q\nwant: %q", seed, i, op, trace(got), trace(want))
					}
				case n < 95:
					w, path := watcher(), randomPath(rng)
					ks := Kind(rng.IntN(16))
					op = fmt.Sprintf("Remove(%d, %s, %s)", w, path, ks)
					if got, want := r.Remove(w, path, ks), m.remove(w, path, ks); got != want {
						t.Fatalf("seed %d op %d: %s = %v, model %v", seed, i, op, got, want)
					}
				default:
					w := watcher()
					op = fmt.Sprintf("RemoveAll(%d)", w)
					if got, want := r.RemoveAll(w), m.removeAll(w); got != want {
						t.Fatalf("seed %d op %d: %s = %d, model %d", seed, i, op, got, want)
					}
				}
				if err := r.check(); err != nil {
					t.Fatalf("seed %d op %d: after %s: %v", seed, i, op, err)
				}
				if got, want := r.Stats(), m.stats(); got != want {
					t.Fatalf("seed %d op %d: after %s: Stats() = %+v, model %+v", seed, i, op, got, want)
				}
				for w := WatcherID(1); w <= 6; w++ {
					if got, want := r.Watches(w), m.watches(w); !slices.Equal(got, want) || r.Count(w) != len(want) {
						t.Fatalf("seed %d op %d: after %s: Watches(%d) = %v (Count %d), model %v", seed, i, op, w, got, r.Count(w), want)
					}
				}
			}
		})
	}
}
