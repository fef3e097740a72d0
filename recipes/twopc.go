package recipes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/arbor-coord/arbor/client"
	"github.com/arbor-coord/arbor/recipes/internal/znode"
)

const (
	// txnTag marks a transaction node's name.
	txnTag = "txn-"
	// voteTag, ackTag and clockTag start the names of a transaction's
	// children.
	voteTag  = "vote-"
	ackTag   = "ack-"
	clockTag = "clock-"
	// decisionName is the one decision node of a transaction.
	decisionName = "decision"
	// maxParticipants bounds a transaction's participants (and so the
	// size of the reads and deletes that cover all of them).
	maxParticipants = 64
	// maxNameBytes bounds a participant's name.
	maxNameBytes = 200
	// maxReasonBytes bounds a vote's reason.
	maxReasonBytes = 512
	// maxTxnTimeout bounds a transaction's timeout: a transaction that
	// can stay undecided for longer would hold its participants too long.
	maxTxnTimeout = 24 * time.Hour
	// minRecheck is the least a waiter sleeps before it reads the
	// leader's clock again, so that clock jitter cannot make it spin.
	minRecheck = 20 * time.Millisecond
	// maxPurgeTries bounds the deletes of a subtree that keeps getting
	// new children (late votes, acks, clock reads) while it is deleted.
	maxPurgeTries = 10
	// maxPending bounds the proposals Pending returns at once.
	maxPending = 1000
)

// The outcomes of a two-phase commit a caller is expected to handle, for
// errors.Is.
var (
	// ErrTxnGone is returned when a transaction's node no longer exists:
	// it was cleaned up or purged.
	ErrTxnGone = errors.New("recipes: transaction gone")
	// ErrUndecided is returned by Decide and Purge while a vote is
	// missing and the deadline has not passed on the leader's clock.
	ErrUndecided = errors.New("recipes: transaction undecided (votes missing, deadline not passed)")
	// ErrAlreadyVoted is returned by Vote when the participant's vote is
	// recorded already with the other choice.
	ErrAlreadyVoted = errors.New("recipes: participant voted already")
)

// errNotTxn marks a node with the transaction tag that is not a
// transaction: another tool's, to be passed over.
var errNotTxn = errors.New("not a transaction")

// Decision is the outcome of a transaction.
type Decision int

// The decisions. The zero Decision is none.
const (
	Commit Decision = iota + 1
	Abort
)

// String returns "commit", "abort", or "Decision(N)" for another value.
func (d Decision) String() string {
	switch d {
	case Commit:
		return "commit"
	case Abort:
		return "abort"
	}
	return fmt.Sprintf("Decision(%d)", int(d))
}

// parseDecision reads a decision node's data.
func parseDecision(path string, data []byte) (Decision, error) {
	switch string(data) {
	case "commit":
		return Commit, nil
	case "abort":
		return Abort, nil
	}
	return 0, fmt.Errorf("recipes: %s: not a decision: %q", path, data)
}

// txnInfo is a transaction node's data.
type txnInfo struct {
	Participants []string `json:"participants"`
	TimeoutMs    int64    `json:"timeout_ms"`
	Payload      []byte   `json:"payload"`
}

// txn is what every party knows of a transaction once it has read its node.
type txn struct {
	c        *client.Client
	path     string
	info     txnInfo
	deadline time.Time // leader's clock
}

// readTxn reads and checks the transaction node at path.
func readTxn(ctx context.Context, c *client.Client, path string) (*txn, error) {
	data, stat, err := c.Get(ctx, path)
	if errors.Is(err, client.ErrNoNode) {
		return nil, fmt.Errorf("%w: %s", ErrTxnGone, path)
	}
	if err != nil {
		return nil, err
	}
	var info txnInfo
	if err := json.Unmarshal(data, &info); err != nil {
		return nil, fmt.Errorf("recipes: %s: %w: %w", path, errNotTxn, err)
	}
	if err := checkTxn(info.Participants, time.Duration(info.TimeoutMs)*time.Millisecond); err != nil {
		return nil, fmt.Errorf("recipes: %s: %w: %w", path, errNotTxn, err)
	}
	return &txn{c: c, path: path, info: info, deadline: stat.Ctime.Add(time.Duration(info.TimeoutMs) * time.Millisecond)}, nil
}

