package recipes

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/arbor-coord/arbor/client"
	"github.com/arbor-coord/arbor/recipes/internal/znode"
)

// Group membership: each member is an ephemeral node dir/name holding the
// member's data, so a member whose session ends leaves by itself.

var (
	// ErrMemberExists is returned by JoinGroup when the name is taken by
	// another session.
	ErrMemberExists = errors.New("recipes: group member name taken")
	// ErrMembershipLost is returned by Membership.Update once the
	// membership is over: the node was deleted (by Leave, by someone else,
	// or with the session).
	ErrMembershipLost = errors.New("recipes: group membership lost")
)

// maxJoinAttempts bounds JoinGroup's attempts when the group's directory,
// a container, is reaped between its creation and the member's.
const maxJoinAttempts = 8

// retryPause spaces the retries of a read that failed for a reason other
// than the node's absence or the session's end.
const retryPause = 100 * time.Millisecond

// Member is one member of a group.
type Member struct {
	// Name is the member's node name under the group's directory.
	Name string
	// Data is the member's data.
	Data []byte
	// Session is the id of the session that owns the member's node (0 for
	// a node someone made persistent).
	Session int64
}

// MemberNames returns the names of members, in their order.
func MemberNames(members []Member) []string {
	names := make([]string, len(members))
	for i, m := range members {
		names[i] = m.Name
	}
	return names
}

// Membership is this client's membership of a group, from JoinGroup. It is
// safe for concurrent use.
type Membership struct {
	c     *client.Client
	path  string
	czxid int64 // identifies our node: a node of the same name made later is another's

	lost     chan struct{}
	stop     context.CancelFunc
	done     chan struct{}
	lostOnce sync.Once
	mu       sync.Mutex // serialises Update and Leave
}

// JoinGroup makes this client's session a member of the group at dir
// under name, with data: it creates the ephemeral node dir/name (and dir,
// as a container, if missing). A name taken by another session is
// ErrMemberExists; one held by this session already (an earlier JoinGroup
// whose outcome was unknown, say) is adopted and given data. If ctx ends
// while the create is in flight, the node is deleted again before
// JoinGroup returns ctx's error.
//
// The membership lasts until Leave, a deletion of the node by someone
// else, or the end of the session; Lost is closed then. ctx bounds the
// join only.
func JoinGroup(ctx context.Context, c *client.Client, dir, name string, data []byte) (*Membership, error) {
	if err := checkArgs("join group", c, dir); err != nil {
		return nil, err
	}
	if err := checkName("member name", name); err != nil {
		return nil, fmt.Errorf("recipes: join group %s: %w", dir, err)
	}
	path := znode.Join(dir, name)
	if _, err := c.Exists(ctx, dir); err != nil && !errors.Is(err, client.ErrNoNode) {
		// Checks dir before anything is created (a bad path, say).
		return nil, fmt.Errorf("recipes: join group %s: %w", dir, err)
	}
	stat, err := createMember(ctx, c, dir, path, data)
	if err != nil {
		return nil, fmt.Errorf("recipes: join group %s as %q: %w", dir, name, err)
	}
	m := &Membership{c: c, path: path, czxid: stat.Czxid, lost: make(chan struct{}), done: make(chan struct{})}
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	m.stop = cancel
	go func() {
		defer close(m.done)
		defer m.markLost()
		m.watch(wctx)
	}()
	return m, nil
}

// createMember creates the member's node, or adopts this session's own.
func createMember(ctx context.Context, c *client.Client, dir, path string, data []byte) (client.Stat, error) {
	for range maxJoinAttempts {
		res, err := c.Multi(ctx, client.CreateOp(path, data, client.WithMode(client.ModeEphemeral)))
		switch {
		case err == nil:
			return res[0].Stat, nil
		case errors.Is(err, client.ErrNoNode):
			if err := znode.EnsureDir(ctx, c, dir); err != nil {
				return client.Stat{}, err
			}
			continue
		case errors.Is(err, client.ErrNodeExists):
			stat, err := c.Exists(ctx, path)
			if errors.Is(err, client.ErrNoNode) {
				continue // gone meanwhile: try again
			}
			if err != nil {
				return client.Stat{}, err
			}
			if stat.EphemeralOwner != c.SessionID() {
				return client.Stat{}, fmt.Errorf("%w (owned by session %#x)", ErrMemberExists, stat.EphemeralOwner)
			}
			stat, err = c.Set(ctx, path, data, stat.Version)
			if errors.Is(err, client.ErrBadVersion) || errors.Is(err, client.ErrNoNode) {
				continue // changed under us: look again
			}
			return stat, err
		case ctx.Err() != nil:
			// The create may have been applied: take it back.
			znode.Cleanup(ctx, c, func(ctx context.Context) error { return deleteIfOwn(ctx, c, path, 0) })
			return client.Stat{}, err
		default:
			return client.Stat{}, err
		}
	}
	return client.Stat{}, fmt.Errorf("the group directory vanished %d times under the join", maxJoinAttempts)
}

