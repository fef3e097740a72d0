package discovery

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/arbor-coord/arbor/client"
	"github.com/arbor-coord/arbor/recipes/internal/znode"
)

const (
	// maxAttempts bounds the retries of a write that races with others
	// (a node created or deleted under it, a version moved on).
	maxAttempts = 8
	// retryWait is how long a watch that failed for a reason other
	// than the session's end waits before it looks again.
	retryWait = 200 * time.Millisecond
)

// Registration is one instance registered by Register. It is safe for
// concurrent use.
type Registration struct {
	c     *client.Client
	path  string
	czxid int64 // the node's Czxid: tells ours from a later node of the same name

	mu   sync.Mutex
	inst Instance
	err  error // why it was lost, once lost is closed

	lost   chan struct{} // closed when lost
	stop   chan struct{} // closed by Deregister
	once   sync.Once     // closes stop
	done   chan struct{} // closed when the monitor has returned
	cancel context.CancelFunc
}

// Register registers inst under root/service (made if missing: root as
// persistent nodes, the service's node as a container, deleted by the
// members once its last instance is gone) as an ephemeral node of c's
// session, and watches it until Deregister or its loss.
//
// service and inst.ID must each be one path element, inst.Addr not empty
// and inst.Weight 0 to MaxWeight. An ID registered by another session
// fails with ErrDuplicate (a restarted process sees it until its previous
// session has expired); one registered by this session is adopted, with
// its data updated to inst. If ctx ends while the node's create is in
// flight, Register deletes the node if it was made (on a fresh context
// bounded by the session timeout) and returns ctx's error.
func Register(ctx context.Context, c *client.Client, root, service string, inst Instance) (*Registration, error) {
	dir, err := serviceDir("register", root, service)
	if err != nil {
		return nil, err
	}
	inst, data, err := encode("register", inst)
	if err != nil {
		return nil, err
	}
	path := znode.Join(dir, inst.ID)
	for attempt := 0; attempt < maxAttempts; attempt++ {
		stat, err := c.Exists(ctx, path)
		if err == nil {
			if stat.EphemeralOwner != c.SessionID() {
				return nil, duplicate(path, stat)
			}
			// Ours already, from an earlier Register of this session:
			// adopt it, if it is still the same node.
			st, err := c.Set(ctx, path, data, stat.Version)
			if errors.Is(err, client.ErrBadVersion) || errors.Is(err, client.ErrNoNode) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("discovery: register %s: %w", path, err)
			}
			return watchRegistration(c, path, st.Czxid, inst), nil
		}
		if !errors.Is(err, client.ErrNoNode) {
			return nil, fmt.Errorf("discovery: register %s: %w", path, err)
		}
		// A node of ours made by this create has a Czxid past every zxid
		// seen so far: that tells it from one made before.
		seen := int64(c.LastZxid())
		res, err := c.Multi(ctx, client.CreateOp(path, data, client.WithMode(client.ModeEphemeral)))
		switch {
		case err == nil:
			return watchRegistration(c, path, res[0].Stat.Czxid, inst), nil
		case errors.Is(err, client.ErrNodeExists):
			// Made since we looked: look at whose it is.
			continue
		case errors.Is(err, client.ErrNoNode):
			// The service's node is missing (never made, or reaped
			// as an empty container): make it and try again.
			if err := znode.EnsureDir(ctx, c, dir); err != nil {
				return nil, fmt.Errorf("discovery: register %s: %w", path, err)
			}
			continue
		case ctx.Err() != nil:
			znode.Cleanup(ctx, c, func(ctx context.Context) error { return deleteIfOurs(ctx, c, path, seen) })
		}
		return nil, fmt.Errorf("discovery: register %s: %w", path, err)
	}
	return nil, fmt.Errorf("discovery: register %s: the node kept changing under %d attempts", path, maxAttempts)
}

// duplicate returns the ErrDuplicate for the node at path.
func duplicate(path string, stat client.Stat) error {
	if stat.EphemeralOwner == 0 {
		return fmt.Errorf("discovery: register %s: held by a node that is not ephemeral, so not a registration: %w", path, ErrDuplicate)
	}
	return fmt.Errorf("discovery: register %s: registered by session %#x (if it was this process's earlier session, it goes when that session expires): %w",
		path, stat.EphemeralOwner, ErrDuplicate)
}

// deleteIfOurs deletes the node at path if this session made it after
// zxid seen. It syncs first, so that a create still in flight is applied
// (or refused) before it looks.
func deleteIfOurs(ctx context.Context, c *client.Client, path string, seen int64) error {
	if err := c.Sync(ctx, path); err != nil {
		return err
	}
	stat, err := c.Exists(ctx, path)
	if errors.Is(err, client.ErrNoNode) {
		return nil
	}
	if err != nil {
		return err
	}
	if stat.EphemeralOwner != c.SessionID() || stat.Czxid <= seen {
		return nil
	}
	return c.Delete(ctx, path, -1)
}

// watchRegistration returns the registration of the node at path and
// starts its monitor.
func watchRegistration(c *client.Client, path string, czxid int64, inst Instance) *Registration {
	ctx, cancel := context.WithCancel(context.Background())
	r := &Registration{
		c: c, path: path, czxid: czxid, inst: inst,
		lost: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{}), cancel: cancel,
	}
	go r.monitor(ctx)
	return r
}

// Instance returns the instance as last registered or updated.
func (r *Registration) Instance() Instance {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.inst
}

// Path returns the registration's node.
func (r *Registration) Path() string { return r.path }

// Lost returns a channel closed when the registration is lost: the
// session ended, or the node was deleted (or replaced) by someone else.
// Err then says why. It is not closed by Deregister.
func (r *Registration) Lost() <-chan struct{} { return r.lost }

