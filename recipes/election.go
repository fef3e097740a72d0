package recipes

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/arbor-coord/arbor/client"
	"github.com/arbor-coord/arbor/recipes/internal/znode"
)

// Leader election: each candidate is an ephemeral sequential node
// <prefix>n_<seq> under the election's directory; the first by sequence
// leads. A candidate waits for the deletion of the one just before it only,
// so that a leader's going wakes one candidate, not all (no herd).

// The outcomes of an election a caller is expected to handle, for
// errors.Is.
var (
	// ErrNotLeader is returned by Proclaim when this Election does not
	// lead.
	ErrNotLeader = errors.New("recipes: not the leader")
	// ErrNoLeader is returned by Leader when the election has no
	// candidate.
	ErrNoLeader = errors.New("recipes: election has no leader")
	// ErrCandidacyEnded is returned by Campaign when the candidacy ended
	// before it led: Resign was called, or its node was deleted by someone
	// else.
	ErrCandidacyEnded = errors.New("recipes: candidacy ended")
)

const (
	// electionTag marks a candidate node, after the contender prefix. 'n'
	// is no hex digit, so the tag never matches inside a prefix.
	electionTag = "n_"
	// electionRetryPause spaces the retries of a watch loop after an
	// error that is neither the session's end nor its context's: a bound
	// on the load a failing member sees from one loop.
	electionRetryPause = 100 * time.Millisecond
	// electionMaxListings bounds the listings Leader reads when every
	// candidate listed is gone before it is read: past it, the election
	// changes too fast to name a leader, and there was none at the last
	// read.
	electionMaxListings = 8
)

// errResigned is the cause with which Resign cancels a Campaign in
// progress.
var errResigned = fmt.Errorf("%w: Resign called", ErrCandidacyEnded)

// Leader is a leader of an election, as Leader and Observe report it.
type Leader struct {
	// Key is the path of the leader's candidate node.
	Key string
	// Value is the value the leader advertises: Campaign's, or the last
	// Proclaim's.
	Value []byte
	// Token is the Czxid of the leader's node. It increases with each new
	// leader, so a resource that remembers the highest token it has seen
	// can refuse a deposed leader that still believes it leads (fencing).
	Token int64
	// Session is the id of the leader's session (its node's
	// EphemeralOwner).
	Session int64
}

// Election is one candidate in the leader election held under a directory
// node. Its candidacy is an ephemeral node of its client's session: when
// the session ends, so do candidacy and leadership, and Lost says so. A
// leader cut off from the members may still believe it leads for up to a
// session timeout after the cluster chose another: fence what it does with
// its Token. An Election is safe for concurrent use; it campaigns once at a
// time.
type Election struct {
	c      *client.Client
	dir    string
	prefix string

	mu sync.Mutex
	// campaign is the Campaign in progress, nil if none.
	campaign *campaign
	// attempted is set once a Campaign has started: only then can a node
	// of ours be left from an attempt with an unknown outcome.
	attempted bool
	// name is the candidate node that led, "" when not leading.
	name  string
	token int64
	// term counts the leaderships won; a watcher of one acts only while
	// term is still its own.
	term uint64
	// stopWatch ends the watch on the current leadership's node.
	stopWatch context.CancelFunc
	// lost is closed when the leadership held, or sought by the Campaign
	// in progress, is lost; lostSpent says it belongs to a leadership
	// that ended, so the next Campaign needs a new channel.
	lost      chan struct{}
	lostSpent bool
}

// campaign is a Campaign in progress, which Resign cancels.
type campaign struct {
	cancel context.CancelCauseFunc
	done   chan struct{}
}

// NewElection returns a candidate of the election held under dir, on c's
// session. It does not campaign: Campaign does. The directory is created
// (as a container node) when the first candidate enters. An invalid dir or
// a nil c makes every call fail with an error that says so.
func NewElection(c *client.Client, dir string) *Election {
	return &Election{c: c, dir: dir, prefix: newPrefix(), lost: make(chan struct{})}
}

