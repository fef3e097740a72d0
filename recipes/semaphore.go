package recipes

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/arbor-coord/arbor/client"
)

// Semaphore lets up to a fixed number of holders at a time hold one of its
// permits. Contenders line up as ephemeral sequential lease nodes under a
// directory node, and a contender holds a permit while fewer than permits
// leases are before its own, so permits are granted in the order asked for.
//
// The permit count is recorded in the directory node's data by the first
// contender, and a contender whose count differs is refused with
// ErrPermitsMismatch: two counts on one directory would let more holders in
// than either allows.
//
// A Semaphore value is one contender holding at most one permit; calls on
// it must not overlap (ErrBusy), as with Mutex.
type Semaphore struct {
	l       lease
	permits int
}

// NewSemaphore returns a contender for the semaphore of permits kept under
// dir on c's session. A permits below 1, or a dir that is not a valid path
// or is the root, is reported by every call, which then changes nothing.
func NewSemaphore(c *client.Client, dir string, permits int) *Semaphore {
	return &Semaphore{l: newLease(c, dir), permits: permits}
}

// semaphoreTag names a Semaphore's nodes: PREFIX "lease-" SEQUENCE.
const semaphoreTag = "lease-"

// maxRecordAttempts bounds how often recording the permit count retries
// when others change the directory node at the same time.
const maxRecordAttempts = 10

// Acquire waits until a permit is held. When ctx ends first, it removes
// its lease node and returns ctx's error; when the session ends, the
// session's error. It returns ErrHeld if this value holds a permit already,
// and ErrPermitsMismatch if the directory records another count.
//
// A waiter watches the directory's children rather than one node: the
// release of any of the leases before its own may make room, so watching
// one of them could miss its turn. A release therefore wakes every waiter
// of the semaphore, each of which lists the directory once.
func (s *Semaphore) Acquire(ctx context.Context) error {
	return s.acquire(ctx, "acquire", true)
}

// TryAcquire takes a permit if one is free and no one waits for one, and
// returns ErrLocked at once (having removed its lease node) otherwise.
func (s *Semaphore) TryAcquire(ctx context.Context) error {
	return s.acquire(ctx, "tryacquire", false)
}

func (s *Semaphore) acquire(ctx context.Context, op string, wait bool) error {
	if err := s.check(); err != nil {
		return fmt.Errorf("recipes: %s %s: %w", op, s.l.dir, err)
	}
	withinPermits := func(_ []contender, i int) (bool, string) { return i < s.permits, "" }
	return s.l.acquire(ctx, op, semaphoreTag, []string{semaphoreTag}, withinPermits, wait, s.recordPermits)
}

// Release gives the permit back by deleting its lease node. It returns
// ErrNotLocked if this value holds no permit; its other outcomes are
// Mutex.Unlock's.
func (s *Semaphore) Release(ctx context.Context) error {
	return s.l.release(ctx, "release", semaphoreTag)
}

// Lost returns a channel closed when the current hold of a permit ends:
// lost (the session ended, or the lease node was deleted by someone else)
// or released. When no permit is held it is closed already.
func (s *Semaphore) Lost() <-chan struct{} { return s.l.lostCh() }

// check says what is wrong with the semaphore's arguments.
func (s *Semaphore) check() error {
	if s.permits < 1 {
		return fmt.Errorf("permits %d: want 1 or more", s.permits)
	}
	if s.l.dir == "/" {
		return errors.New("the root cannot be a semaphore's directory: its data records the permits")
	}
	return nil
}

// recordPermits makes sure the directory node records this semaphore's
// permit count: it creates the node with the count, or writes the count
// into a node without data, or compares it with the recorded one. Run
// again once the contender's lease exists (when the directory cannot be
// reaped any more), it catches a directory that was reaped and made again
// without the count in between.
func (s *Semaphore) recordPermits(ctx context.Context) error {
	want := []byte(strconv.Itoa(s.permits))
	for range maxRecordAttempts {
		data, stat, err := s.l.c.Get(ctx, s.l.dir)
		switch {
		case errors.Is(err, client.ErrNoNode):
			_, err := s.l.c.Create(ctx, s.l.dir, want, client.WithMode(client.ModeContainer), client.WithParents())
			if err == nil {
				return nil
			}
			if !errors.Is(err, client.ErrNodeExists) {
				return err
			}
			continue
		case err != nil:
			return err
		case len(data) == 0:
			// Made without the count (by a contender's create, or by
			// someone else): record ours, unless another is first.
			_, err := s.l.c.Set(ctx, s.l.dir, want, stat.Version)
			if err == nil {
				return nil
			}
			if !errors.Is(err, client.ErrBadVersion) && !errors.Is(err, client.ErrNoNode) {
				return err
			}
			continue
		case bytes.Equal(data, want):
			return nil
		}
		n, perr := strconv.Atoi(string(data))
		if perr != nil || n < 1 {
			return fmt.Errorf("directory data %.32q is not a permit count", data)
		}
		return fmt.Errorf("%w: the directory records %d, this semaphore has %d", ErrPermitsMismatch, n, s.permits)
	}
	return fmt.Errorf("directory %s kept changing while the permit count was recorded", s.l.dir)
}
