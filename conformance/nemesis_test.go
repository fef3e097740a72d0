package conformance

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/arbor-coord/arbor/conformance/internal/cluster"
)

// A fault is one thing the nemesis does to a cluster: it breaks something
// and returns how to undo it. Faults hit real processes and real sockets:
// SIGKILL, SIGSTOP, a proxy that drops a link's bytes.
type fault struct {
	name string
	// members is the smallest cluster the fault makes sense for.
	members int
	// inject breaks the cluster; heal, if not nil, undoes it.
	inject func(ctx context.Context, n *nemesis) (heal func() error, err error)
}

// faults is every fault the nemesis knows.
var faults = []fault{
	{name: "kill a member", members: 3, inject: func(ctx context.Context, n *nemesis) (func() error, error) {
		id := n.pick(n.c.Members())
		return func() error { return n.c.Start(id) }, n.c.Kill(id)
	}},
	{name: "kill the leader", members: 3, inject: func(ctx context.Context, n *nemesis) (func() error, error) {
		id, err := n.c.WaitLeader(ctx)
		if err != nil {
			return nil, err
		}
		return func() error { return n.c.Start(id) }, n.c.Kill(id)
	}},
	{name: "pause a member", members: 3, inject: func(ctx context.Context, n *nemesis) (func() error, error) {
		id := n.pick(n.c.Members())
		return func() error { return n.c.Resume(id) }, n.c.Pause(id)
	}},
	{name: "pause the leader", members: 3, inject: func(ctx context.Context, n *nemesis) (func() error, error) {
		id, err := n.c.WaitLeader(ctx)
		if err != nil {
			return nil, err
		}
		return func() error { return n.c.Resume(id) }, n.c.Pause(id)
	}},
	{name: "partition a minority", members: 3, inject: func(ctx context.Context, n *nemesis) (func() error, error) {
		ids := n.shuffled()
		minority := ids[:(len(ids)-1)/2]
		n.c.Partition(minority, ids[len(minority):])
		return n.heal, nil
	}},
	{name: "isolate the leader", members: 3, inject: func(ctx context.Context, n *nemesis) (func() error, error) {
		id, err := n.c.WaitLeader(ctx)
		if err != nil {
			return nil, err
		}
		n.c.Isolate(id)
		return n.heal, nil
	}},
	{name: "bridge", members: 3, inject: func(ctx context.Context, n *nemesis) (func() error, error) {
		// Two halves that cannot see each other, and one member that
		// sees both: a "majority" for each half that overlaps.
		ids := n.shuffled()
		bridge, rest := ids[0], ids[1:]
		half := len(rest) / 2
		a := append([]uint64{bridge}, rest[:half]...)
		b := append([]uint64{bridge}, rest[half:]...)
		n.c.Heal()
		for _, x := range rest[:half] {
			for _, y := range rest[half:] {
				n.c.Cut(x, y)
				n.c.Cut(y, x)
			}
		}
		n.t.Logf("nemesis: bridge %v | %v", a, b)
		return n.heal, nil
	}},
	{name: "one-way link loss", members: 3, inject: func(ctx context.Context, n *nemesis) (func() error, error) {
		id, err := n.c.WaitLeader(ctx)
		if err != nil {
			return nil, err
		}
		// The leader's messages to one follower are lost, not the
		// follower's to the leader.
		to := n.pick(slices.DeleteFunc(n.c.Members(), func(x uint64) bool { return x == id }))
		n.c.Cut(id, to)
		return n.heal, nil
	}},
	{name: "slow links", members: 3, inject: func(ctx context.Context, n *nemesis) (func() error, error) {
		n.c.Slow(time.Duration(20+n.rng.IntN(80)) * time.Millisecond)
		return n.heal, nil
	}},
	{name: "restart the cluster", members: 3, inject: func(ctx context.Context, n *nemesis) (func() error, error) {
		var errs []error
		for _, id := range n.c.Members() {
			errs = append(errs, n.c.Kill(id))
		}
		return func() error {
			var errs []error
			for _, id := range n.shuffled() {
				errs = append(errs, n.c.Start(id))
			}
			return errors.Join(errs...)
		}, errors.Join(errs...)
	}},
}