// checkTxn checks a transaction's participants and timeout.
func checkTxn(participants []string, timeout time.Duration) error {
	switch {
	case len(participants) == 0:
		return errors.New("no participants")
	case len(participants) > maxParticipants:
		return fmt.Errorf("%d participants, more than %d", len(participants), maxParticipants)
	case timeout < time.Millisecond:
		return fmt.Errorf("timeout %v, less than 1ms", timeout)
	case timeout > maxTxnTimeout:
		return fmt.Errorf("timeout %v, more than %v", timeout, maxTxnTimeout)
	}
	for i, p := range participants {
		if err := checkParticipant(p); err != nil {
			return err
		}
		if slices.Contains(participants[:i], p) {
			return fmt.Errorf("participant %q named twice", p)
		}
	}
	return nil
}

// checkParticipant checks a participant's name, which becomes part of
// node names.
func checkParticipant(name string) error {
	if len(name) > maxNameBytes {
		return fmt.Errorf("participant name of %d bytes, more than %d", len(name), maxNameBytes)
	}
	return checkName("participant name", name)
}

// vote is one recorded vote.
type vote struct {
	commit bool
	reason string
	at     time.Time // leader's clock
}

// encodeVote returns a vote node's data.
func encodeVote(commit bool, reason string) []byte {
	if commit {
		return []byte("commit")
	}
	if reason == "" {
		return []byte("abort")
	}
	return []byte("abort\n" + reason)
}

// parseVote reads a vote node's data. Anything else than the two votes is
// refused rather than counted.
func parseVote(path string, data []byte, at time.Time) (vote, error) {
	s := string(data)
	switch {
	case s == "commit":
		return vote{commit: true, at: at}, nil
	case s == "abort":
		return vote{at: at}, nil
	case strings.HasPrefix(s, "abort\n"):
		return vote{reason: s[len("abort\n"):], at: at}, nil
	}
	return vote{}, fmt.Errorf("recipes: %s: not a vote: %q", path, data)
}

// txnState is a transaction's children as read at one zxid.
type txnState struct {
	decision Decision // 0: none recorded
	votes    map[string]vote
	acks     map[string]bool
}

// state reads the transaction's decision, votes and acks at one zxid.
func (t *txn) state(ctx context.Context) (txnState, error) {
	ops := []client.ReadOp{client.ExistsOp(t.path), client.GetOp(znode.Join(t.path, decisionName))}
	for _, p := range t.info.Participants {
		ops = append(ops, client.GetOp(znode.Join(t.path, voteTag+p)), client.ExistsOp(znode.Join(t.path, ackTag+p)))
	}
	res, err := t.c.ReadMulti(ctx, ops...)
	if err != nil {
		return txnState{}, err
	}
	if errors.Is(res[0].Err, client.ErrNoNode) {
		return txnState{}, fmt.Errorf("%w: %s", ErrTxnGone, t.path)
	}
	st := txnState{votes: map[string]vote{}, acks: map[string]bool{}}
	for i, r := range res {
		if r.Err != nil && !errors.Is(r.Err, client.ErrNoNode) {
			return txnState{}, r.Err
		}
		if r.Err != nil || i == 0 {
			continue
		}
		if i == 1 {
			if st.decision, err = parseDecision(znode.Join(t.path, decisionName), r.Data); err != nil {
				return txnState{}, err
			}
			continue
		}
		p := t.info.Participants[(i-2)/2]
		if i%2 == 1 {
			st.acks[p] = true
			continue
		}
		v, err := parseVote(znode.Join(t.path, voteTag+p), r.Data, r.Stat.Ctime)
		if err != nil {
			return txnState{}, err
		}
		st.votes[p] = v
	}
	return st, nil
}

// rule returns the decision the votes call for. now is the leader's clock,
// read before st was (the zero time if it was not read): a vote missing
// from st is then created after now. It returns false while the votes
// allow either outcome.
func (t *txn) rule(st txnState, now time.Time) (Decision, bool) {
	missing := false
	for _, p := range t.info.Participants {
		v, ok := st.votes[p]
		switch {
		case !ok:
			missing = true
		case !v.commit || v.at.After(t.deadline):
			return Abort, true
		}
	}
	if !missing {
		return Commit, true
	}
	if !now.IsZero() && now.After(t.deadline) {
		return Abort, true
	}
	return 0, false
}

