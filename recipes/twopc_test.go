package recipes_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arbor-coord/arbor/client"
	"github.com/arbor-coord/arbor/recipes"
)

// twopcNames returns the participant names p1..pn.
func twopcNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("p%d", i+1)
	}
	return out
}

// twopcOutcome is what one participant saw of one transaction.
type twopcOutcome struct {
	name, txn string
	d         recipes.Decision
	err       error
}

// twopcServe runs participant name on c: it takes want proposals from Next
// (or fewer, if ctx ends), votes on each with vote (skip: no vote), waits
// for its decision and acknowledges it, each proposal in a goroutine of its
// own. It sends one outcome per proposal it voted on, then returns.
func twopcServe(ctx context.Context, c *client.Client, dir, name string, want int, vote func(pr *recipes.Proposal) (commit, skip bool), out chan<- twopcOutcome) {
	p := recipes.NewParticipant(c, dir, name)
	var wg sync.WaitGroup
	defer wg.Wait()
	for range want {
		pr, err := p.Next(ctx)
		if err != nil {
			out <- twopcOutcome{name: name, err: fmt.Errorf("Next: %w", err)}
			return
		}
		commit, skip := vote(pr)
		if skip {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := twopcOutcome{name: name, txn: pr.Path()}
			reason := ""
			if !commit {
				reason = "no room"
			}
			if o.err = pr.Vote(ctx, commit, reason); o.err == nil {
				if o.d, o.err = pr.Decision(ctx); o.err == nil {
					o.err = pr.Ack(ctx)
				}
			}
			out <- o
		}()
	}
}

// twopcCollect reads n outcomes, failing the test on an error, and returns
// each transaction's decisions by participant.
func twopcCollect(t *testing.T, ctx context.Context, out <-chan twopcOutcome, n int) map[string]map[string]recipes.Decision {
	t.Helper()
	got := map[string]map[string]recipes.Decision{}
	for range n {
		select {
		case o := <-out:
			if o.err != nil {
				t.Fatalf("participant %s, txn %s: %v", o.name, o.txn, o.err)
			}
			if got[o.txn] == nil {
				got[o.txn] = map[string]recipes.Decision{}
			}
			got[o.txn][o.name] = o.d
		case <-ctx.Done():
			t.Fatalf("%d outcomes of %d: %v", len(got), n, ctx.Err())
		}
	}
	return got
}