// check returns an error if the Election was made with wrong arguments.
func (e *Election) check() error {
	return checkArgs("election", e.c, e.dir)
}

// Campaign enters the election with value (which may be empty) as the
// advertised value, and waits until this candidate leads. It returns nil once it leads; Lost then
// says when that ends. While it waits it watches only the candidate just
// before it.
//
// If ctx ends first, the candidacy is withdrawn (on a fresh context bounded
// by the session timeout) and Campaign returns ctx's error. If Resign is
// called meanwhile it returns an error matching ErrCandidacyEnded, and so
// it does if someone else deleted the candidate node (which it learns when
// its turn comes, for it watches only the candidate before it). If the
// session ends, it returns the session's error. Campaign while already
// campaigning or leading is an error: Resign first.
//
// A node of this Election left by an earlier Campaign whose outcome was
// unknown is adopted (its value replaced) rather than a second one created.
func (e *Election) Campaign(ctx context.Context, value []byte) error {
	if err := e.check(); err != nil {
		return err
	}
	e.mu.Lock()
	if e.campaign != nil || e.name != "" {
		e.mu.Unlock()
		return fmt.Errorf("recipes: election %s: Campaign while already campaigning or leading; Resign first", e.dir)
	}
	cctx, cancel := context.WithCancelCause(ctx)
	cp := &campaign{cancel: cancel, done: make(chan struct{})}
	e.campaign = cp
	adopt := e.attempted
	e.attempted = true
	if e.lostSpent {
		e.lost = make(chan struct{})
		e.lostSpent = false
	}
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		e.campaign = nil
		e.mu.Unlock()
		cancel(nil)
		close(cp.done)
	}()

	name, token, err := e.enter(cctx, value, adopt)
	if err == nil {
		err = e.waitTurn(cctx, name)
	}
	if err == nil {
		e.mu.Lock()
		if context.Cause(cctx) == nil {
			e.lead(name, token)
			e.mu.Unlock()
			return nil
		}
		// Resign, or ctx's end, came as it won: withdraw all the same.
		e.mu.Unlock()
		err = cctx.Err()
	}
	if cctx.Err() != nil || !errors.Is(err, ErrCandidacyEnded) && e.c.Err() == nil {
		// Withdraw: a waiting candidate must not stay in line, or it
		// would lead with nobody to act on it.
		znode.Cleanup(cctx, e.c, func(ctx context.Context) error { return deleteOwn(ctx, e.c, e.dir, e.prefix) })
	}
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	if cause := context.Cause(cctx); errors.Is(cause, errResigned) {
		return cause
	}
	return fmt.Errorf("recipes: election %s: campaign: %w", e.dir, err)
}

// enter puts the candidate in line with value: it adopts a node of its own
// left by an earlier attempt, else creates one. It returns the node's name
// and Czxid.
func (e *Election) enter(ctx context.Context, value []byte, adopt bool) (string, int64, error) {
	if adopt {
		// Sync so that a create of an earlier attempt still in flight is
		// applied (or refused) before we look for it.
		if err := e.c.Sync(ctx, e.dir); err != nil {
			return "", 0, err
		}
		own, err := findOwn(ctx, e.c, e.dir, e.prefix)
		if err != nil {
			return "", 0, err
		}
		if len(own) > 0 {
			// One candidacy per Election: keep the first, drop the rest.
			for _, o := range own[1:] {
				if err := e.c.Delete(ctx, znode.Join(e.dir, o.name), -1); err != nil && !errors.Is(err, client.ErrNoNode) {
					return "", 0, err
				}
			}
			stat, err := e.c.Set(ctx, znode.Join(e.dir, own[0].name), value, -1)
			if err == nil {
				return own[0].name, stat.Czxid, nil
			}
			if !errors.Is(err, client.ErrNoNode) {
				return "", 0, err
			}
		}
	}
	name, stat, err := createSeq(ctx, e.c, e.dir, e.prefix, electionTag, value, client.ModeEphemeralSequential)
	return name, stat.Czxid, err
}