// leaderNow returns the leader's clock: the Ctime of a node created and
// deleted in one multi under the transaction, so nothing is left behind
// whatever happens to the call.
func (t *txn) leaderNow(ctx context.Context) (time.Time, error) {
	p := znode.Join(t.path, clockTag+strings.TrimPrefix(newPrefix(), protectedTag))
	res, err := t.c.Multi(ctx, client.CreateOp(p, nil, client.WithMode(client.ModeEphemeral)), client.DeleteOp(p, -1))
	if errors.Is(err, client.ErrNoNode) {
		return time.Time{}, fmt.Errorf("%w: %s", ErrTxnGone, t.path)
	}
	if err != nil {
		return time.Time{}, err
	}
	return res[0].Stat.Ctime, nil
}

// decide records the decision the nodes call for, reading the leader's
// clock first if withClock, and returns the recorded decision. While it
// cannot be made yet it returns ErrUndecided and, if it read the clock, how
// long the deadline is away on it.
func (t *txn) decide(ctx context.Context, withClock bool) (Decision, time.Duration, error) {
	var now time.Time
	if withClock {
		var err error
		if now, err = t.leaderNow(ctx); err != nil {
			return 0, 0, err
		}
	}
	st, err := t.state(ctx)
	if err != nil {
		return 0, 0, err
	}
	if st.decision != 0 {
		return st.decision, 0, nil
	}
	d, ok := t.rule(st, now)
	if !ok {
		left := time.Duration(0)
		if withClock {
			left = t.deadline.Sub(now)
		}
		return 0, left, fmt.Errorf("%w: %s", ErrUndecided, t.path)
	}
	d, err = t.record(ctx, d)
	return d, 0, err
}

// record creates the decision node with d, or reads the one a racing
// writer created first.
func (t *txn) record(ctx context.Context, d Decision) (Decision, error) {
	p := znode.Join(t.path, decisionName)
	_, err := t.c.Create(ctx, p, []byte(d.String()))
	if err == nil {
		return d, nil
	}
	if errors.Is(err, client.ErrNoNode) {
		return 0, fmt.Errorf("%w: %s", ErrTxnGone, t.path)
	}
	if !errors.Is(err, client.ErrNodeExists) {
		return 0, err
	}
	data, _, err := t.c.Get(ctx, p)
	if err != nil {
		return 0, err
	}
	return parseDecision(p, data)
}

// waitDecision waits until the decision is recorded and returns it. Past
// the deadline (on the leader's clock) it records the decision itself, so
// that a coordinator gone before deciding holds no one up. localLeft is the
// first guess of how far the deadline is.
func (t *txn) waitDecision(ctx context.Context, localLeft time.Duration) (Decision, error) {
	p := znode.Join(t.path, decisionName)
	timer := time.NewTimer(max(localLeft, minRecheck))
	defer timer.Stop()
	for {
		_, ch, err := t.c.ExistsW(ctx, p)
		if err == nil {
			// The watch set on the node is left to fire when the node
			// is deleted with the transaction: decision nodes never
			// change.
			data, _, err := t.c.Get(ctx, p)
			if errors.Is(err, client.ErrNoNode) {
				return 0, fmt.Errorf("%w: %s", ErrTxnGone, t.path)
			}
			if err != nil {
				return 0, err
			}
			return parseDecision(p, data)
		}
		if !errors.Is(err, client.ErrNoNode) {
			return 0, err
		}
		if _, err := t.c.Exists(ctx, t.path); err != nil {
			t.dropWatch(ctx, p)
			if errors.Is(err, client.ErrNoNode) {
				return 0, fmt.Errorf("%w: %s", ErrTxnGone, t.path)
			}
			return 0, err
		}
		select {
		case <-ch:
			if err := t.c.Err(); err != nil {
				return 0, err
			}
		case <-timer.C:
			d, left, err := t.decide(ctx, true)
			if err == nil {
				t.dropWatch(ctx, p)
				return d, nil
			}
			if !errors.Is(err, ErrUndecided) {
				t.dropWatch(ctx, p)
				return 0, err
			}
			timer.Reset(max(left, minRecheck))
		case <-ctx.Done():
			t.dropWatch(ctx, p)
			return 0, ctx.Err()
		}
	}
}