// twopcRun proposes one transaction to five participants voting with vote,
// and checks that the coordinator and every voter see want.
func twopcRun(t *testing.T, timeout time.Duration, vote func(name string) (commit, skip bool), want recipes.Decision) {
	m := member(t)
	ctx := ctxT(t, 20*time.Second)
	const dir = "/twopc"
	names := twopcNames(5)
	cs := connectN(t, []string{m.Addr()}, len(names)+1)
	out := make(chan twopcOutcome, len(names))
	voters := 0
	for i, name := range names {
		if _, skip := vote(name); !skip {
			voters++
		}
		go twopcServe(ctx, cs[i+1], dir, name, 1, func(*recipes.Proposal) (bool, bool) { return vote(name) }, out)
	}
	tx, err := recipes.NewCoordinator(cs[0], dir).Begin(ctx, names, []byte("move 10 from a to b"), timeout)
	if err != nil {
		t.Fatal(err)
	}
	d, err := tx.Wait(ctx)
	if err != nil || d != want {
		t.Fatalf("Wait = %v, %v; want %v", d, err, want)
	}
	got := twopcCollect(t, ctx, out, voters)
	if len(got[tx.Path()]) != voters {
		t.Fatalf("outcomes %v, want %d for %s", got, voters, tx.Path())
	}
	for name, pd := range got[tx.Path()] {
		if pd != want {
			t.Errorf("participant %s saw %v, want %v", name, pd, want)
		}
	}
	// A participant that never voted still learns the decision, and
	// acknowledges it, so that Cleanup can finish.
	for i, name := range names {
		if _, skip := vote(name); skip {
			pr, err := recipes.NewParticipant(cs[i+1], dir, name).Next(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if d, err := pr.Decision(ctx); err != nil || d != want {
				t.Fatalf("the silent participant's Decision = %v, %v; want %v", d, err, want)
			}
			if err := pr.Ack(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tx.Cleanup(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := cs[0].Exists(ctx, tx.Path()); !errors.Is(err, client.ErrNoNode) {
		t.Fatalf("after Cleanup, Exists(%s) = %v; want NoNode", tx.Path(), err)
	}
}

func TestTwoPCAllCommit(t *testing.T) {
	twopcRun(t, 20*time.Second, func(string) (bool, bool) { return true, false }, recipes.Commit)
}

func TestTwoPCOneAborts(t *testing.T) {
	twopcRun(t, 20*time.Second, func(name string) (bool, bool) { return name != "p3", false }, recipes.Abort)
}

func TestTwoPCTimeout(t *testing.T) {
	twopcRun(t, time.Second, func(name string) (bool, bool) { return true, name == "p5" }, recipes.Abort)
}

// The coordinator's session ends before it decides: the participants
// decide on their own once the deadline has passed, by the votes: Abort
// where one is missing, Commit where every one voted commit in time.
func TestTwoPCCoordinatorExpires(t *testing.T) {
	cl := cluster3(t)
	ms := cl.Members()
	ctx := ctxT(t, 30*time.Second)
	const dir = "/twopc"
	names := twopcNames(5)
	coord := connect(t, []string{ms[0].Addr()}, client.WithSessionTimeout(800*time.Millisecond))
	co := recipes.NewCoordinator(coord, dir)
	// The participants connect first, so that B's deadline has to cover
	// only their Next and Vote, not five session creations.
	cs := connectN(t, []string{ms[1].Addr(), ms[2].Addr()}, len(names))
	txA, err := co.Begin(ctx, names, []byte("A"), 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	txB, err := co.Begin(ctx, names, []byte("B"), 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var voted sync.WaitGroup
	out := make(chan twopcOutcome, 2*len(names))
	for i, name := range names {
		voted.Add(1)
		go func() {
			p := recipes.NewParticipant(cs[i], dir, name)
			var prs []*recipes.Proposal
			for range 2 {
				pr, err := p.Next(ctx)
				if err != nil {
					voted.Done()
					out <- twopcOutcome{name: name, err: err}
					return
				}
				// p5 is away when A is voted on.
				if string(pr.Payload()) == "A" && name == "p5" {
					continue
				}
				if err := pr.Vote(ctx, true, ""); err != nil {
					voted.Done()
					out <- twopcOutcome{name: name, err: err}
					return
				}
				prs = append(prs, pr)
			}
			voted.Done()
			for _, pr := range prs {
				d, err := pr.Decision(ctx)
				out <- twopcOutcome{name: name, txn: pr.Path(), d: d, err: err}
			}
		}()
	}
	voted.Wait()
	expire(t, ms[0], coord)
	got := twopcCollect(t, ctx, out, 2*len(names)-1)
	for txn, want := range map[string]recipes.Decision{txA.Path(): recipes.Abort, txB.Path(): recipes.Commit} {
		for name, d := range got[txn] {
			if d != want {
				t.Errorf("%s: participant %s saw %v, want %v", txn, name, d, want)
			}
		}
		data, stat, err := cs[0].Get(ctx, txn+"/decision")
		if err != nil || string(data) != want.String() || stat.Version != 0 {
			t.Errorf("%s/decision = %q (version %d), %v; want %q", txn, data, stat.Version, err, want)
		}
	}
	if len(got[txA.Path()]) != 4 || len(got[txB.Path()]) != 5 {
		t.Fatalf("outcomes %v; want 4 for A and 5 for B", got)
	}
}

// Many deciders race each other and a last vote that lands about at the
// deadline: they all return the one decision recorded, which is the one
// the vote's time calls for.
func TestTwoPCRacingDeciders(t *testing.T) {
	m := member(t)
	ctx := ctxT(t, 20*time.Second)
	const dir = "/twopc"
	names := twopcNames(5)
	cs := connectN(t, []string{m.Addr()}, 8)
	tx, err := recipes.NewCoordinator(cs[0], dir).Begin(ctx, names, nil, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var last *recipes.Proposal
	for _, name := range names {
		pr, err := recipes.NewParticipant(cs[1], dir, name).Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if name == "p5" {
			last = pr
			continue
		}
		if err := pr.Vote(ctx, true, ""); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	results := make(chan recipes.Decision, 2*len(cs))
	errs := make(chan error, 2*len(cs)+1)
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				d, err := recipes.Decide(ctx, c, tx.Path())
				if errors.Is(err, recipes.ErrUndecided) {
					time.Sleep(10 * time.Millisecond)
					continue
				}
				if err != nil {
					errs <- err
					return
				}
				results <- d
				return
			}
		}()
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		d, err := tx.Wait(ctx)
		if err != nil {
			errs <- err
		}
		results <- d
	}()
	go func() {
		defer wg.Done()
		time.Sleep(time.Until(last.Deadline()))
		if err := last.Vote(ctx, true, ""); err != nil {
			errs <- err
		}
	}()
	wg.Wait()
	close(results)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	data, stat, err := cs[0].Get(ctx, tx.Path()+"/decision")
	if err != nil || stat.Version != 0 {
		t.Fatalf("decision %q, version %d, %v", data, stat.Version, err)
	}
	_, vstat, err := cs[0].Get(ctx, tx.Path()+"/vote-p5")
	if err != nil {
		t.Fatal(err)
	}
	want := recipes.Abort
	if !vstat.Ctime.After(tx.Deadline()) {
		want = recipes.Commit
	}
	if string(data) != want.String() {
		t.Fatalf("recorded %q, want %v (last vote at %v, deadline %v)", data, want, vstat.Ctime, tx.Deadline())
	}
	n := 0
	for d := range results {
		n++
		if d != want {
			t.Errorf("a decider returned %v, want %v", d, want)
		}
	}
	if n != len(cs)+1 {
		t.Fatalf("%d results, want %d", n, len(cs)+1)
	}
	t.Logf("last vote %v after the deadline: %v", vstat.Ctime.Sub(tx.Deadline()), want)
}

// Twenty transactions at once, five participants each, on a three-member
// cluster where a participant's member stops (its client moves) and the
// leader crashes and comes back: every participant sees the coordinator's
// decision for each, and it is Abort exactly for those with an abort vote.
func TestTwoPCConcurrent(t *testing.T) {
	cl := cluster3(t)
	ctx := ctxT(t, 60*time.Second)
	const dir = "/twopc"
	const txns = 20
	names := twopcNames(5)
	pcs := connectN(t, cl.Addrs(), len(names))
	ccs := connectN(t, cl.Addrs(), 4)
	// Transaction i is aborted by participant i%5 when i%3 == 0.
	abortBy := func(payload []byte) string {
		var i int
		if _, err := fmt.Sscanf(string(payload), "txn %d", &i); err != nil || i%3 != 0 {
			return ""
		}
		return names[i%5]
	}
	out := make(chan twopcOutcome, txns*len(names))
	for i, name := range names {
		go twopcServe(ctx, pcs[i], dir, name, txns, func(pr *recipes.Proposal) (bool, bool) {
			return abortBy(pr.Payload()) != name, false
		}, out)
	}
	type result struct {
		path  string
		abort bool
		d     recipes.Decision
		err   error
	}
	results := make(chan result, txns)
	var begun sync.WaitGroup
	for i := range txns {
		begun.Add(1)
		go func() {
			payload := []byte(fmt.Sprintf("txn %d", i))
			tx, err := recipes.NewCoordinator(ccs[i%len(ccs)], dir).Begin(ctx, names, payload, 20*time.Second)
			begun.Done()
			if err != nil {
				results <- result{err: err}
				return
			}
			r := result{path: tx.Path(), abort: abortBy(payload) != ""}
			r.d, r.err = tx.Wait(ctx)
			if r.err == nil {
				r.err = tx.Cleanup(ctx)
			}
			results <- r
		}()
	}
	begun.Wait()
	// A participant's member stops: its client moves to another.
	if id, _ := pcs[0].Member(); id != 0 {
		m := cl.Member(id)
		m.Stop()
		time.Sleep(300 * time.Millisecond)
		m.Restart()
	}
	// The leader crashes and comes back.
	l := cl.WaitLeader()
	l.Stop()
	cl.WaitLeader()
	l.Restart()

	got := twopcCollect(t, ctx, out, txns*len(names))
	for range txns {
		var r result
		select {
		case r = <-results:
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
		if r.err != nil {
			t.Fatalf("coordinator of %s: %v", r.path, r.err)
		}
		want := recipes.Commit
		if r.abort {
			want = recipes.Abort
		}
		if r.d != want {
			t.Errorf("%s: coordinator decided %v, want %v", r.path, r.d, want)
		}
		if len(got[r.path]) != len(names) {
			t.Errorf("%s: %d participants saw a decision, want %d", r.path, len(got[r.path]), len(names))
		}
		for name, d := range got[r.path] {
			if d != r.d {
				t.Errorf("%s: participant %s saw %v, the coordinator %v", r.path, name, d, r.d)
			}
		}
	}
	// Every transaction was cleaned up (by other sessions, perhaps on
	// other members: ccs[0] syncs before it reads).
	if err := ccs[0].Sync(ctx, dir); err != nil {
		t.Fatal(err)
	}
	children, _, err := ccs[0].Children(ctx, dir)
	if err != nil || len(children) != 0 {
		t.Fatalf("children of %s after Cleanup: %v, %v", dir, children, err)
	}
}

// Wrong input gets an error that says what is wrong, and writes nothing.
func TestTwoPCBadInput(t *testing.T) {
	m := member(t)
	ctx := ctxT(t, 20*time.Second)
	c := connect(t, []string{m.Addr()})
	two := []string{"a", "b"}
	for _, tc := range []struct {
		dir          string
		participants []string
		timeout      time.Duration
		want         string
	}{
		{"", two, time.Second, "path \"\": empty path"},
		{"rel", two, time.Second, "must start with /"},
		{"/x/", two, time.Second, "must not end with /"},
		{"/x", nil, time.Second, "no participants"},
		{"/x", []string{"a", ""}, time.Second, "empty participant name"},
		{"/x", []string{"a/b"}, time.Second, "not allowed"},
		{"/x", []string{"a", "a"}, time.Second, "named twice"},
		{"/x", two, 0, "less than 1ms"},
		{"/x", two, 48 * time.Hour, "more than"},
		{"/x", twopcNames(65), time.Second, "more than 64"},
	} {
		_, err := recipes.NewCoordinator(c, tc.dir).Begin(ctx, tc.participants, nil, tc.timeout)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Begin(%q, %q, %v) = %v; want an error with %q", tc.dir, tc.participants, tc.timeout, err, tc.want)
		}
	}
	if _, err := recipes.NewCoordinator(nil, "/x").Begin(ctx, two, nil, time.Second); err == nil {
		t.Error("Begin with a nil client succeeded")
	}
	if _, err := recipes.NewParticipant(c, "/x", "").Next(ctx); err == nil || !strings.Contains(err.Error(), "empty participant name") {
		t.Errorf("Next with an empty name = %v", err)
	}
	if _, err := recipes.Decide(ctx, c, "nope"); err == nil {
		t.Error("Decide of a relative path succeeded")
	}
	if _, err := recipes.Decide(ctx, c, "/missing"); !errors.Is(err, recipes.ErrTxnGone) {
		t.Errorf("Decide of a missing transaction = %v; want ErrTxnGone", err)
	}
	if _, err := c.Exists(ctx, "/x"); !errors.Is(err, client.ErrNoNode) {
		t.Errorf("/x exists after refused calls: %v", err)
	}

	// A proposal refuses a reason on commit, a second vote of the other
	// choice, and an Ack before the decision is read.
	tx, err := recipes.NewCoordinator(c, "/x").Begin(ctx, two, nil, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	pr, err := recipes.NewParticipant(c, "/x", "a").Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := pr.Ack(ctx); err == nil {
		t.Error("Ack before Decision succeeded")
	}
	if err := pr.Vote(ctx, true, "why"); err == nil {
		t.Error("a commit vote with a reason succeeded")
	}
	if err := pr.Vote(ctx, true, ""); err != nil {
		t.Fatal(err)
	}
	if err := pr.Vote(ctx, true, ""); err != nil {
		t.Errorf("the same vote again = %v; want nil", err)
	}
	if err := pr.Vote(ctx, false, ""); !errors.Is(err, recipes.ErrAlreadyVoted) {
		t.Errorf("the other vote = %v; want ErrAlreadyVoted", err)
	}
	if _, err := recipes.Decide(ctx, c, tx.Path()); !errors.Is(err, recipes.ErrUndecided) {
		t.Errorf("Decide with a vote missing before the deadline = %v; want ErrUndecided", err)
	}
	if err := recipes.Purge(ctx, c, tx.Path()); !errors.Is(err, recipes.ErrUndecided) {
		t.Errorf("Purge of an undecided transaction = %v; want ErrUndecided", err)
	}
	// The coordinator's veto, then Purge without acks.
	if d, err := tx.Abort(ctx); err != nil || d != recipes.Abort {
		t.Fatalf("Abort = %v, %v", d, err)
	}
	if d, err := pr.Decision(ctx); err != nil || d != recipes.Abort {
		t.Fatalf("Decision after Abort = %v, %v", d, err)
	}
	// An abort vote after the decision is recorded, and changes nothing.
	prB, err := recipes.NewParticipant(c, "/x", "b").Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := prB.Vote(ctx, false, "too late"); err != nil {
		t.Fatalf("an abort vote after the decision = %v", err)
	}
	if data, _, err := c.Get(ctx, tx.Path()+"/vote-b"); err != nil || string(data) != "abort\ntoo late" {
		t.Fatalf("vote-b = %q, %v", data, err)
	}
	if err := recipes.Purge(ctx, c, tx.Path()); err != nil {
		t.Fatal(err)
	}
	if _, err := pr.Decision(ctx); !errors.Is(err, recipes.ErrTxnGone) {
		t.Errorf("Decision after Purge = %v; want ErrTxnGone", err)
	}
}

// A participant's session ends while it waits for the decision: the wait
// ends with the session's error, and the participant, back on a new
// session, finds the transaction it voted on with Pending and learns the
// decision there.
func TestTwoPCParticipantExpires(t *testing.T) {
	m := member(t)
	ctx := ctxT(t, 30*time.Second)
	const dir = "/twopc"
	coord := connect(t, []string{m.Addr()})
	short := connect(t, []string{m.Addr()}, client.WithSessionTimeout(800*time.Millisecond))
	other := connect(t, []string{m.Addr()})
	tx, err := recipes.NewCoordinator(coord, dir).Begin(ctx, []string{"p1", "p2"}, nil, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	pr1, err := recipes.NewParticipant(short, dir, "p1").Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := pr1.Vote(ctx, true, ""); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() {
		_, err := pr1.Decision(ctx)
		waited <- err
	}()
	expire(t, m, short)
	if err := <-waited; !errors.Is(err, client.ErrSessionExpired) {
		t.Fatalf("Decision across the session's end = %v; want ErrSessionExpired", err)
	}

	pr2, err := recipes.NewParticipant(other, dir, "p2").Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := pr2.Vote(ctx, true, ""); err != nil {
		t.Fatal(err)
	}
	if d, err := tx.Wait(ctx); err != nil || d != recipes.Commit {
		t.Fatalf("Wait = %v, %v; want commit", d, err)
	}
	again := connect(t, []string{m.Addr()})
	pending, err := recipes.NewParticipant(again, dir, "p1").Pending(ctx)
	if err != nil || len(pending) != 1 || pending[0].Path() != tx.Path() {
		t.Fatalf("Pending = %v, %v; want %s", pending, err, tx.Path())
	}
	for _, pr := range []*recipes.Proposal{pending[0], pr2} {
		if d, err := pr.Decision(ctx); err != nil || d != recipes.Commit {
			t.Fatalf("Decision = %v, %v; want commit", d, err)
		}
		if err := pr.Ack(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Cleanup(ctx); err != nil {
		t.Fatal(err)
	}
	if pending, err := recipes.NewParticipant(again, dir, "p1").Pending(ctx); err != nil || len(pending) != 0 {
		t.Fatalf("Pending after Cleanup = %v, %v; want none", pending, err)
	}
}
