package server

import (
	"context"
	"sync"
)

// appliedIndex tracks the member's applied index for readers that must
// not read behind a zxid they were given (a client's last zxid, a sync's
// read index). The state machine advances it after each applied run.
type appliedIndex struct {
	mu      sync.Mutex
	applied uint64
	moved   chan struct{} // closed, and replaced, whenever applied advances
}

func newAppliedIndex(applied uint64) *appliedIndex {
	return &appliedIndex{applied: applied, moved: make(chan struct{})}
}

func (a *appliedIndex) advance(i uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if i > a.applied {
		a.applied = i
		close(a.moved)
		a.moved = make(chan struct{})
	}
}

// wait returns once the applied index is at least i, or ctx's error.
func (a *appliedIndex) wait(ctx context.Context, i uint64) error {
	for {
		a.mu.Lock()
		applied, moved := a.applied, a.moved
		a.mu.Unlock()
		if applied >= i {
			return nil
		}
		select {
		case <-moved:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// get returns the applied index.
func (a *appliedIndex) get() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.applied
}