// Err returns nil until the registration is lost, then why (an error
// matching ErrLost, and the session's error if it ended).
func (r *Registration) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// Update replaces the registered data with inst's (inst.ID must be the
// registration's ID, or empty). It fails with ErrLost if the registration
// is lost or deregistered. If ctx ends while the write is in flight, the
// node holds either the old data or the new.
func (r *Registration) Update(ctx context.Context, inst Instance) error {
	id := znode.Base(r.path)
	if inst.ID == "" {
		inst.ID = id
	}
	if inst.ID != id {
		return fmt.Errorf("discovery: update %s: instance ID %q is not the registration's %q: %w", r.path, inst.ID, id, client.ErrBadArguments)
	}
	inst, data, err := encode("update", inst)
	if err != nil {
		return err
	}
	for attempt := 0; attempt < maxAttempts; attempt++ {
		select {
		case <-r.stop:
			return fmt.Errorf("discovery: update %s: deregistered: %w", r.path, ErrLost)
		default:
		}
		stat, err := r.c.Exists(ctx, r.path)
		if errors.Is(err, client.ErrNoNode) || (err == nil && !r.ours(stat)) {
			return fmt.Errorf("discovery: update %s: the node is gone: %w", r.path, ErrLost)
		}
		if err != nil {
			return r.lostOr("update", err)
		}
		// The version ties the write to the node we just saw to be ours.
		_, err = r.c.Set(ctx, r.path, data, stat.Version)
		if errors.Is(err, client.ErrBadVersion) || errors.Is(err, client.ErrNoNode) {
			continue
		}
		if err != nil {
			return r.lostOr("update", err)
		}
		r.mu.Lock()
		r.inst = inst
		r.mu.Unlock()
		return nil
	}
	return fmt.Errorf("discovery: update %s: the node kept changing under %d attempts", r.path, maxAttempts)
}

// Deregister deletes the registration's node, if it is still ours, and
// stops watching it; Lost is not closed. Deregistering twice, or after the
// registration was lost, returns nil. If ctx ends first, the delete is
// still tried on a fresh context bounded by the session timeout, so that
// callers do not go on being sent calls, and Deregister returns ctx's
// error.
func (r *Registration) Deregister(ctx context.Context) error {
	r.once.Do(func() { close(r.stop) })
	r.cancel()
	err := r.deleteOwn(ctx)
	if err != nil && ctx.Err() != nil {
		znode.Cleanup(ctx, r.c, r.deleteOwn)
		return ctx.Err()
	}
	if err != nil && r.c.Err() != nil {
		// The session ended, and its ephemeral node with it.
		return nil
	}
	<-r.done // the monitor returns at once: its context is cancelled
	if err != nil {
		return fmt.Errorf("discovery: deregister %s: %w", r.path, err)
	}
	return nil
}

// deleteOwn deletes the node if it is still the one registered.
func (r *Registration) deleteOwn(ctx context.Context) error {
	for attempt := 0; attempt < maxAttempts; attempt++ {
		stat, err := r.c.Exists(ctx, r.path)
		if errors.Is(err, client.ErrNoNode) || (err == nil && !r.ours(stat)) {
			return nil
		}
		if err != nil {
			return err
		}
		err = r.c.Delete(ctx, r.path, stat.Version)
		if err == nil || errors.Is(err, client.ErrNoNode) {
			return nil
		}
		if !errors.Is(err, client.ErrBadVersion) {
			return err
		}
	}
	return fmt.Errorf("the node kept changing under %d attempts", maxAttempts)
}

// ours reports whether stat is the registration's node.
func (r *Registration) ours(stat client.Stat) bool {
	return stat.EphemeralOwner == r.c.SessionID() && stat.Czxid == r.czxid
}

// lostOr wraps err, adding ErrLost if the session ended.
func (r *Registration) lostOr(op string, err error) error {
	if r.c.Err() != nil {
		return fmt.Errorf("discovery: %s %s: %w: %w", op, r.path, ErrLost, err)
	}
	return fmt.Errorf("discovery: %s %s: %w", op, r.path, err)
}

// monitor watches the node until it is lost or ctx ends (Deregister). A
// data watch (GetW) suffices: its deletion fires it, and an update
// (Update's or another's) re-arms it.
func (r *Registration) monitor(ctx context.Context) {
	defer close(r.done)
	for {
		_, stat, ch, err := r.c.GetW(ctx, r.path)
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, client.ErrNoNode):
			r.lose(errors.New("its node was deleted"))
			return
		case r.c.Err() != nil:
			r.lose(r.c.Err())
			return
		case err != nil:
			// Not the session's end, nor the node's: look again soon
			// (the next look sees ctx's end or the session's).
			sleep(ctx, r.c, retryWait)
			continue
		case !r.ours(stat):
			r.lose(fmt.Errorf("its node was replaced by one of session %#x", stat.EphemeralOwner))
			return
		}
		select {
		case <-ch:
			// Deleted, changed, or the watch removed (the channel
			// closed without an event): look again, which tells
			// which.
		case <-r.c.Done():
			r.lose(r.c.Err())
			return
		case <-ctx.Done():
			return
		}
	}
}

// lose records why the registration was lost and closes Lost, unless it
// was deregistered meanwhile.
func (r *Registration) lose(why error) {
	select {
	case <-r.stop:
		return
	default:
	}
	r.mu.Lock()
	r.err = fmt.Errorf("%w: %s: %w", ErrLost, r.path, why)
	r.mu.Unlock()
	close(r.lost)
}

// sleep waits d, or less if ctx ends or c's session does.
func sleep(ctx context.Context, c *client.Client, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	case <-c.Done():
	}
}