// deleteIfOwn deletes the node at path if this session owns it and (when
// czxid is not 0) it is the node created at czxid.
func deleteIfOwn(ctx context.Context, c *client.Client, path string, czxid int64) error {
	if err := c.Sync(ctx, path); err != nil {
		return err
	}
	for range maxJoinAttempts {
		stat, err := c.Exists(ctx, path)
		if errors.Is(err, client.ErrNoNode) {
			return nil
		}
		if err != nil {
			return err
		}
		if stat.EphemeralOwner != c.SessionID() || (czxid != 0 && stat.Czxid != czxid) {
			return nil
		}
		err = c.Delete(ctx, path, stat.Version)
		if err == nil || errors.Is(err, client.ErrNoNode) {
			return nil
		}
		if !errors.Is(err, client.ErrBadVersion) {
			return err
		}
	}
	return fmt.Errorf("recipes: delete %s: its version kept changing", path)
}

// watch waits until the member's node is gone or replaced, the session
// ends, or ctx ends (Leave).
func (m *Membership) watch(ctx context.Context) {
	unwatch := func() {
		// Take the watch back rather than leave it until the node
		// changes.
		znode.Cleanup(ctx, m.c, func(ctx context.Context) error { return m.c.RemoveWatches(ctx, m.path, client.WatchData) })
	}
	for {
		_, stat, ch, err := m.c.GetW(ctx, m.path)
		switch {
		case errors.Is(err, client.ErrNoNode), ctx.Err() != nil, m.c.Err() != nil:
			// Gone, Leave, or the session's end.
			return
		case err != nil:
			// A read that failed for another reason says nothing of
			// the node: look again, unhurried.
			select {
			case <-time.After(retryPause):
			case <-ctx.Done():
				return
			}
			continue
		case stat.Czxid != m.czxid:
			// Replaced by another's node of the same name.
			unwatch()
			return
		}
		select {
		case ev, ok := <-ch:
			if ok && ev.Type == client.EventNodeDeleted {
				return
			}
			// A data change (our Update), a catch-up (the node may have
			// been replaced meanwhile), or the channel closed by the
			// session's end or a RemoveWatches: look again.
		case <-ctx.Done():
			unwatch()
			return
		case <-m.c.Done():
			return
		}
	}
}

// markLost closes lost once.
func (m *Membership) markLost() { m.lostOnce.Do(func() { close(m.lost) }) }

// Lost is closed when the membership ends: Leave, the node deleted by
// someone else, or the session's end.
func (m *Membership) Lost() <-chan struct{} { return m.lost }

// Name returns the member's name.
func (m *Membership) Name() string { return znode.Base(m.path) }

// Update replaces the member's data. It returns ErrMembershipLost once the
// membership is over.
func (m *Membership) Update(ctx context.Context, data []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	select {
	case <-m.lost:
		return fmt.Errorf("recipes: update member %s: %w", m.path, ErrMembershipLost)
	default:
	}
	for range maxJoinAttempts {
		stat, err := m.c.Exists(ctx, m.path)
		if errors.Is(err, client.ErrNoNode) || (err == nil && stat.Czxid != m.czxid) {
			return fmt.Errorf("recipes: update member %s: %w", m.path, ErrMembershipLost)
		}
		if err != nil {
			return fmt.Errorf("recipes: update member %s: %w", m.path, err)
		}
		// The version ties the write to the node just checked.
		_, err = m.c.Set(ctx, m.path, data, stat.Version)
		if err == nil {
			return nil
		}
		if !errors.Is(err, client.ErrBadVersion) && !errors.Is(err, client.ErrNoNode) {
			return fmt.Errorf("recipes: update member %s: %w", m.path, err)
		}
	}
	return fmt.Errorf("recipes: update member %s: its version kept changing", m.path)
}

