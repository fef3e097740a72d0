package raftnode

import (
	"sync"

	"go.etcd.io/raft/v3"
)

// maxReportedPeers bounds the peers whose reports wait for the Ready loop
// at one time; reports about further peers are dropped. A transport
// reports only peers raft sent to, the members of the group, so the bound
// is never reached in practice.
const maxReportedPeers = 1024

// reports holds the transport's reports until the Ready loop takes them.
// They coalesce per peer, which bounds them without losing what matters:
// one unreachable report per peer says as much as many, and only the
// latest snapshot status of a peer counts (a lost SnapshotFailure would
// leave the peer paused, NOTES.md).
type reports struct {
	mu          sync.Mutex
	unreachable map[uint64]struct{}
	snapshot    map[uint64]raft.SnapshotStatus
}

// ReportUnreachable tells raft that a message to peer id was lost, so that
// a leader stops pipelining appends to it until it answers. It never
// blocks: the report waits for the Ready loop, merged with the others
// about id. It is a no-op on a stopped Node.
func (n *Node) ReportUnreachable(id uint64) {
	if n.stopped() {
		return
	}
	r := &n.reports
	r.mu.Lock()
	if _, ok := r.unreachable[id]; !ok {
		if r.unreachable == nil {
			r.unreachable = make(map[uint64]struct{})
		}
		if len(r.unreachable) >= maxReportedPeers {
			r.mu.Unlock()
			return
		}
		r.unreachable[id] = struct{}{}
	}
	r.mu.Unlock()
	n.wakeForReports()
}

// ReportSnapshot tells raft how sending a snapshot to peer id ended. It
// never blocks: the report waits for the Ready loop, replacing an earlier
// one about id that the loop has not taken yet. It is a no-op on a stopped
// Node.
func (n *Node) ReportSnapshot(id uint64, status raft.SnapshotStatus) {
	if n.stopped() {
		return
	}
	r := &n.reports
	r.mu.Lock()
	if _, ok := r.snapshot[id]; !ok {
		if r.snapshot == nil {
			r.snapshot = make(map[uint64]raft.SnapshotStatus)
		}
		if len(r.snapshot) >= maxReportedPeers {
			r.mu.Unlock()
			return
		}
	}
	r.snapshot[id] = status
	r.mu.Unlock()
	n.wakeForReports()
}

func (n *Node) wakeForReports() {
	select {
	case n.reportc <- struct{}{}:
	default: // the loop is already woken
	}
}

// takeReports hands the waiting reports to raft. It runs on the Ready loop.
func (n *Node) takeReports() {
	r := &n.reports
	r.mu.Lock()
	unreachable, snapshot := r.unreachable, r.snapshot
	r.unreachable, r.snapshot = nil, nil
	r.mu.Unlock()
	for id := range unreachable {
		n.rn.ReportUnreachable(id)
	}
	for id, status := range snapshot {
		n.rn.ReportSnapshot(id, status)
	}
}