// dropWatch takes back the one-shot watches of this client on path, which
// would otherwise wait for a node that may never come. Another waiter of
// the client on the same path sees its channel closed and looks again.
func (t *txn) dropWatch(ctx context.Context, path string) {
	znode.Cleanup(ctx, t.c, func(ctx context.Context) error { return t.c.RemoveWatches(ctx, path) })
}

// purge deletes the transaction's subtree, whoever has acknowledged.
func (t *txn) purge(ctx context.Context) error {
	for range maxPurgeTries {
		children, _, err := t.c.Children(ctx, t.path)
		if errors.Is(err, client.ErrNoNode) {
			return nil
		}
		if err != nil {
			return err
		}
		ops := make([]client.Op, 0, len(children)+1)
		for _, name := range children {
			ops = append(ops, client.DeleteOp(znode.Join(t.path, name), -1))
		}
		ops = append(ops, client.DeleteOp(t.path, -1))
		_, err = t.c.Multi(ctx, ops...)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, client.ErrNotEmpty), errors.Is(err, client.ErrNoNode):
			// A child came or went between the listing and the
			// delete: list again.
			continue
		default:
			return err
		}
	}
	return fmt.Errorf("recipes: purge %s: children still changing after %d tries", t.path, maxPurgeTries)
}

// Decide records the decision of the transaction at txnPath if the nodes
// already call for one, and returns the recorded decision: Commit if every
// participant voted commit by the deadline, Abort if one voted abort or
// late, or if the deadline has passed on the leader's clock with a vote
// missing. While a vote is missing and the deadline has not passed it
// returns ErrUndecided and records nothing.
//
// Anyone may call it at any time: it cannot record anything but what the
// votes call for. It is how a participant (Proposal.Decision does it on
// its own) or an operator unblocks a transaction whose coordinator is gone:
// the classic blocking problem of two-phase commit is bounded by the
// deadline, after which the votes decide without the coordinator (Abort
// with one missing; Commit if all voted commit in time, as all have
// prepared and the one decision node keeps everyone in agreement).
func Decide(ctx context.Context, c *client.Client, txnPath string) (Decision, error) {
	if err := checkArgs("Decide", c, txnPath); err != nil {
		return 0, err
	}
	t, err := readTxn(ctx, c, txnPath)
	if err != nil {
		return 0, err
	}
	d, _, err := t.decide(ctx, true)
	return d, err
}

// Purge decides the transaction at txnPath as Decide does and then deletes
// its nodes, whether or not every participant has acknowledged. It is for
// transactions whose Cleanup cannot finish because a participant is gone
// for good: a participant that voted and did not yet read the decision
// gets ErrTxnGone. It returns ErrUndecided, and deletes nothing, while the
// transaction cannot be decided yet. A transaction gone already is fine.
func Purge(ctx context.Context, c *client.Client, txnPath string) error {
	if err := checkArgs("Purge", c, txnPath); err != nil {
		return err
	}
	t, err := readTxn(ctx, c, txnPath)
	if errors.Is(err, ErrTxnGone) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, _, err := t.decide(ctx, true); err != nil {
		if errors.Is(err, ErrTxnGone) {
			return nil
		}
		return err
	}
	return t.purge(ctx)
}

