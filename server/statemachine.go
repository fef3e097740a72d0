package server

import (
	"context"
	"fmt"
	"io"
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
	// restored, if set, is called after a snapshot replaced the state.
	// The watch events of the entries the snapshot stands for were never
	// fired; the server closes its client connections, whose clients
	// resume and re-register their watches with a catch-up from their
	// last zxid.
	restored func()
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

// Checkpoint returns a view of the tree as of the last applied entry, for
// raftnode to stream to members that lag past the compacted log.
func (sm *stateMachine) Checkpoint() (raftnode.Checkpoint, error) {
	cp, err := sm.tree.Checkpoint()
	if err != nil {
		return nil, err
	}
	return treeCheckpoint{cp}, nil
}

// Flush starts writing the applied state to disk, for raftnode to
// compact the log behind it once it is there.
func (sm *stateMachine) Flush() (<-chan struct{}, error) { return sm.tree.Flush() }

// treeCheckpoint is a tree.Checkpoint as raftnode sees it.
type treeCheckpoint struct{ *tree.Checkpoint }

func (c treeCheckpoint) Export(w io.Writer) error {
	_, err := c.Checkpoint.Export(w)
	return err
}

// Restore replaces the tree with a snapshot received from the leader, at
// index, holding the view lock so that readers never see it half done.
// Requests waiting for entries inside the snapshot are not released: they
// time out and their clients retry (idempotently, by session sequence).
func (sm *stateMachine) Restore(_ context.Context, index uint64, r io.Reader) error {
	if sm.view != nil {
		sm.view.Lock()
		defer sm.view.Unlock()
	}
	dg, err := sm.tree.Import(r)
	if err != nil {
		return fmt.Errorf("restore the snapshot at %d: %w", index, err)
	}
	if dg.Index != index {
		return fmt.Errorf("restore: the snapshot received for index %d holds the state at %d", index, dg.Index)
	}
	// Sessions created and ended in the entries the snapshot stands for
	// were never observed: follow the restored state instead.
	if ss := sm.sessions.Load(); ss != nil {
		if err := ss.reload(); err != nil {
			return fmt.Errorf("restore the snapshot at %d: %w", index, err)
		}
	}
	if sm.applied != nil {
		sm.applied.advance(index)
	}
	// Nor were their watch events fired.
	if sm.restored != nil {
		sm.restored()
	}
	return nil
}
