package server

import (
	"sync"

	"github.com/arbor-coord/arbor/tree"
)

// waitRegistry matches applied results to the requests waiting for them,
// by request id (as etcd's pkg/wait). Safe for concurrent use.
//
// A waiter may also keep its proposal for a retry (retryable): after a
// leader change, the proposals of an older term may have been lost with
// the old leader, and those that are safe to apply twice are proposed
// again (stale).
type waitRegistry struct {
	mu      sync.Mutex
	waiters map[tree.RequestID]*waiter
}

type waiter struct {
	ch   chan tree.Result
	data []byte // the proposal, if retryable
	term uint64 // the raft term it was last proposed in
}

func newWaitRegistry() *waitRegistry {
	return &waitRegistry{waiters: make(map[tree.RequestID]*waiter)}
}

// register returns the channel that will receive id's result. Registering
// an id twice is a bug.
func (w *waitRegistry) register(id tree.RequestID) <-chan tree.Result {
	ch := make(chan tree.Result, 1)
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, dup := w.waiters[id]; dup {
		panic("server: request id registered twice")
	}
	w.waiters[id] = &waiter{ch: ch}
	return ch
}

// retryable keeps data, id's proposal, made in term, for stale. Only a
// proposal that applies once however often it is committed may be kept.
func (w *waitRegistry) retryable(id tree.RequestID, data []byte, term uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if wt := w.waiters[id]; wt != nil {
		wt.data, wt.term = data, term
	}
}

// stale returns the retryable proposals last made before term, and
// records them as made in term.
func (w *waitRegistry) stale(term uint64) [][]byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out [][]byte
	for _, wt := range w.waiters {
		if wt.data != nil && wt.term < term {
			out = append(out, wt.data)
			wt.term = term
		}
	}
	return out
}

// trigger delivers the result of id to its waiter, if there is one. It
// never blocks. It reports whether a waiter was found.
func (w *waitRegistry) trigger(id tree.RequestID, r tree.Result) bool {
	w.mu.Lock()
	wt, ok := w.waiters[id]
	delete(w.waiters, id)
	w.mu.Unlock()
	if ok {
		wt.ch <- r
	}
	return ok
}

// cancel forgets id: its result, if it ever comes, goes nowhere.
func (w *waitRegistry) cancel(id tree.RequestID) {
	w.mu.Lock()
	delete(w.waiters, id)
	w.mu.Unlock()
}

func (w *waitRegistry) len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.waiters)
}