// Coordinator proposes transactions to participants through the nodes
// under a directory: two-phase commit, with the decision recorded in a node
// before anyone acts on it, and a deadline that aborts.
//
// Node layout under the transaction directory dir (a persistent node, not
// a container: a container reaped and made again would restart the
// sequence numbers that participants use to remember where they are):
//
//	dir/_c_<32hex>-txn-<seq>   persistent sequential, made by Begin; data: JSON
//	                           {"participants":[...],"timeout_ms":N,"payload":base64}
//	    vote-<name>            persistent; "commit", or "abort" and an optional "\n"+reason
//	    decision               persistent; "commit" or "abort", created once
//	    ack-<name>             persistent, empty: name has acted on the decision
//	    clock-<hex>            created and deleted in one multi to read the leader's clock
//
// The deadline of a transaction is its node's Ctime plus its timeout, both
// on the leader's clock, as are the Ctimes of the votes. The decision is a
// function of the nodes alone: Commit if every participant's vote is
// "commit" and was created no later than the deadline, Abort if any vote is
// "abort" or late, or once the leader's clock has passed the deadline with a
// vote missing. Whoever records it (the coordinator, a participant after the
// deadline, an operator) records the same thing, and the create of the one
// decision node makes it final. The coordinator alone may also record Abort
// before the rule calls for anything (Txn.Abort); the first create wins.
//
// Why the leader's clock: a decider past the deadline reads the leader's
// clock with a write, then the votes; a vote missing from that read is
// created later, at a leader time past the deadline, so it is late. That
// makes every decider agree, whatever the clients' clocks say; it assumes
// only that a new leader's clock does not run behind the old one's by more
// than the members' clock skew (as ZooKeeper's TTL nodes assume). Clients'
// clocks serve only to guess when to look again.
//
// The nodes stay after the decision, so that a participant that restarts
// finds it (Participant.Pending): Txn.Cleanup deletes them once every
// participant has acknowledged (Proposal.Ack), and Purge deletes a decided
// transaction whatever the acks.
type Coordinator struct {
	c   *client.Client
	dir string
}

// NewCoordinator returns a coordinator of transactions under dir on c.
func NewCoordinator(c *client.Client, dir string) *Coordinator {
	return &Coordinator{c: c, dir: dir}
}

// Txn is a transaction begun by a Coordinator.
type Txn struct {
	t *txn
	// localDeadline is when the deadline is due by this process's
	// clock: the timeout after the create was answered, which is no
	// earlier than the leader's deadline unless the clocks' rates
	// differ. Only elapsed local time is used, never a comparison of
	// the local clock with the leader's.
	localDeadline time.Time
}

// Begin proposes a transaction with payload to the named participants,
// who have timeout to vote, and returns it. It writes one node, whose
// creation is the start of the timeout on the leader's clock.
//
// If ctx ends while the create is in flight, the transaction may have been
// created: Begin then deletes it, or, if a participant voted already,
// records Abort in it, before it returns ctx's error.
func (co *Coordinator) Begin(ctx context.Context, participants []string, payload []byte, timeout time.Duration) (*Txn, error) {
	if err := checkArgs("Begin", co.c, co.dir); err != nil {
		return nil, err
	}
	if err := checkTxn(participants, timeout); err != nil {
		return nil, fmt.Errorf("recipes: Begin: %w", err)
	}
	data, err := json.Marshal(txnInfo{Participants: participants, TimeoutMs: timeout.Milliseconds(), Payload: payload})
	if err != nil {
		return nil, fmt.Errorf("recipes: Begin: %w", err)
	}
	// A unique prefix finds the node again if the create's outcome is
	// unknown.
	prefix := newPrefix()
	for {
		res, err := co.c.Multi(ctx, client.CreateOp(znode.Join(co.dir, prefix+txnTag), data, client.WithMode(client.ModePersistentSequential)))
		if err == nil {
			path := res[0].Path
			// The deadline is the leader's, from the create's own
			// Ctime; the local one is for timers only.
			t := &txn{c: co.c, path: path, deadline: res[0].Stat.Ctime.Add(time.Duration(timeout.Milliseconds()) * time.Millisecond)}
			t.info = txnInfo{Participants: slices.Clone(participants), TimeoutMs: timeout.Milliseconds(), Payload: slices.Clone(payload)}
			return &Txn{t: t, localDeadline: time.Now().Add(timeout)}, nil
		}
		if errors.Is(err, client.ErrNoNode) && ctx.Err() == nil {
			// The directory is missing. It is made persistent, not a
			// container, so that its sequence numbers never restart.
			if _, err := co.c.Create(ctx, co.dir, nil, client.WithParents()); err != nil && !errors.Is(err, client.ErrNodeExists) {
				return nil, err
			}
			continue
		}
		if ctx.Err() != nil {
			znode.Cleanup(ctx, co.c, func(ctx context.Context) error { return co.abandon(ctx, prefix) })
		}
		return nil, err
	}
}