// nemesis injects faults into a cluster, one at a time, from a seeded
// schedule.
type nemesis struct {
	t      *testing.T
	c      *cluster.Cluster
	rng    *rand.Rand
	faults []fault
	// hold and gap bound how long a fault lasts and the calm between two.
	hold, gap [2]time.Duration

	mu       sync.Mutex
	injected []string // the faults injected, in order
}

// newNemesis returns a nemesis over c with the given faults (all of them
// if none), seeded from s.
func newNemesis(t *testing.T, c *cluster.Cluster, s int64, fs ...fault) *nemesis {
	if len(fs) == 0 {
		fs = faults
	}
	var usable []fault
	for _, f := range fs {
		if len(c.Members()) >= f.members {
			usable = append(usable, f)
		}
	}
	return &nemesis{
		t: t, c: c,
		rng:    rand.New(rand.NewPCG(uint64(s), 0x6e656d65736973)),
		faults: usable,
		hold:   [2]time.Duration{500 * time.Millisecond, 2500 * time.Millisecond},
		gap:    [2]time.Duration{300 * time.Millisecond, 1500 * time.Millisecond},
	}
}

func (n *nemesis) pick(ids []uint64) uint64 { return ids[n.rng.IntN(len(ids))] }

func (n *nemesis) shuffled() []uint64 {
	ids := n.c.Members()
	n.rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	return ids
}

func (n *nemesis) heal() error { n.c.Heal(); return nil }

func (n *nemesis) between(r [2]time.Duration) time.Duration {
	return r[0] + time.Duration(n.rng.Int64N(int64(r[1]-r[0])+1))
}

// run injects up to cycles faults, each held for a while and then healed,
// until ctx ends. It heals everything before it returns, and reports the
// faults it injected.
func (n *nemesis) run(ctx context.Context, cycles int) []string {
	defer n.healAll()
	for i := 0; i < cycles; i++ {
		if sleepCtx(ctx, n.between(n.gap)) != nil {
			break
		}
		f := n.faults[n.rng.IntN(len(n.faults))]
		injectCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
		heal, err := f.inject(injectCtx, n)
		cancel()
		n.mu.Lock()
		n.injected = append(n.injected, f.name)
		n.mu.Unlock()
		if err != nil {
			n.t.Logf("nemesis: %s: %v", f.name, err)
		} else {
			n.t.Logf("nemesis: %s", f.name)
		}
		// Hold the fault even if ctx ended, briefly, so that the last
		// fault is as real as the others; then heal it.
		_ = sleepCtx(ctx, n.between(n.hold))
		if heal != nil {
			if err := heal(); err != nil {
				n.t.Errorf("nemesis: healing %s: %v", f.name, err)
			}
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.injected)
}

// healAll undoes every fault: links restored, paused members resumed,
// stopped members started.
func (n *nemesis) healAll() {
	n.c.Heal()
	for _, id := range n.c.Members() {
		if err := n.c.Resume(id); err != nil {
			n.t.Errorf("nemesis: resuming member %d: %v", id, err)
		}
		if err := n.c.Start(id); err != nil {
			n.t.Errorf("nemesis: starting member %d: %v", id, err)
		}
	}
}

// cutClients closes every client connection every interval until ctx
// ends, and returns how many times it cut: the clients resume their
// sessions and retry their writes, which must apply exactly once.
func cutClients(ctx context.Context, c *cluster.Cluster, rng *rand.Rand, interval time.Duration) int {
	n := 0
	for sleepCtx(ctx, interval/2+time.Duration(rng.Int64N(int64(interval)))) == nil {
		if c.CutClients() > 0 {
			n++
		}
	}
	return n
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// profile is how hard a fault test runs: the short profile in go test
// ./..., the long one with -long.
type profile struct {
	name     string
	cycles   int           // faults injected
	duration time.Duration // bound on the workload's run
}

func faultProfile() profile {
	if *flagLong {
		return profile{name: "long", cycles: 60, duration: 3 * time.Minute}
	}
	if testing.Short() {
		return profile{name: "short (-short)", cycles: 3, duration: 8 * time.Second}
	}
	return profile{name: "short", cycles: 6, duration: 15 * time.Second}
}

func (p profile) String() string {
	return fmt.Sprintf("%s profile: up to %d faults in %v", p.name, p.cycles, p.duration)
}