// waitTurn waits until the candidate node name is the first in line.
func (e *Election) waitTurn(ctx context.Context, name string) error {
	for {
		children, _, err := e.c.Children(ctx, e.dir)
		if err != nil && !errors.Is(err, client.ErrNoNode) {
			return err
		}
		line := lineUp(children, electionTag)
		i := indexOf(line, name)
		switch {
		case i == 0:
			return nil
		case i < 0:
			if err := e.c.Err(); err != nil {
				return err
			}
			return fmt.Errorf("%w: node %s deleted by someone else", ErrCandidacyEnded, znode.Join(e.dir, name))
		}
		// Wait for the one just before us only. When it goes we look
		// again rather than assume we lead: it may have gone while
		// others before it still wait.
		if err := waitGone(ctx, e.c, znode.Join(e.dir, line[i-1].name)); err != nil {
			return err
		}
	}
}

// lead makes the candidate node name, of Czxid token, the leadership held,
// and starts watching it. e.mu is held.
func (e *Election) lead(name string, token int64) {
	e.name, e.token = name, token
	e.term++
	ctx, cancel := context.WithCancel(context.Background())
	e.stopWatch = cancel
	go e.watchLeadership(ctx, e.term, znode.Join(e.dir, name), e.lost)
}

// watchLeadership closes lost when the leadership of term, held by the
// node at path, is lost: the node is deleted, or the session ends. It
// returns then, or when ctx ends (Resign).
func (e *Election) watchLeadership(ctx context.Context, term uint64, path string, lost chan struct{}) {
	for {
		_, _, ch, err := e.c.GetW(ctx, path)
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, client.ErrNoNode) || e.c.Err() != nil:
			e.loseLeadership(term, lost)
			return
		case err != nil:
			select {
			case <-time.After(electionRetryPause):
			case <-ctx.Done():
				return
			case <-e.c.Done():
			}
			continue
		}
		select {
		case ev, ok := <-ch:
			if ok && ev.Type == client.EventNodeDeleted {
				e.loseLeadership(term, lost)
				return
			}
			// A data change (Proclaim), or the channel closed without an
			// event (the session ended, or RemoveWatches): look again.
		case <-ctx.Done():
			return
		case <-e.c.Done():
			e.loseLeadership(term, lost)
			return
		}
	}
}

// loseLeadership ends the leadership of term, if it is still the one held,
// and closes lost.
func (e *Election) loseLeadership(term uint64, lost chan struct{}) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.term != term || e.name == "" {
		return // Resigned meanwhile.
	}
	e.name = ""
	e.stopWatch()
	e.stopWatch = nil
	e.lostSpent = true
	close(lost)
}

