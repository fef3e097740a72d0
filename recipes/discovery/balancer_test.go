package discovery_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/arbor-coord/arbor/recipes/discovery"
)

// list returns instances with the given IDs and weights (weights may be
// shorter: the rest weigh 0, which counts as 1).
func list(ids string, weights ...int) []discovery.Instance {
	var out []discovery.Instance
	for i, id := range strings.Fields(ids) {
		inst := discovery.Instance{ID: id, Addr: id + ":1"}
		if i < len(weights) {
			inst.Weight = weights[i]
		}
		out = append(out, inst)
	}
	return out
}

// seq picks n times from insts and returns the IDs, calling each Done.
func seq(t *testing.T, b discovery.Balancer, insts []discovery.Instance, n int) []string {
	t.Helper()
	out := make([]string, n)
	for i := range out {
		inst, done, err := b.Pick(insts)
		if err != nil {
			t.Fatalf("pick %d: %v", i, err)
		}
		done(nil)
		out[i] = inst.ID
	}
	return out
}

// counts returns how often each ID occurs.
func counts(ids []string) map[string]int {
	m := map[string]int{}
	for _, id := range ids {
		m[id]++
	}
	return m
}

func seeded(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }

func TestBalancersRefuseEmptyList(t *testing.T) {
	for name, b := range map[string]discovery.Balancer{
		"round-robin":       discovery.NewRoundRobin(),
		"random":            discovery.NewRandom(nil),
		"weighted random":   discovery.NewWeightedRandom(nil),
		"smooth weighted":   discovery.NewSmoothWeighted(),
		"least outstanding": discovery.NewLeastOutstanding(nil),
	} {
		if _, _, err := b.Pick(nil); !errors.Is(err, discovery.ErrNoInstances) {
			t.Errorf("%s: Pick(nil) = %v, want ErrNoInstances", name, err)
		}
	}
}

func TestRoundRobin(t *testing.T) {
	b := discovery.NewRoundRobin()
	// Given out of order: the turn is by ID.
	insts := list("c a e b d")
	got := seq(t, b, insts, 12)
	if want := "a b c d e a b c d e a b"; strings.Join(got, " ") != want {
		t.Fatalf("sequence %v, want %s", got, want)
	}
	// Evenly: every window of 5 picks holds each instance once.
	b = discovery.NewRoundRobin()
	got = seq(t, b, insts, 500)
	for i := 0; i+5 <= len(got); i++ {
		if c := counts(got[i : i+5]); len(c) != 5 {
			t.Fatalf("picks %d..%d = %v: not each instance once", i, i+5, got[i:i+5])
		}
	}
	// The list changes: after c (picked last), c leaves and f arrives.
	b = discovery.NewRoundRobin()
	seq(t, b, list("a b c d"), 3) // a b c
	if got := seq(t, b, list("a b d f"), 5); strings.Join(got, " ") != "d f a b d" {
		t.Errorf("after a change: %v, want d f a b d", got)
	}
}

func TestSmoothWeighted(t *testing.T) {
	b := discovery.NewSmoothWeighted()
	insts := list("a b c", 5, 1, 1)
	// Derived by hand from the rule (scores after adding the weights,
	// pick the highest, least ID among equals, minus 7):
	//   5,1,1 a | 3,2,2 a | 1,3,3 b | 6,-3,4 a | 4,-2,5 c | 9,-1,-1 a | 7,0,0 a
	// and the scores are back to 0,0,0: the cycle repeats.
	want := strings.Repeat("a a b a c a a ", 3)
	if got := strings.Join(seq(t, b, insts, 21), " ") + " "; got != want {
		t.Fatalf("sequence %q, want %q", got, want)
	}

	// Exact proportions over whole cycles, for other weights.
	for _, weights := range [][]int{{1, 1, 1}, {3, 2, 1, 4}, {10, 0, 7}, {100, 1}} {
		insts := list("p q r s", weights...)[:len(weights)]
		total := 0
		for _, inst := range insts {
			total += max(inst.Weight, 1)
		}
		got := counts(seq(t, discovery.NewSmoothWeighted(), insts, 4*total))
		for _, inst := range insts {
			if got[inst.ID] != 4*max(inst.Weight, 1) {
				t.Errorf("weights %v: %s picked %d times in 4 cycles, want %d", weights, inst.ID, got[inst.ID], 4*max(inst.Weight, 1))
			}
		}
	}

	// The list changes: a departed instance is never picked, and one
	// arriving is picked in its proportion from then on.
	b = discovery.NewSmoothWeighted()
	seq(t, b, list("a b c", 5, 1, 1), 3)
	after := list("a c d", 5, 1, 1)
	got := counts(seq(t, b, after, 70))
	if got["b"] != 0 || got["d"] < 9 || got["d"] > 11 || got["a"] < 49 || got["a"] > 51 {
		t.Errorf("after b left and d came: %v", got)
	}
}

func TestWeightedRandomProportions(t *testing.T) {
	const n = 100_000
	insts := list("a b c d", 1, 2, 3, 4)
	got := counts(seq(t, discovery.NewWeightedRandom(seeded(7)), insts, n))
	for _, inst := range insts {
		p := float64(inst.Weight) / 10
		mean, sd := n*p, math.Sqrt(n*p*(1-p))
		// Five standard deviations: a correct balancer fails this
		// for fewer than one seed in a million.
		if dev := math.Abs(float64(got[inst.ID]) - mean); dev > 5*sd {
			t.Errorf("%s (weight %d): %d picks, want %.0f ± %.0f", inst.ID, inst.Weight, got[inst.ID], mean, 5*sd)
		}
	}
	t.Logf("weights 1,2,3,4 over %d picks: %v", n, got)
}

