package recipes

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/arbor-coord/arbor/client"
	"github.com/arbor-coord/arbor/recipes/internal/znode"
)

var (
	// ErrNotCounter is returned when a counter's node holds something
	// other than a decimal int64.
	ErrNotCounter = errors.New("recipes: node does not hold a counter")
	// ErrOverflow is returned by Counter.Add when the sum is outside the
	// range of int64; the counter is left as it was.
	ErrOverflow = errors.New("recipes: counter overflow")
)

// maxCounterAttempts bounds how often Add retries its compare-and-set when
// other writers keep changing the counter between its read and its write.
// Every failed attempt is another writer's success, so the counter makes
// progress; the bound only keeps one caller from retrying forever.
const maxCounterAttempts = 1000

// Counter is an int64 held by a persistent node as decimal text, changed
// atomically by compare-and-set on the node's version. A missing node
// reads as 0, and so does an empty one (as a node made by a create
// without data). A Counter is safe for concurrent use.
type Counter struct {
	c    *client.Client
	path string
	// err is the constructor's argument error, returned by every method.
	err error
}

// NewCounter returns the counter at path. It reaches no member. A nil c,
// or a path that is not a valid path or is the root, is reported by every
// call (with an error matching client.ErrBadArguments), which then changes
// nothing.
func NewCounter(c *client.Client, path string) *Counter {
	return &Counter{c: c, path: path, err: checkNodeArgs("NewCounter", c, path)}
}

// Get returns the counter's value.
func (n *Counter) Get(ctx context.Context) (int64, error) {
	if n.err != nil {
		return 0, n.err
	}
	v, _, err := n.read(ctx)
	if err != nil {
		return 0, fmt.Errorf("recipes: counter %s: get: %w", n.path, err)
	}
	return v, nil
}

// Add adds delta to the counter and returns the new value. It creates the
// node (and any missing ancestors) if it is missing. If the sum overflows
// int64, Add returns an error matching ErrOverflow and changes nothing.
//
// The write Add decides on runs to its outcome even if ctx ends (on a
// context bounded by the session timeout): Add then returns the new value
// if it was applied. If ctx ends before the write, Add returns the
// context's error and changed nothing. If the session ends while the
// write is in flight, the error wraps ErrUnknownOutcome: the add may have
// been applied or not.
func (n *Counter) Add(ctx context.Context, delta int64) (int64, error) {
	if n.err != nil {
		return 0, n.err
	}
	for range maxCounterAttempts {
		v, st, err := n.read(ctx)
		if err != nil {
			return 0, fmt.Errorf("recipes: counter %s: add: %w", n.path, err)
		}
		sum := v + delta
		if (delta > 0 && sum < v) || (delta < 0 && sum > v) {
			return 0, fmt.Errorf("recipes: counter %s: add %d to %d: %w", n.path, delta, v, ErrOverflow)
		}
		if err := ctx.Err(); err != nil {
			return 0, fmt.Errorf("recipes: counter %s: add: %w", n.path, err)
		}
		data := []byte(strconv.FormatInt(sum, 10))
		// Decided: see the write through even if ctx ends now, so that
		// its outcome is known. The bound is past the session timeout,
		// by which the client has had an answer or declared the
		// session expired.
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), n.c.SessionTimeout()+znode.MinCleanup)
		if st == nil {
			_, err = n.c.Create(wctx, n.path, data, client.WithParents())
		} else {
			_, err = n.c.Set(wctx, n.path, data, st.Version)
		}
		cancel()
		switch {
		case err == nil:
			return sum, nil
		case errors.Is(err, client.ErrBadVersion), errors.Is(err, client.ErrNodeExists), errors.Is(err, client.ErrNoNode):
			// Another writer came between the read and the write (or
			// the node was made or deleted): read again.
		case n.c.Err() != nil || wctx.Err() != nil:
			return 0, fmt.Errorf("recipes: counter %s: add %d: %w: the session ended while writing %d: %w", n.path, delta, ErrUnknownOutcome, sum, err)
		default:
			return 0, fmt.Errorf("recipes: counter %s: add: %w", n.path, err)
		}
	}
	return 0, fmt.Errorf("recipes: counter %s: add: gave up after %d attempts, each beaten by another writer: %w", n.path, maxCounterAttempts, client.ErrBadVersion)
}

// Set sets the counter to v, whatever it held (and creates the node, with
// any missing ancestors, if it is missing).
func (n *Counter) Set(ctx context.Context, v int64) error {
	if n.err != nil {
		return n.err
	}
	data := []byte(strconv.FormatInt(v, 10))
	for range maxCounterAttempts {
		_, err := n.c.Set(ctx, n.path, data, -1)
		if errors.Is(err, client.ErrNoNode) {
			_, err = n.c.Create(ctx, n.path, data, client.WithParents())
			if errors.Is(err, client.ErrNodeExists) {
				continue // made meanwhile: set it
			}
		}
		if err != nil {
			return fmt.Errorf("recipes: counter %s: set: %w", n.path, err)
		}
		return nil
	}
	return fmt.Errorf("recipes: counter %s: set: the node was made and deleted %d times in a row", n.path, maxCounterAttempts)
}

// read returns the counter's value and its node's Stat (nil if there is no
// node).
func (n *Counter) read(ctx context.Context) (int64, *client.Stat, error) {
	data, st, err := n.c.Get(ctx, n.path)
	if errors.Is(err, client.ErrNoNode) {
		return 0, nil, nil
	}
	if err != nil {
		return 0, nil, err
	}
	if len(data) == 0 {
		return 0, &st, nil
	}
	v, err := strconv.ParseInt(string(data), 10, 64)
	if err != nil {
		const show = 32
		s := string(data)
		if len(s) > show {
			s = s[:show] + "..."
		}
		return 0, nil, fmt.Errorf("%w: it holds %q, not a decimal int64", ErrNotCounter, s)
	}
	return v, &st, nil
}
