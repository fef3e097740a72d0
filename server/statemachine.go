package server

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/arbor-coord/arbor/server/raftnode"
	"github.com/arbor-coord/arbor/tree"
)

// stateMachine is the raftnode.Applier: it applies committed entries to
// the tree and releases the requests waiting for them.
type stateMachine struct {
	tree  *tree.Tree
	waits *waitRegistry
	// view, if set, is write-locked from before the tree applies a run
	// until observe has returned (see replicaConfig.view).
	view *sync.RWMutex
	// observe, if set, sees each applied run (the entries and their
	// results: watch events, sessions ended) before any of its waiters is
	// released, so that a client always sees a watch event before the
	// response that reflects the change. It runs on the Ready loop: it
	// must only enqueue.
	observe func(batch []tree.Entry, results []tree.Result)
	// applied, if set, is advanced after each applied run.
	applied *appliedIndex
	// sessions, once set (newSessions), follows the sessions each run
	// creates and ends, after observe.
	sessions atomic.Pointer[sessions]
}

// Apply decodes a run of committed entries and applies it to the tree as
// one batch. Entries without a command (Raft's empty entries and conf
// changes) only advance the applied index. A committed entry that does not
// decode stops the member: skipping it would make its state diverge.
func (sm *stateMachine) Apply(_ context.Context, entries []raftnode.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	batch := make([]tree.Entry, len(entries))
	for i, e := range entries {
		batch[i].Index = e.Index
		if e.Type != raftnode.EntryNormal || len(e.Data) == 0 {
			continue
		}
		cmd, err := tree.DecodeCommand(e.Data)
		if err != nil {
			return fmt.Errorf("apply entry %d: %w", e.Index, err)
		}
		batch[i].Cmd = cmd
	}
	if sm.view != nil {
		sm.view.Lock()
	}
	results, err := sm.tree.Apply(batch)
	if err == nil && sm.observe != nil {
		sm.observe(batch, results)
	}
	if ss := sm.sessions.Load(); err == nil && ss != nil {
		ss.observe(batch, results)
	}
	if sm.view != nil {
		sm.view.Unlock()
	}
	if err != nil {
		return err
	}
	for i := range results {
		if batch[i].Cmd != nil {
			sm.waits.trigger(results[i].ID, results[i])
		}
	}
	if sm.applied != nil {
		sm.applied.advance(entries[len(entries)-1].Index)
	}
	return nil
}