// Resign gives up the leadership held, or the candidacy of a Campaign in
// progress (which then returns an error matching ErrCandidacyEnded): it
// deletes the candidate node, so that the next candidate leads. It does not
// close Lost. Resign when neither campaigning nor leading does nothing and
// returns nil; so does Resign after the session ended, whose end took the
// node away.
//
// If ctx ends before the node is deleted, the deletion goes on on a fresh
// context bounded by the session timeout, and Resign returns ctx's error;
// the Election no longer leads either way.
func (e *Election) Resign(ctx context.Context) error {
	if err := e.check(); err != nil {
		return err
	}
	e.mu.Lock()
	cp := e.campaign
	e.mu.Unlock()
	if cp != nil {
		cp.cancel(errResigned)
		select {
		case <-cp.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	e.mu.Lock()
	name := e.name
	if name != "" {
		e.name = ""
		e.stopWatch()
		e.stopWatch = nil
		e.lostSpent = true
	}
	e.mu.Unlock()
	if name == "" {
		return nil
	}
	err := e.c.Delete(ctx, znode.Join(e.dir, name), -1)
	switch {
	case err == nil || errors.Is(err, client.ErrNoNode) || e.c.Err() != nil:
		return nil
	case ctx.Err() != nil:
		znode.Cleanup(ctx, e.c, func(ctx context.Context) error { return deleteOwn(ctx, e.c, e.dir, e.prefix) })
		return ctx.Err()
	}
	// The node stays until the session ends: the next Campaign adopts it,
	// or Close takes it away.
	return fmt.Errorf("recipes: election %s: resign: %w", e.dir, err)
}

// Proclaim changes the value the leader advertises to value, without an
// election. It returns an error matching ErrNotLeader if this Election does
// not lead, or has just lost its node.
func (e *Election) Proclaim(ctx context.Context, value []byte) error {
	if err := e.check(); err != nil {
		return err
	}
	e.mu.Lock()
	name := e.name
	e.mu.Unlock()
	if name == "" {
		return fmt.Errorf("recipes: election %s: proclaim: %w", e.dir, ErrNotLeader)
	}
	_, err := e.c.Set(ctx, znode.Join(e.dir, name), value, -1)
	if errors.Is(err, client.ErrNoNode) {
		return fmt.Errorf("recipes: election %s: proclaim: %w: node %s deleted", e.dir, ErrNotLeader, znode.Join(e.dir, name))
	}
	if err != nil {
		return fmt.Errorf("recipes: election %s: proclaim: %w", e.dir, err)
	}
	return nil
}

// IsLeader reports whether this Election leads, as far as it knows: a
// leader cut off from the members learns that its session expired only when
// its client declares it, up to a session timeout after the members did.
// Use Leader.Token to fence what a leader does.
func (e *Election) IsLeader() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.name != ""
}

// Token returns the fencing token of the leadership held (see
// Leader.Token), or 0 when not leading.
func (e *Election) Token() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.name == "" {
		return 0
	}
	return e.token
}

// Lost returns a channel that is closed when the leadership this Election
// holds is lost without Resign: its node was deleted by someone else, or
// the session ended (the client's Done is closed then, and its Err says
// why: that is the root cause). While a Campaign is in progress it returns
// the channel of the leadership sought; after a leadership ended, that
// one's, until the next Campaign starts. Resign does not close it.
func (e *Election) Lost() <-chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.lost
}

// Leader returns the current leader: the first candidate in line and the
// value it advertises, as the member the client is on sees them (which may
// lag behind the cluster's leader, never behind this client's own writes).
// It returns an error matching ErrNoLeader if there is no candidate.
func (e *Election) Leader(ctx context.Context) (Leader, error) {
	if err := e.check(); err != nil {
		return Leader{}, err
	}
	l, _, err := e.firstCandidate(ctx, false)
	if err != nil {
		return Leader{}, fmt.Errorf("recipes: election %s: leader: %w", e.dir, err)
	}
	return l, nil
}

