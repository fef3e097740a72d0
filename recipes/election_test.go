package recipes_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/arbor-coord/arbor/client"
	"github.com/arbor-coord/arbor/recipes"
)

// electionCandidates counts the candidate nodes under dir.
func electionCandidates(t *testing.T, c *client.Client, dir string) int {
	t.Helper()
	children, _, err := c.Children(ctxT(t, 20*time.Second), dir)
	if errors.Is(err, client.ErrNoNode) {
		return 0
	}
	if err != nil {
		t.Fatalf("children %s: %v", dir, err)
	}
	return len(children)
}

// electionHolders checks the invariant of an election whose sessions end
// only through Resign: at most one candidate believes it leads at a time.
type electionHolders struct {
	t      *testing.T
	n      atomic.Int32
	mu     sync.Mutex
	tokens []int64 // of each leadership, in the order they were won
}

// won records a Campaign that returned nil; e's token must exceed every
// earlier leader's.
func (h *electionHolders) won(e *recipes.Election) {
	if n := h.n.Add(1); n > 1 {
		h.t.Errorf("%d candidates believe they lead", n)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	tok := e.Token()
	if len(h.tokens) > 0 && tok <= h.tokens[len(h.tokens)-1] {
		h.t.Errorf("token %d of a new leader is not above the last one's, %d", tok, h.tokens[len(h.tokens)-1])
	}
	h.tokens = append(h.tokens, tok)
}

// resigning records that a leader is about to Resign.
func (h *electionHolders) resigning() { h.n.Add(-1) }

func TestElectionInvalidInput(t *testing.T) {
	m := member(t)
	c := connect(t, []string{m.Addr()})
	ctx := ctxT(t, 20*time.Second)
	for _, dir := range []string{"", "app", "/app/", "/app//x", "/app/./x", "/app/../x"} {
		e := recipes.NewElection(c, dir)
		for name, err := range map[string]error{
			"Campaign": e.Campaign(ctx, []byte("v")),
			"Resign":   e.Resign(ctx),
			"Proclaim": e.Proclaim(ctx, []byte("v")),
		} {
			if !errors.Is(err, client.ErrBadArguments) {
				t.Errorf("%s with dir %q: %v, want an error matching ErrBadArguments", name, dir, err)
			}
		}
		if _, err := e.Leader(ctx); !errors.Is(err, client.ErrBadArguments) {
			t.Errorf("Leader with dir %q: %v, want an error matching ErrBadArguments", dir, err)
		} else {
			t.Logf("Leader with dir %q: %v", dir, err)
		}
		if _, ok := <-e.Observe(ctx); ok {
			t.Errorf("Observe with dir %q reported a leader", dir)
		}
	}
	e := recipes.NewElection(nil, "/app")
	if err := e.Campaign(ctx, nil); err == nil {
		t.Error("Campaign with a nil client succeeded")
	}
	if _, ok := <-e.Observe(ctx); ok {
		t.Error("Observe with a nil client reported a leader")
	}
	// Nothing was created by the wrong calls.
	if children, _, err := c.Children(ctx, "/"); err != nil || slices.Contains(children, "app") {
		t.Errorf("root's children after wrong calls: %v, %v", children, err)
	}

	// Wrong uses of a valid Election.
	e = recipes.NewElection(c, "/app/election")
	if _, err := e.Leader(ctx); !errors.Is(err, recipes.ErrNoLeader) {
		t.Errorf("Leader of an empty election: %v, want ErrNoLeader", err)
	}
	if err := e.Proclaim(ctx, []byte("x")); !errors.Is(err, recipes.ErrNotLeader) {
		t.Errorf("Proclaim before Campaign: %v, want ErrNotLeader", err)
	}
	if err := e.Resign(ctx); err != nil {
		t.Errorf("Resign before Campaign: %v", err)
	}
	if err := e.Campaign(ctx, []byte("a")); err != nil {
		t.Fatal(err)
	}
	if err := e.Campaign(ctx, []byte("a")); err == nil {
		t.Error("Campaign while leading succeeded")
	}
	if n := electionCandidates(t, c, "/app/election"); n != 1 {
		t.Errorf("%d candidate nodes after a second Campaign, want 1", n)
	}
	if err := e.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Leader(ctx); !errors.Is(err, recipes.ErrNoLeader) {
		t.Errorf("Leader after the only candidate resigned: %v, want ErrNoLeader", err)
	}
}

// Many candidates campaign, lead briefly and resign, over and over: never
// more than one believes it leads, and each new leader's token is higher.
func TestElectionOneLeaderAtATime(t *testing.T) {
	m := member(t)
	const candidates, rounds = 10, 3
	dir := "/one-at-a-time"
	h := &electionHolders{t: t}
	ctx := ctxT(t, 60*time.Second)
	var wg sync.WaitGroup
	for i := range candidates {
		c := connect(t, []string{m.Addr()})
		e := recipes.NewElection(c, dir)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				if err := e.Campaign(ctx, fmt.Appendf(nil, "c%d-r%d", i, r)); err != nil {
					t.Errorf("candidate %d: campaign: %v", i, err)
					return
				}
				h.won(e)
				// The leader sees itself as the leader, with its value.
				l, err := e.Leader(ctx)
				if err != nil || string(l.Value) != fmt.Sprintf("c%d-r%d", i, r) || l.Token != e.Token() || l.Session != c.SessionID() {
					t.Errorf("candidate %d leads, but Leader says %+v, %v", i, l, err)
				}
				select {
				case <-e.Lost():
					t.Errorf("candidate %d: leadership lost with no session ending", i)
				default:
				}
				h.resigning()
				if err := e.Resign(ctx); err != nil {
					t.Errorf("candidate %d: resign: %v", i, err)
					return
				}
				if e.IsLeader() {
					t.Errorf("candidate %d: leader after Resign", i)
				}
			}
		}()
	}
	wg.Wait()
	if len(h.tokens) != candidates*rounds {
		t.Errorf("%d leaderships, want %d", len(h.tokens), candidates*rounds)
	}
}

