package server

import (
	"sync"

	"github.com/arbor-coord/arbor/tree"
)

// waitRegistry matches applied results to the requests waiting for them,
// by request id (as etcd's pkg/wait). Safe for concurrent use.
type waitRegistry struct {
	mu      sync.Mutex
	waiters map[tree.RequestID]chan tree.Result
}

func newWaitRegistry() *waitRegistry {
	return &waitRegistry{waiters: make(map[tree.RequestID]chan tree.Result)}
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
	w.waiters[id] = ch
	return ch
}

// trigger delivers the result of id to its waiter, if there is one. It
// never blocks. It reports whether a waiter was found.
func (w *waitRegistry) trigger(id tree.RequestID, r tree.Result) bool {
	w.mu.Lock()
	ch, ok := w.waiters[id]
	delete(w.waiters, id)
	w.mu.Unlock()
	if ok {
		ch <- r
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