// abandon undoes a Begin whose create may have been applied: the node goes
// if no one has voted on it, else it is aborted (and left for Purge).
func (co *Coordinator) abandon(ctx context.Context, prefix string) error {
	if err := co.c.Sync(ctx, co.dir); err != nil {
		return err
	}
	own, err := findOwn(ctx, co.c, co.dir, prefix)
	if err != nil {
		return err
	}
	for _, o := range own {
		p := znode.Join(co.dir, o.name)
		err := co.c.Delete(ctx, p, -1)
		if errors.Is(err, client.ErrNotEmpty) {
			t := &txn{c: co.c, path: p}
			_, err = t.record(ctx, Abort)
		}
		if err != nil && !errors.Is(err, client.ErrNoNode) && !errors.Is(err, ErrTxnGone) {
			return err
		}
	}
	return nil
}

// Path returns the transaction's node.
func (t *Txn) Path() string { return t.t.path }

// Deadline returns the time, on the leader's clock, by which every
// participant must have voted commit for the transaction to commit.
func (t *Txn) Deadline() time.Time { return t.t.deadline }

// Wait waits until every participant has voted or the deadline has passed
// on the leader's clock, records the decision (Commit only if every
// participant voted commit by the deadline) and returns it. If the decision
// is recorded already (by a participant's abort, or by Decide) it returns
// that one. No participant acts before the decision is recorded, so the
// coordinator's crash at any point leaves a transaction that is either
// decided or aborted once its deadline passes.
//
// If ctx ends first, Wait returns its error and the transaction stays
// undecided until a later Wait, a participant or Decide decides it.
func (t *Txn) Wait(ctx context.Context) (Decision, error) {
	c := t.t.c
	timer := time.NewTimer(max(time.Until(t.localDeadline), minRecheck))
	defer timer.Stop()
	withClock := false
	for {
		// Watch first, then read: a vote after the read fires the
		// watch.
		_, _, ch, err := c.ChildrenW(ctx, t.t.path)
		if errors.Is(err, client.ErrNoNode) {
			return 0, fmt.Errorf("%w: %s", ErrTxnGone, t.t.path)
		}
		if err != nil {
			return 0, err
		}
		d, left, err := t.t.decide(ctx, withClock)
		if err == nil {
			t.t.dropWatch(ctx, t.t.path)
			return d, nil
		}
		if !errors.Is(err, ErrUndecided) {
			t.t.dropWatch(ctx, t.t.path)
			return 0, err
		}
		if withClock {
			// The local timer ran out before the leader's deadline.
			timer.Reset(max(left, minRecheck))
			withClock = false
		}
		select {
		case <-ch:
			// A vote, an ack or a clock read: read again (the session's
			// end shows in the next call).
		case <-timer.C:
			withClock = true
		case <-ctx.Done():
			t.t.dropWatch(ctx, t.t.path)
			return 0, ctx.Err()
		}
	}
}

// Abort records Abort as the transaction's decision, unless a decision is
// recorded already, and returns the recorded decision. The coordinator may
// abort at any time before the decision, for reasons of its own.
func (t *Txn) Abort(ctx context.Context) (Decision, error) {
	return t.t.record(ctx, Abort)
}

// Cleanup waits until every participant has acknowledged the recorded
// decision (Proposal.Ack) and then deletes the transaction's nodes. Call it
// after Wait. A participant that never comes back holds it until ctx ends:
// it then returns ctx's error and leaves the nodes, for a later Cleanup or
// for Purge.
func (t *Txn) Cleanup(ctx context.Context) error {
	c := t.t.c
	for {
		_, _, ch, err := c.ChildrenW(ctx, t.t.path)
		if errors.Is(err, client.ErrNoNode) {
			return nil
		}
		if err != nil {
			return err
		}
		st, err := t.t.state(ctx)
		if errors.Is(err, ErrTxnGone) {
			t.t.dropWatch(ctx, t.t.path)
			return nil
		}
		if err != nil {
			t.t.dropWatch(ctx, t.t.path)
			return err
		}
		if st.decision == 0 {
			t.t.dropWatch(ctx, t.t.path)
			return fmt.Errorf("recipes: Cleanup %s: %w (call Wait first)", t.t.path, ErrUndecided)
		}
		if len(st.acks) == len(t.t.info.Participants) {
			// The delete fires the watch set above, which is then gone.
			return t.t.purge(ctx)
		}
		select {
		case <-ch:
			if err := c.Err(); err != nil {
				return err
			}
		case <-ctx.Done():
			t.t.dropWatch(ctx, t.t.path)
			return ctx.Err()
		}
	}
}

