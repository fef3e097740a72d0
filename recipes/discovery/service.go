package discovery

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/arbor-coord/arbor/client"
	"github.com/arbor-coord/arbor/recipes/internal/znode"
)

// maxConverge bounds the reads that try to see the list of instances and
// the data of every one at one zxid while instances come and go.
const maxConverge = 4

// Instances returns the live instances of root/service, sorted by ID, read
// at one zxid (for services of up to MaxReadBatch instances). A service
// with no node has none. Entries that cannot be decoded are skipped: the
// error then matches ErrUndecodable and names them, and the instances
// returned beside it are the good ones.
func Instances(ctx context.Context, c *client.Client, root, service string) ([]Instance, error) {
	dir, err := serviceDir("instances", root, service)
	if err != nil {
		return nil, err
	}
	insts, skipped, err := readService(ctx, c, dir, nil)
	if err != nil {
		return nil, fmt.Errorf("discovery: instances of %s: %w", dir, err)
	}
	return insts, undecodable(dir, skipped)
}

// undecodable returns the ErrUndecodable for the entries skipped, or nil.
func undecodable(dir string, skipped []string) error {
	if len(skipped) == 0 {
		return nil
	}
	return fmt.Errorf("discovery: instances of %s: %d skipped (%s): %w", dir, len(skipped), strings.Join(skipped, "; "), ErrUndecodable)
}

// readService reads the instances of dir. guess is the list of IDs
// expected (the last view's): the list and their data are read in one
// ReadMulti, and again with the list it returned until the two agree, so
// that the view is of one zxid. skipped says which entries could not be
// decoded, and why.
func readService(ctx context.Context, c *client.Client, dir string, guess []string) (insts []Instance, skipped []string, err error) {
	ids := guess
	for attempt := 0; ; attempt++ {
		ops := []client.ReadOp{client.ChildrenOp(dir)}
		for _, id := range ids[:min(len(ids), MaxReadBatch)] {
			ops = append(ops, client.GetOp(znode.Join(dir, id)))
		}
		res, err := c.ReadMulti(ctx, ops...)
		if err != nil {
			return nil, nil, err
		}
		if errors.Is(res[0].Err, client.ErrNoNode) {
			return nil, nil, nil
		}
		if res[0].Err != nil {
			return nil, nil, res[0].Err
		}
		children := res[0].Children
		if !slices.Equal(children, ids) && attempt < maxConverge {
			ids = children
			continue
		}
		// Either one view, or the list kept changing: then the data
		// read is of the IDs asked for, and those of the list not
		// asked for are read now (a later state, still each a whole
		// instance).
		got := map[string]client.ReadResult{}
		for i, id := range ids[:len(ops)-1] {
			got[id] = res[i+1]
		}
		var rest []string
		for _, id := range children {
			if _, ok := got[id]; !ok {
				rest = append(rest, id)
			}
		}
		for len(rest) > 0 {
			batch := rest[:min(len(rest), MaxReadBatch)]
			rest = rest[len(batch):]
			ops := make([]client.ReadOp, len(batch))
			for i, id := range batch {
				ops[i] = client.GetOp(znode.Join(dir, id))
			}
			res, err := c.ReadMulti(ctx, ops...)
			if err != nil {
				return nil, nil, err
			}
			for i, id := range batch {
				got[id] = res[i]
			}
		}
		for _, id := range children {
			r := got[id]
			switch {
			case errors.Is(r.Err, client.ErrNoNode):
				// Gone between the list and the read.
			case r.Err != nil:
				skipped = append(skipped, fmt.Sprintf("%s: %v", id, r.Err))
			default:
				inst, err := decode(id, r.Data)
				if err != nil {
					skipped = append(skipped, fmt.Sprintf("%s: %v", id, err))
					continue
				}
				insts = append(insts, inst)
			}
		}
		return insts, skipped, nil
	}
}

// Service is the live instances of one service, kept current by Watch. It
// is safe for concurrent use.
type Service struct {
	c   *client.Client
	dir string
	w   *client.Watcher

	mu      sync.Mutex
	insts   []Instance // sorted by ID; never modified once published
	skipped []string
	err     error

	changes chan []Instance // one slot: the latest view not yet taken
	cancel  context.CancelFunc
	done    chan struct{} // closed when run has returned
}

// Watch reads the instances of root/service and keeps them current until
// Close or the end of c's session, with one persistent recursive watch
// (set before the first read, so nothing is missed between). ctx bounds
// the watch's setup and first read only.
func Watch(ctx context.Context, c *client.Client, root, service string) (*Service, error) {
	dir, err := serviceDir("watch", root, service)
	if err != nil {
		return nil, err
	}
	w, err := c.AddWatch(ctx, dir, true)
	if err != nil {
		return nil, fmt.Errorf("discovery: watch %s: %w", dir, err)
	}
	insts, skipped, err := readService(ctx, c, dir, nil)
	if err != nil {
		znode.Cleanup(ctx, c, w.Close)
		return nil, fmt.Errorf("discovery: watch %s: %w", dir, err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	s := &Service{
		c: c, dir: dir, w: w, insts: insts, skipped: skipped,
		changes: make(chan []Instance, 1), cancel: cancel, done: make(chan struct{}),
	}
	s.changes <- insts
	go s.run(runCtx)
	return s, nil
}

// Instances returns the current instances, sorted by ID. The slice is
// shared: do not modify it.
func (s *Service) Instances() []Instance {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.insts
}

// Skipped returns the entries of the current view that could not be
// decoded, each "ID: why".
func (s *Service) Skipped() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.skipped)
}