func TestRandomUniform(t *testing.T) {
	const n = 50_000
	insts := list("a b c d e")
	got := counts(seq(t, discovery.NewRandom(seeded(3)), insts, n))
	mean, sd := n/5.0, math.Sqrt(n*0.2*0.8)
	for _, inst := range insts {
		if dev := math.Abs(float64(got[inst.ID]) - mean); dev > 5*sd {
			t.Errorf("%s: %d picks, want %.0f ± %.0f", inst.ID, got[inst.ID], mean, 5*sd)
		}
	}
	// The same seed gives the same picks.
	a := seq(t, discovery.NewRandom(seeded(9)), insts, 100)
	b := seq(t, discovery.NewRandom(seeded(9)), insts, 100)
	if strings.Join(a, "") != strings.Join(b, "") {
		t.Error("the same seed gave different picks")
	}
}

func TestLeastOutstanding(t *testing.T) {
	// Random picks and completions against a model of the calls in
	// flight: a pick never goes to an instance busier than another, and
	// ties spread over every tied instance.
	seed := uint64(11)
	r := seeded(seed)
	b := discovery.NewLeastOutstanding(seeded(seed + 1))
	insts := list("a b c d")
	inflight := map[string]int{}
	type call struct {
		id   string
		done discovery.Done
	}
	var calls []call
	tieWins := map[string]int{}
	for step := 0; step < 20_000; step++ {
		if len(calls) > 0 && r.IntN(2) == 0 {
			i := r.IntN(len(calls))
			calls[i].done(nil)
			calls[i].done(errors.New("a second Done does nothing"))
			inflight[calls[i].id]--
			calls = append(calls[:i], calls[i+1:]...)
			continue
		}
		least := math.MaxInt
		for _, inst := range insts {
			least = min(least, inflight[inst.ID])
		}
		tied := 0
		for _, inst := range insts {
			if inflight[inst.ID] == least {
				tied++
			}
		}
		inst, done, err := b.Pick(insts)
		if err != nil {
			t.Fatal(err)
		}
		if inflight[inst.ID] != least {
			t.Fatalf("seed %d step %d: picked %s with %d in flight; least is %d (%v)", seed, step, inst.ID, inflight[inst.ID], least, inflight)
		}
		if tied == len(insts) {
			tieWins[inst.ID]++
		}
		inflight[inst.ID]++
		calls = append(calls, call{inst.ID, done})
	}
	for _, inst := range insts {
		if tieWins[inst.ID] == 0 {
			t.Errorf("seed %d: %s never won a four-way tie: %v", seed, inst.ID, tieWins)
		}
	}

	// An instance that leaves is forgotten; when it comes back it starts
	// fresh, and the late Done of a call to its old self changes nothing.
	b = discovery.NewLeastOutstanding(seeded(1))
	_, doneA, _ := b.Pick(list("a"))
	b.Pick(list("a"))                 // a: 2 in flight
	b.Pick(list("b"))                 // a left: forgotten
	inst, _, _ := b.Pick(list("a b")) // both fresh... b has 1, a 0
	if inst.ID != "a" {
		t.Errorf("picked %s, want a (back, fresh, 0 in flight, b has 1)", inst.ID)
	}
	doneA(nil) // for a's old self
	inst, _, _ = b.Pick(list("a b"))
	inst2, _, _ := b.Pick(list("a b"))
	if c := counts([]string{inst.ID, inst2.ID}); c["a"] != 1 || c["b"] != 1 {
		t.Errorf("after the stale Done: picks %s %s, want one each", inst.ID, inst2.ID)
	}
}

func TestBalancersConcurrent(t *testing.T) {
	// Under -race: many goroutines pick from lists that change.
	for name, b := range map[string]discovery.Balancer{
		"round-robin":       discovery.NewRoundRobin(),
		"random":            discovery.NewRandom(nil),
		"weighted random":   discovery.NewWeightedRandom(seeded(5)),
		"smooth weighted":   discovery.NewSmoothWeighted(),
		"least outstanding": discovery.NewLeastOutstanding(nil),
	} {
		var wg sync.WaitGroup
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 500; i++ {
					insts := list(fmt.Sprintf("x%d y%d z", i%3, i%5), g%3+1, 2)
					inst, done, err := b.Pick(insts)
					if err != nil {
						t.Errorf("%s: %v", name, err)
						return
					}
					if inst.ID != insts[0].ID && inst.ID != insts[1].ID && inst.ID != "z" {
						t.Errorf("%s: picked %s, not in the list %v", name, inst.ID, insts)
						return
					}
					done(nil)
				}
			}()
		}
		wg.Wait()
	}
	// Least outstanding after every Done: all idle again, so ties.
	b := discovery.NewLeastOutstanding(seeded(2))
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				_, done, _ := b.Pick(list("a b c"))
				done(nil)
			}
		}()
	}
	wg.Wait()
	// Three picks held open go one to each: none is still counted busy.
	var ids []string
	for i := 0; i < 3; i++ {
		inst, _, _ := b.Pick(list("a b c"))
		ids = append(ids, inst.ID)
	}
	if got := counts(ids); len(got) != 3 {
		t.Errorf("after every call was done, three picks held open gave %v, want one each", got)
	}
}