// Participant receives the transactions proposed to one name under a
// directory. A Participant remembers the transactions it has looked at;
// one value serves one goroutine at a time.
type Participant struct {
	c    *client.Client
	dir  string
	name string
	// after is the sequence number of the last transaction looked at.
	after int64
}

// NewParticipant returns the participant called name in the transactions
// under dir on c.
func NewParticipant(c *client.Client, dir, name string) *Participant {
	return &Participant{c: c, dir: dir, name: name, after: -1}
}

// Proposal is a transaction proposed to a Participant.
type Proposal struct {
	t       *txn
	name    string
	decided Decision
}

// Next waits for a transaction that names the participant and that it has
// not voted on, and returns it, oldest first, each once for this value.
// The transaction may be decided already (aborted on another's vote, by
// the coordinator or on its deadline): its Decision then returns at once,
// and a vote changes nothing. Every proposal needs an Ack, voted on or
// not, for Cleanup to finish. Transactions it voted on and did not
// acknowledge, after a restart, are Pending's.
func (p *Participant) Next(ctx context.Context) (*Proposal, error) {
	if err := p.check("Next"); err != nil {
		return nil, err
	}
	watch := false
	for {
		var children []string
		var ch <-chan client.Event
		var err error
		if watch {
			children, _, ch, err = p.c.ChildrenW(ctx, p.dir)
		} else {
			children, _, err = p.c.Children(ctx, p.dir)
		}
		if errors.Is(err, client.ErrNoNode) {
			// No transaction yet: wait for the directory.
			_, ch, err = p.c.ExistsW(ctx, p.dir)
			if err == nil {
				continue
			}
		}
		if err != nil && !errors.Is(err, client.ErrNoNode) {
			return nil, err
		}
		for _, ct := range lineUp(children, txnTag) {
			if ct.seq <= p.after {
				continue
			}
			pr, err := p.look(ctx, znode.Join(p.dir, ct.name))
			if err != nil {
				return nil, err
			}
			p.after = ct.seq
			if pr != nil {
				return pr, nil
			}
		}
		if !watch {
			// Nothing new: watch, and list again to close the gap.
			watch = true
			continue
		}
		select {
		case <-ch:
			if err := p.c.Err(); err != nil {
				return nil, err
			}
		case <-ctx.Done():
			znode.Cleanup(ctx, p.c, func(ctx context.Context) error { return p.c.RemoveWatches(ctx, p.dir) })
			return nil, ctx.Err()
		}
	}
}

// check checks the participant's arguments.
func (p *Participant) check(op string) error {
	if err := checkArgs(op, p.c, p.dir); err != nil {
		return err
	}
	if err := checkParticipant(p.name); err != nil {
		return fmt.Errorf("recipes: %s: %w", op, err)
	}
	return nil
}

// look returns the proposal at path if it is one for Next, else nil.
func (p *Participant) look(ctx context.Context, path string) (*Proposal, error) {
	t, err := readTxn(ctx, p.c, path)
	if errors.Is(err, ErrTxnGone) || errors.Is(err, errNotTxn) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !slices.Contains(t.info.Participants, p.name) {
		return nil, nil
	}
	_, err = p.c.Exists(ctx, znode.Join(path, voteTag+p.name))
	if err != nil && !errors.Is(err, client.ErrNoNode) {
		return nil, err
	}
	if err == nil {
		return nil, nil
	}
	return &Proposal{t: t, name: p.name}, nil
}

// Pending returns the transactions the participant voted on and has not
// acknowledged, oldest first (at most a thousand): after a restart, those
// whose decision it may not have acted on. Their Decision and Ack work as
// Next's proposals' do.
func (p *Participant) Pending(ctx context.Context) ([]*Proposal, error) {
	if err := p.check("Pending"); err != nil {
		return nil, err
	}
	children, _, err := p.c.Children(ctx, p.dir)
	if errors.Is(err, client.ErrNoNode) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []*Proposal
	for _, ct := range lineUp(children, txnTag) {
		if len(out) == maxPending {
			break
		}
		path := znode.Join(p.dir, ct.name)
		t, err := readTxn(ctx, p.c, path)
		if errors.Is(err, ErrTxnGone) || errors.Is(err, errNotTxn) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if !slices.Contains(t.info.Participants, p.name) {
			continue
		}
		res, err := p.c.ReadMulti(ctx, client.ExistsOp(znode.Join(path, voteTag+p.name)), client.ExistsOp(znode.Join(path, ackTag+p.name)))
		if err != nil {
			return nil, err
		}
		if res[0].Err == nil && res[1].Err != nil {
			out = append(out, &Proposal{t: t, name: p.name})
		}
	}
	return out, nil
}