// Candidates that entered one after another lead in that order as each
// leader resigns; one whose Campaign is cancelled, or resigned while it
// waits, leaves the line.
func TestElectionOrderAndWithdrawal(t *testing.T) {
	m := member(t)
	const candidates = 8
	dir := "/order"
	obs := connect(t, []string{m.Addr()})
	ctx := ctxT(t, 30*time.Second)

	type candidate struct {
		e   *recipes.Election
		won chan error
	}
	var cands []candidate
	campaign := func(cctx context.Context, i int) candidate {
		c := connect(t, []string{m.Addr()})
		cd := candidate{recipes.NewElection(c, dir), make(chan error, 1)}
		n := electionCandidates(t, obs, dir)
		go func() { cd.won <- cd.e.Campaign(cctx, fmt.Appendf(nil, "c%d", i)) }()
		// Wait until its node is in line, so that the order is known.
		eventually(t, fmt.Sprintf("candidate %d in line", i), func() bool { return electionCandidates(t, obs, dir) == n+1 })
		return cd
	}
	for i := range candidates {
		cands = append(cands, campaign(ctx, i))
		if i == 0 {
			if err := <-cands[0].won; err != nil {
				t.Fatal(err)
			}
		}
	}

	// A candidate whose ctx ends withdraws.
	cctx, cancel := context.WithCancel(ctx)
	quitter := campaign(cctx, 100)
	cancel()
	if err := <-quitter.won; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Campaign: %v, want context.Canceled", err)
	}
	if n := electionCandidates(t, obs, dir); n != candidates {
		t.Errorf("%d candidates after a cancelled Campaign, want %d", n, candidates)
	}
	// A candidate resigned while it waits withdraws.
	resigner := campaign(ctx, 101)
	if err := resigner.e.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-resigner.won; !errors.Is(err, recipes.ErrCandidacyEnded) {
		t.Errorf("Campaign resigned while waiting: %v, want ErrCandidacyEnded", err)
	}
	if n := electionCandidates(t, obs, dir); n != candidates {
		t.Errorf("%d candidates after a Resign while waiting, want %d", n, candidates)
	}

	ob := recipes.NewElection(obs, dir)
	for i := range candidates {
		if i > 0 {
			select {
			case err := <-cands[i].won:
				if err != nil {
					t.Fatalf("candidate %d: %v", i, err)
				}
			case <-ctx.Done():
				t.Fatalf("candidate %d did not lead after candidate %d resigned", i, i-1)
			}
		}
		for j := i + 1; j < candidates; j++ {
			if cands[j].e.IsLeader() {
				t.Errorf("candidate %d leads while candidate %d does", j, i)
			}
		}
		l, err := ob.Leader(ctx)
		if err != nil || string(l.Value) != fmt.Sprintf("c%d", i) {
			t.Errorf("Leader while candidate %d leads: %+v, %v", i, l, err)
		}
		if err := cands[i].e.Resign(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ob.Leader(ctx); !errors.Is(err, recipes.ErrNoLeader) {
		t.Errorf("Leader after every candidate resigned: %v, want ErrNoLeader", err)
	}
}

// Observe reports each leader in order, with tokens increasing, and the
// value a leader proclaims; a slow consumer gets the latest state.
func TestElectionObserve(t *testing.T) {
	m := member(t)
	const candidates = 8
	dir := "/observe"
	obs := connect(t, []string{m.Addr()})
	ctx := ctxT(t, 30*time.Second)
	reports := recipes.NewElection(obs, dir).Observe(ctx)

	var elections []*recipes.Election
	for range candidates {
		elections = append(elections, recipes.NewElection(connect(t, []string{m.Addr()}), dir))
	}
	var wg sync.WaitGroup
	for i, e := range elections {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := e.Campaign(ctx, fmt.Appendf(nil, "c%d", i)); err != nil {
				t.Errorf("candidate %d: %v", i, err)
				return
			}
			if err := e.Proclaim(ctx, fmt.Appendf(nil, "c%d-proclaimed", i)); err != nil {
				t.Errorf("candidate %d: proclaim: %v", i, err)
			}
			if err := e.Resign(ctx); err != nil {
				t.Errorf("candidate %d: resign: %v", i, err)
			}
		}()
	}
	// A last candidate stays, proclaims, and is the final state.
	last := recipes.NewElection(connect(t, []string{m.Addr()}), dir)
	wg.Wait()
	if err := last.Campaign(ctx, []byte("last")); err != nil {
		t.Fatal(err)
	}
	if err := last.Proclaim(ctx, []byte("final")); err != nil {
		t.Fatal(err)
	}

	var prev recipes.Leader
	for l := range reports {
		if l.Key == prev.Key && string(l.Value) == string(prev.Value) {
			t.Errorf("reported %s %q twice in a row", l.Key, l.Value)
		}
		if l.Token < prev.Token || l.Token == prev.Token && l.Key != prev.Key {
			t.Errorf("reported token %d (%s) after %d (%s)", l.Token, l.Key, prev.Token, prev.Key)
		}
		prev = l
		if string(l.Value) == "final" {
			break
		}
	}
	if string(prev.Value) != "final" || prev.Token != last.Token() {
		t.Fatalf("last report %+v, want the last leader's proclaimed value", prev)
	}

	// A consumer that does not read while the value changes gets the
	// latest one, without a duplicate.
	for i := range 5 {
		if err := last.Proclaim(ctx, fmt.Appendf(nil, "p%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	for l := range reports {
		if l.Key == prev.Key && string(l.Value) == string(prev.Value) {
			t.Errorf("reported %s %q twice in a row", l.Key, l.Value)
		}
		prev = l
		if string(l.Value) == "p4" {
			break
		}
	}
	if string(prev.Value) != "p4" {
		t.Fatalf("last report %+v, want p4", prev)
	}
}

// A leader whose session expires loses its leadership (Lost closes); a
// waiting candidate whose session expires gets the session's error; the
// next candidate leads with a higher token.
func TestElectionSessionExpiry(t *testing.T) {
	cl := cluster3(t)
	ctx := ctxT(t, 40*time.Second)
	dir := "/expiry"
	home := cl.Members()[0]
	others := []string{cl.Members()[1].Addr(), cl.Members()[2].Addr()}
	short := client.WithSessionTimeout(800 * time.Millisecond)

	leaderC := connect(t, []string{home.Addr()}, short)
	leader := recipes.NewElection(leaderC, dir)
	if err := leader.Campaign(ctx, []byte("doomed")); err != nil {
		t.Fatal(err)
	}
	oldToken := leader.Token()
	obs := connect(t, others)
	reports := recipes.NewElection(obs, dir).Observe(ctx)

	// A waiting candidate on the same member, doomed too.
	waiterC := connect(t, []string{home.Addr()}, short)
	waiter := recipes.NewElection(waiterC, dir)
	waiting := make(chan error, 1)
	go func() { waiting <- waiter.Campaign(ctx, []byte("doomed too")) }()
	eventually(t, "the doomed waiter in line", func() bool { return electionCandidates(t, obs, dir) == 2 })

	// Survivors on the other members.
	const survivors = 6
	won := make(chan *recipes.Election, survivors)
	for i := range survivors {
		e := recipes.NewElection(connect(t, others), dir)
		go func() {
			if err := e.Campaign(ctx, fmt.Appendf(nil, "s%d", i)); err != nil {
				t.Errorf("survivor %d: %v", i, err)
				return
			}
			won <- e
		}()
	}
	eventually(t, "every survivor in line", func() bool { return electionCandidates(t, obs, dir) == 2+survivors })

	expire(t, home, leaderC)
	select {
	case <-leader.Lost():
	case <-ctx.Done():
		t.Fatal("the expired leader's Lost was not closed")
	}
	if leader.IsLeader() {
		t.Error("the expired leader still believes it leads")
	}
	if err := leader.Proclaim(ctx, []byte("zombie")); !errors.Is(err, recipes.ErrNotLeader) {
		t.Errorf("Proclaim after the session expired: %v, want ErrNotLeader", err)
	}
	select {
	case err := <-waiting:
		if !errors.Is(err, client.ErrSessionExpired) {
			t.Errorf("waiting Campaign whose session expired: %v, want ErrSessionExpired", err)
		}
	case <-ctx.Done():
		t.Fatal("the expired waiter's Campaign did not return")
	}

	// The survivors lead one after another, tokens above the old leader's,
	// and the observer sees tokens only increase. Each leader resigns once
	// the observer has seen it: Observe reports the leader of the moment,
	// so one that resigned before the observer looked again is rightly
	// never reported, and waiting for it would wait forever.
	prevToken := oldToken
	var last recipes.Leader
	for i := range survivors {
		var e *recipes.Election
		select {
		case e = <-won:
		case <-ctx.Done():
			t.Fatalf("survivor %d of %d never led", i, survivors)
		}
		if e.Token() <= prevToken {
			t.Errorf("new leader's token %d not above the last one's %d", e.Token(), prevToken)
		}
		prevToken = e.Token()
		for last.Token != prevToken {
			select {
			case l, ok := <-reports:
				if !ok {
					t.Fatal("Observe ended")
				}
				if l.Token < last.Token {
					t.Errorf("observed token %d after %d", l.Token, last.Token)
				}
				last = l
			case <-ctx.Done():
				t.Fatalf("observer did not see leader %d of %d (token %d); last seen %+v", i, survivors, prevToken, last)
			}
		}
		if err := e.Resign(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// Members crash under an election: the one the leader's client is on,
// then the cluster's leader. The leader's session moves and it keeps
// leading; at no time do two candidates believe they lead, and the
// election goes on.
func TestElectionMemberCrash(t *testing.T) {
	cl := cluster3(t)
	ctx := ctxT(t, 60*time.Second)
	dir := "/crash"
	const candidates = 8
	h := &electionHolders{t: t}
	var elections []*recipes.Election
	var clients []*client.Client
	for range candidates {
		c := connect(t, cl.Addrs())
		clients = append(clients, c)
		elections = append(elections, recipes.NewElection(c, dir))
	}
	// resign makes leaders resign, and others lead, until stop closes.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var leaderships atomic.Int32
	for i, e := range elections {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < 50; r++ {
				if err := e.Campaign(ctx, fmt.Appendf(nil, "c%d", i)); err != nil {
					t.Errorf("candidate %d: %v", i, err)
					return
				}
				h.won(e)
				leaderships.Add(1)
				// Hold the leadership until told to go on, so that
				// the crashes happen while someone leads.
				select {
				case <-stop:
				case <-time.After(20 * time.Millisecond):
				case <-e.Lost():
					t.Errorf("candidate %d lost its leadership with no session ending", i)
				}
				h.resigning()
				if err := e.Resign(ctx); err != nil {
					t.Errorf("candidate %d: resign: %v", i, err)
					return
				}
				select {
				case <-stop:
					return
				default:
				}
			}
		}()
	}
	eventually(t, "a few leaderships", func() bool { return leaderships.Load() >= 3 })

	// Crash the member the current leader's client is on.
	var leaderClient *client.Client
	eventually(t, "a leader", func() bool {
		for i, e := range elections {
			if e.IsLeader() {
				leaderClient = clients[i]
				return true
			}
		}
		return false
	})
	id, _ := leaderClient.Member()
	if id == 0 {
		id = 1
	}
	before := leaderships.Load()
	cl.Member(id).Stop()
	eventually(t, "leaderships after a member crash", func() bool { return leaderships.Load() >= before+3 })
	cl.Member(id).Restart()

	// Crash the cluster's leader.
	ldr := cl.WaitLeader()
	before = leaderships.Load()
	ldr.Stop()
	eventually(t, "leaderships after the cluster leader's crash", func() bool { return leaderships.Load() >= before+3 })
	ldr.Restart()
	close(stop)
	wg.Wait()
	for i, c := range clients {
		if err := c.Err(); err != nil {
			t.Errorf("client %d's session ended: %v", i, err)
		}
	}
}

// Someone else deletes a waiting candidate's node: its Campaign returns
// ErrCandidacyEnded when its turn comes. Someone else deletes the leader's
// node: its Lost closes and the next candidate leads. An observer whose session ends sees
// its channel closed.
func TestElectionNodeDeleted(t *testing.T) {
	m := member(t)
	dir := "/deleted"
	ctx := ctxT(t, 30*time.Second)
	admin := connect(t, []string{m.Addr()})
	leader := recipes.NewElection(connect(t, []string{m.Addr()}), dir)
	if err := leader.Campaign(ctx, []byte("first")); err != nil {
		t.Fatal(err)
	}
	first, err := leader.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	victim := recipes.NewElection(connect(t, []string{m.Addr()}), dir)
	victimDone := make(chan error, 1)
	go func() { victimDone <- victim.Campaign(ctx, []byte("victim")) }()
	eventually(t, "the victim in line", func() bool { return electionCandidates(t, admin, dir) == 2 })
	next := recipes.NewElection(connect(t, []string{m.Addr()}), dir)
	nextDone := make(chan error, 1)
	go func() { nextDone <- next.Campaign(ctx, []byte("next")) }()
	eventually(t, "the next candidate in line", func() bool { return electionCandidates(t, admin, dir) == 3 })

	observerC := connect(t, []string{m.Addr()})
	reports := recipes.NewElection(observerC, dir).Observe(ctx)
	if l := <-reports; l.Key != first.Key {
		t.Errorf("first report %+v, want %s", l, first.Key)
	}

	// The victim's node: the second child in line.
	children, _, err := admin.Children(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range children {
		if p := dir + "/" + name; p != first.Key {
			if data, _, err := admin.Get(ctx, p); err == nil && string(data) == "victim" {
				if err := admin.Delete(ctx, p, -1); err != nil {
					t.Fatal(err)
				}
			}
		}
	}

	// A waiting candidate watches only the one before it, so it learns
	// that its node is gone when its turn comes.
	if err := admin.Delete(ctx, first.Key, -1); err != nil {
		t.Fatal(err)
	}
	if err := <-victimDone; !errors.Is(err, recipes.ErrCandidacyEnded) {
		t.Errorf("Campaign whose node was deleted: %v, want ErrCandidacyEnded", err)
	}
	select {
	case <-leader.Lost():
	case <-ctx.Done():
		t.Fatal("Lost not closed after the leader's node was deleted")
	}
	if leader.IsLeader() {
		t.Error("IsLeader after the node was deleted")
	}
	if err := <-nextDone; err != nil {
		t.Fatal(err)
	}
	if l := <-reports; string(l.Value) != "next" || l.Token <= first.Token {
		t.Errorf("report after the deletion %+v, want the next candidate", l)
	}
	// The old leader may campaign again, with a new Lost.
	again := make(chan error, 1)
	go func() { again <- leader.Campaign(ctx, []byte("again")) }()
	if err := next.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-again; err != nil {
		t.Fatal(err)
	}
	select {
	case <-leader.Lost():
		t.Error("the new leadership's Lost is closed")
	default:
	}

	if err := observerC.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for range reports {
	}
}