// Leave ends the membership: it deletes the member's node (unless it is
// gone or another's already) and closes Lost. Leave after the membership
// ended returns nil. If ctx ends first, Leave returns its error; the node
// is ephemeral and goes with the session at the latest.
func (m *Membership) Leave(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stop()
	select {
	case <-m.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	if m.c.Err() != nil {
		return nil // the session took the node with it
	}
	if err := deleteIfOwn(ctx, m.c, m.path, m.czxid); err != nil {
		return fmt.Errorf("recipes: leave group as %s: %w", m.path, err)
	}
	return nil
}

// GroupMembers returns the members of the group at dir, sorted by name. A
// group whose directory does not exist has no members.
func GroupMembers(ctx context.Context, c *client.Client, dir string) ([]Member, error) {
	if err := checkArgs("group members", c, dir); err != nil {
		return nil, err
	}
	members, err := readMembers(ctx, c, dir)
	if err != nil {
		return nil, fmt.Errorf("recipes: group members %s: %w", dir, err)
	}
	return members, nil
}

// readMembers lists dir and reads its children's data, in batches of
// ReadMulti (one state per batch: usually one batch).
func readMembers(ctx context.Context, c *client.Client, dir string) ([]Member, error) {
	names, _, err := c.Children(ctx, dir)
	if errors.Is(err, client.ErrNoNode) {
		return []Member{}, nil
	}
	if err != nil {
		return nil, err
	}
	paths := make([]string, len(names))
	for i, n := range names {
		paths[i] = znode.Join(dir, n)
	}
	nodes, err := readNodes(ctx, c, paths, false)
	if err != nil {
		return nil, err
	}
	members := make([]Member, 0, len(nodes))
	for i, n := range nodes {
		if n.err != nil {
			continue // left between the listing and the read
		}
		members = append(members, Member{Name: names[i], Data: n.data, Session: n.stat.EphemeralOwner})
	}
	return members, nil
}

// GroupWatch follows the members of a group: Members is the current
// membership, Changes delivers each new one. It is safe for concurrent
// use.
//
// It watches the group's directory with one persistent recursive watch,
// which reports joins, leaves and data updates alike (members are
// ephemeral, so they have no children to add noise), is set once rather
// than re-armed after each event (no gap in which a change goes
// unwatched), and is caught up by the member after a reconnect. After each
// batch of events it reads the membership again, so a snapshot is always
// one the group really had, or close to it (members read in one ReadMulti
// per batch).
type GroupWatch struct {
	c       *client.Client
	dir     string
	changes chan []Member
	r       *runner

	mu      sync.Mutex
	members []Member
}

// WatchGroup reads the members of the group at dir and starts following
// them, until Close, the end of ctx, or the end of the session.
func WatchGroup(ctx context.Context, c *client.Client, dir string) (*GroupWatch, error) {
	if err := checkArgs("watch group", c, dir); err != nil {
		return nil, err
	}
	pw, err := addPersistent(ctx, c, dir, true)
	if err != nil {
		return nil, fmt.Errorf("recipes: watch group %s: %w", dir, err)
	}
	// Read after the watch is set, so that no change after it is missed.
	members, err := readMembers(ctx, c, dir)
	if err != nil {
		pw.close(ctx)
		return nil, fmt.Errorf("recipes: watch group %s: %w", dir, err)
	}
	g := &GroupWatch{c: c, dir: dir, changes: make(chan []Member), members: members}
	g.r = startRunner(ctx, func(ctx context.Context) error { return g.loop(ctx, pw) }, func() { close(g.changes) })
	return g, nil
}

// loop reads the membership after each batch of events and reports it
// when it changed.
func (g *GroupWatch) loop(ctx context.Context, pw *persistentWatch) error {
	defer pw.close(ctx)
	var box mailbox[[]Member]
	for {
		select {
		case box.sendOn(g.changes) <- box.v:
			box.sent()
		case ev, ok := <-pw.events():
			if !ok {
				if err := pw.ended(ctx); err != nil {
					return err
				}
			} else {
				pw.batch(ev)
			}
			members, err := readMembers(ctx, g.c, g.dir)
			if err != nil {
				return err
			}
			g.mu.Lock()
			same := sameMembers(g.members, members)
			if !same {
				g.members = members
			}
			g.mu.Unlock()
			if !same {
				box.put(slices.Clone(members))
			}
		case <-ctx.Done():
			return ctx.Err()
		case <-g.c.Done():
			return g.c.Err()
		}
	}
}

// sameMembers reports whether two memberships are equal.
func sameMembers(a, b []Member) bool {
	return slices.EqualFunc(a, b, func(x, y Member) bool {
		return x.Name == y.Name && x.Session == y.Session && bytes.Equal(x.Data, y.Data)
	})
}

// Members returns the current membership, sorted by name. The slice is the
// caller's.
func (g *GroupWatch) Members() []Member {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.members)
}

// Changes returns the channel of new memberships, each a full snapshot
// sorted by name. A consumer that falls behind finds the newest snapshot
// waiting (intermediate ones are skipped, never the last). It is closed
// when the watch ends.
func (g *GroupWatch) Changes() <-chan []Member { return g.changes }

// Close ends the watch and removes it from the member. It waits for the
// watch's goroutine to finish, or for ctx.
func (g *GroupWatch) Close(ctx context.Context) error { return g.r.close(ctx) }

// Err returns nil while the watch runs, then why it ended: ErrWatchClosed
// after Close, the context's error, or the session's.
func (g *GroupWatch) Err() error { return g.r.Err() }