// Path returns the transaction's node.
func (pr *Proposal) Path() string { return pr.t.path }

// Payload returns the transaction's payload.
func (pr *Proposal) Payload() []byte { return slices.Clone(pr.t.info.Payload) }

// Participants returns the names of the transaction's participants.
func (pr *Proposal) Participants() []string { return slices.Clone(pr.t.info.Participants) }

// Deadline returns the time, on the leader's clock, by which every
// participant must have voted commit for the transaction to commit.
func (pr *Proposal) Deadline() time.Time { return pr.t.deadline }

// Vote records the participant's vote, with an optional reason for an
// abort. A participant that votes commit must not act on the transaction
// before Decision returns Commit; one that votes abort knows the outcome,
// and its vote records Abort as the decision too, so that the others learn
// it at once, coordinator or not. A vote after the decision is recorded,
// or after the deadline, changes nothing.
//
// Voting again with the same choice returns nil (so a Vote whose ctx ended
// in flight, with an unknown outcome, can be repeated); with the other
// choice it returns ErrAlreadyVoted.
func (pr *Proposal) Vote(ctx context.Context, commit bool, reason string) error {
	if commit && reason != "" {
		return errors.New("recipes: Vote: a reason is for an abort only")
	}
	if len(reason) > maxReasonBytes {
		return fmt.Errorf("recipes: Vote: reason of %d bytes, more than %d", len(reason), maxReasonBytes)
	}
	vp := znode.Join(pr.t.path, voteTag+pr.name)
	data := encodeVote(commit, reason)
	var err error
	if commit {
		_, err = pr.t.c.Create(ctx, vp, data)
	} else {
		var res []client.OpResult
		res, err = pr.t.c.Multi(ctx, client.CreateOp(vp, data), client.CreateOp(znode.Join(pr.t.path, decisionName), []byte(Abort.String())))
		if errors.Is(err, client.ErrNodeExists) && len(res) == 2 && res[1].Err != nil && res[0].Err == nil {
			// Decided already: the vote alone.
			_, err = pr.t.c.Create(ctx, vp, data)
		}
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, client.ErrNoNode):
		return fmt.Errorf("%w: %s", ErrTxnGone, pr.t.path)
	case !errors.Is(err, client.ErrNodeExists):
		return err
	}
	got, _, err := pr.t.c.Get(ctx, vp)
	if err != nil {
		return err
	}
	v, err := parseVote(vp, got, time.Time{})
	if err != nil {
		return err
	}
	if v.commit != commit {
		return fmt.Errorf("recipes: Vote %s: %w (%q)", vp, ErrAlreadyVoted, got)
	}
	return nil
}

// Decision waits until the transaction's decision is recorded and returns
// it. Past the deadline (on the leader's clock) it records the decision
// the votes call for itself (see Decide), so a coordinator that crashed
// before deciding blocks no one past the deadline. It returns ErrTxnGone
// if the transaction was purged before it read the decision.
func (pr *Proposal) Decision(ctx context.Context) (Decision, error) {
	d, err := pr.t.waitDecision(ctx, time.Until(pr.t.deadline))
	if err == nil {
		pr.decided = d
	}
	return d, err
}

// Ack tells the coordinator that the participant has acted on the
// decision, which it must have read with Decision first: once every
// participant has acknowledged, Cleanup deletes the transaction.
func (pr *Proposal) Ack(ctx context.Context) error {
	if pr.decided == 0 {
		return fmt.Errorf("recipes: Ack %s: the decision was not read (call Decision first)", pr.t.path)
	}
	_, err := pr.t.c.Create(ctx, znode.Join(pr.t.path, ackTag+pr.name), nil)
	if err != nil && !errors.Is(err, client.ErrNodeExists) && !errors.Is(err, client.ErrNoNode) {
		return err
	}
	return nil
}