// firstCandidate reads the first candidate in line, with a watch on its
// node (data and deletion) if watch is set. With watch set and no
// candidate, it returns a watch that fires when one may have come: on the
// directory's children, or on the directory's creation.
func (e *Election) firstCandidate(ctx context.Context, watch bool) (Leader, <-chan client.Event, error) {
	children, _, err := e.c.Children(ctx, e.dir)
	if err != nil && !errors.Is(err, client.ErrNoNode) {
		return Leader{}, nil, err
	}
	// dirWatch is set once the children are listed with a watch.
	var dirWatch <-chan client.Event
	for listings := 1; ; listings++ {
		// A node of the listing may be gone when read: the next in line
		// is then the first, for a candidate that came later is later
		// in line.
		line := lineUp(children, electionTag)
		for _, cand := range line {
			path := znode.Join(e.dir, cand.name)
			var (
				data []byte
				stat client.Stat
				ch   <-chan client.Event
				err  error
			)
			if watch {
				data, stat, ch, err = e.c.GetW(ctx, path)
			} else {
				data, stat, err = e.c.Get(ctx, path)
			}
			if errors.Is(err, client.ErrNoNode) {
				continue
			}
			if err != nil {
				return Leader{}, nil, err
			}
			return Leader{Key: path, Value: data, Token: stat.Czxid, Session: stat.EphemeralOwner}, ch, nil
		}
		switch {
		case !watch && (len(line) == 0 || listings >= electionMaxListings):
			return Leader{}, nil, ErrNoLeader
		case !watch:
			// Every candidate listed went before it was read: those
			// after them are in a new listing.
			children, _, err = e.c.Children(ctx, e.dir)
			if err != nil && !errors.Is(err, client.ErrNoNode) {
				return Leader{}, nil, err
			}
			continue
		case dirWatch != nil:
			// The watched listing had candidates, gone since: their
			// deletion fires its watch.
			return Leader{}, dirWatch, ErrNoLeader
		}
		children, _, dirWatch, err = e.c.ChildrenW(ctx, e.dir)
		if errors.Is(err, client.ErrNoNode) {
			// No directory: wait for its creation.
			_, ch, err := e.c.ExistsW(ctx, e.dir)
			if errors.Is(err, client.ErrNoNode) {
				return Leader{}, ch, ErrNoLeader
			}
			if err != nil {
				return Leader{}, nil, err
			}
			// It came meanwhile, and the watch is on its data, which
			// does not fire when a candidate comes: look again now.
			now := make(chan client.Event)
			close(now)
			return Leader{}, now, ErrNoLeader
		}
		if err != nil {
			return Leader{}, nil, err
		}
		if len(lineUp(children, electionTag)) == 0 {
			return Leader{}, dirWatch, ErrNoLeader
		}
	}
}

// Observe reports the leader each time it changes, in order, starting with
// the current one: a new first candidate, or a new value Proclaimed. It
// never reports the same key and value twice in a row, and reports nothing
// while there is no leader. It watches the leader's node (and the
// directory when there is none) rather than poll, and looks again after a
// reconnect.
//
// A consumer that falls behind misses intermediate leaders but never the
// latest: the channel holds one report, replaced by a newer one. The
// channel is closed when ctx ends or the session ends (at once if the
// Election was made with wrong arguments: Leader says what is wrong).
func (e *Election) Observe(ctx context.Context) <-chan Leader {
	out := make(chan Leader, 1)
	if e.check() != nil {
		close(out)
		return out
	}
	go e.observe(ctx, out)
	return out
}

// observe is Observe's loop, the only sender on out.
func (e *Election) observe(ctx context.Context, out chan Leader) {
	defer close(out)
	// seen is the last report the consumer took; queued the one in out.
	var seen, queued Leader
	var hasSeen, hasQueued bool
	report := func(l Leader) {
		select {
		case <-out:
			// The consumer had not taken queued: l replaces it.
		default:
			if hasQueued {
				seen, hasSeen = queued, true
			}
		}
		hasQueued = false
		if hasSeen && seen.Key == l.Key && bytes.Equal(seen.Value, l.Value) {
			return
		}
		out <- l // out is empty, and this loop its only sender.
		queued, hasQueued = l, true
	}
	for {
		l, changed, err := e.firstCandidate(ctx, true)
		watched := e.dir
		switch {
		case err == nil:
			report(l)
			watched = l.Key
		case errors.Is(err, ErrNoLeader):
		case ctx.Err() != nil || e.c.Err() != nil:
			return
		default:
			select {
			case <-time.After(electionRetryPause):
			case <-ctx.Done():
				return
			case <-e.c.Done():
				return
			}
			continue
		}
		select {
		case <-changed:
			// An event, or the channel closed without one (a reconnect
			// lost it, RemoveWatches, the session's end): look again.
		case <-ctx.Done():
			// Take the watch back rather than leave it until the node
			// changes.
			znode.Cleanup(ctx, e.c, func(ctx context.Context) error { return e.c.RemoveWatches(ctx, watched) })
			return
		case <-e.c.Done():
			return
		}
	}
}