// Changes returns a channel that receives the instances (sorted by ID, not
// to be modified) each time they change, starting with the first view. It
// holds only the latest view: a slow reader misses intermediate ones,
// never the last. It is closed when the Service ends (Err says why).
func (s *Service) Changes() <-chan []Instance { return s.changes }

// Err returns nil while the Service is kept current, then why it stopped:
// ErrClosed after Close, or the session's error.
func (s *Service) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Pick chooses an instance with b. It returns ErrNoInstances if there are
// none, and refuses (with an error wrapping Err) once the Service has
// ended, since its view may be stale.
func (s *Service) Pick(b Balancer) (Instance, Done, error) {
	s.mu.Lock()
	insts, err := s.insts, s.err
	s.mu.Unlock()
	if err != nil {
		return Instance{}, nil, fmt.Errorf("discovery: pick from %s: %w", s.dir, err)
	}
	inst, done, err := b.Pick(insts)
	if err != nil {
		return Instance{}, nil, fmt.Errorf("discovery: pick from %s: %w", s.dir, err)
	}
	return inst, done, nil
}

// Close stops keeping the instances current and removes the watch. It
// waits, bounded by ctx, for the Service's goroutine to return (which
// removes the watch on a context of its own, bounded by the session
// timeout). Close after the Service ended returns nil.
func (s *Service) Close(ctx context.Context) error {
	s.cancel()
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("discovery: close %s: %w", s.dir, ctx.Err())
	}
}

// run applies the watch's events until ctx ends (Close) or the session
// does. Events are coalesced: one read answers every event that arrived
// before it.
func (s *Service) run(ctx context.Context) {
	defer close(s.done)
	defer close(s.changes)
	// Take the watch back from the members, unless the session ended
	// (which took it): on a fresh context, as Close's may be short.
	defer znode.Cleanup(ctx, s.c, func(ctx context.Context) error { return s.w.Close(ctx) })
	for {
		if !s.next(ctx) {
			return
		}
		// Take every event already queued: the read below sees them
		// all.
		for drained := false; !drained; {
			select {
			case _, ok := <-s.w.Events():
				if !ok {
					drained = true
				}
			default:
				drained = true
			}
		}
		if !s.refresh(ctx) {
			return
		}
	}
}

// next waits for an event about the service (or a reason to read again)
// and reports whether to go on.
func (s *Service) next(ctx context.Context) bool {
	for {
		select {
		case ev, ok := <-s.w.Events():
			if ok {
				if ev.Path == s.dir || parent(ev.Path) == s.dir {
					return true
				}
				continue // a node below an instance: not ours
			}
			if errors.Is(s.w.Err(), client.ErrWatcherOverflow) {
				// We fell behind: set the watch again and read
				// the whole list, which is what an event would
				// have made us do anyway.
				w, err := s.c.AddWatch(ctx, s.dir, true)
				if err != nil {
					return s.finish(ctx, err)
				}
				s.w = w
				return true
			}
			return s.finish(ctx, s.w.Err())
		case <-s.c.Done():
			return s.finish(ctx, s.c.Err())
		case <-ctx.Done():
			return s.finish(ctx, nil)
		}
	}
}

// refresh reads the instances again and publishes them if they changed.
// It reports whether to go on.
func (s *Service) refresh(ctx context.Context) bool {
	for {
		s.mu.Lock()
		guess := make([]string, len(s.insts))
		for i, inst := range s.insts {
			guess[i] = inst.ID
		}
		s.mu.Unlock()
		insts, skipped, err := readService(ctx, s.c, s.dir, guess)
		if err == nil {
			s.publish(insts, skipped)
			return true
		}
		if ctx.Err() != nil || s.c.Err() != nil {
			return s.finish(ctx, s.c.Err())
		}
		// Neither the session nor Close: a member's refusal (it was
		// too far behind, say). Keep the last view and read again.
		sleep(ctx, s.c, retryWait)
	}
}

// publish makes insts the current view, if it differs from it.
func (s *Service) publish(insts []Instance, skipped []string) {
	s.mu.Lock()
	same := slices.EqualFunc(insts, s.insts, equal)
	s.insts, s.skipped = insts, skipped
	s.mu.Unlock()
	if same {
		return
	}
	// Replace a view not yet taken, so the slot holds the latest.
	select {
	case <-s.changes:
	default:
	}
	s.changes <- insts
}

// finish records why the Service ended and returns false. ctx's end is
// Close's doing unless the session ended first.
func (s *Service) finish(ctx context.Context, err error) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.c.Err() != nil:
		s.err = fmt.Errorf("discovery: watch %s: session ended: %w", s.dir, s.c.Err())
	case ctx.Err() != nil:
		s.err = ErrClosed
	case err != nil:
		s.err = fmt.Errorf("discovery: watch %s: %w", s.dir, err)
	default:
		s.err = ErrClosed
	}
	return false
}

// equal reports whether a and b are the same instance, data and all.
func equal(a, b Instance) bool {
	return a.ID == b.ID && a.Addr == b.Addr && a.Weight == b.Weight && maps.Equal(a.Meta, b.Meta)
}

// parent returns the parent of path.
func parent(path string) string {
	i := strings.LastIndexByte(path, '/')
	if i <= 0 {
		return "/"
	}
	return path[:i]
}
