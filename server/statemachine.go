package server

import (
	"context"
	"fmt"

	"github.com/arbor-coord/arbor/server/raftnode"
	"github.com/arbor-coord/arbor/tree"
)

// stateMachine is the raftnode.Applier: it applies committed entries to
// the tree and releases the requests waiting for them.
type stateMachine struct {
	tree  *tree.Tree
	waits *waitRegistry
	// events, if set, receives the watch events of each result before that
	// result's waiter is released. It runs on the Ready loop: it must only
	// enqueue.
	events func([]tree.Event)
	// applied, if set, is advanced after each applied run.
	applied *appliedIndex
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
	results, err := sm.tree.Apply(batch)
	if err != nil {
		return err
	}
	for i := range results {
		if batch[i].Cmd == nil {
			continue
		}
		if evs := results[i].Events; len(evs) > 0 && sm.events != nil {
			sm.events(evs)
		}
		sm.waits.trigger(results[i].ID, results[i])
	}
	if sm.applied != nil {
		sm.applied.advance(entries[len(entries)-1].Index)
	}
	return nil
}
