package raftnode

import (
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"go.etcd.io/raft/v3"
)

// TestReportsNeverBlock: the transport's reports return at once while the
// Ready loop is held in an fsync, however many come; they wait merged per
// peer, and the loop takes them once it runs again.
func TestReportsNeverBlock(t *testing.T) {
	s := openStore(t, vfs.NewMem(), "db")
	n := startNode(t, s, newRecorder(t, 0), 0)
	release := holdNextSync(t, s, n)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 10000 {
			n.ReportUnreachable(uint64(2 + i%3))
			n.ReportSnapshot(uint64(2+i%2), raft.SnapshotFailure)
		}
		n.ReportSnapshot(2, raft.SnapshotFinish)
	}()
	select {
	case <-done:
	case <-time.After(waitTimeout):
		t.Fatal("reports blocked while the Ready loop was held")
	}
	n.reports.mu.Lock()
	if len(n.reports.unreachable) != 3 || len(n.reports.snapshot) != 2 || n.reports.snapshot[2] != raft.SnapshotFinish {
		t.Errorf("waiting reports %v %v, want 3 peers unreachable, and 2 snapshot reports with the latest for peer 2", n.reports.unreachable, n.reports.snapshot)
	}
	n.reports.mu.Unlock()
	release()
	waitUntil(t, "the loop to take the reports", func() bool {
		n.reports.mu.Lock()
		defer n.reports.mu.Unlock()
		return n.reports.unreachable == nil && n.reports.snapshot == nil
	})
	stopNode(t, n)
	n.ReportUnreachable(2) // a no-op on a stopped Node, and does not block
}
