package raftlog

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// member is a single-member raft group on a Log, driven as raftnode's
// Ready loop drives it.
type member struct {
	t       *testing.T
	log     *Log
	rn      *raft.RawNode
	applied uint64
	data    [][]byte // the data of every applied normal entry, in order
}

func startMember(t *testing.T, l *Log, applied uint64) *member {
	t.Helper()
	rn, err := raft.NewRawNode(&raft.Config{
		ID:              1,
		ElectionTick:    10,
		HeartbeatTick:   1,
		Storage:         l,
		Applied:         applied,
		MaxSizePerMsg:   1 << 20,
		MaxInflightMsgs: 256,
		CheckQuorum:     true,
		PreVote:         true,
		Logger:          &raft.DefaultLogger{Logger: log.New(io.Discard, "", 0)},
	})
	if err != nil {
		t.Fatal(err)
	}
	return &member{t: t, log: l, rn: rn, applied: applied}
}

// drain runs the Ready loop until raft has nothing more to do.
func (m *member) drain() {
	m.t.Helper()
	for m.rn.HasReady() {
		rd := m.rn.Ready()
		if err := m.log.Save(rd.HardState, rd.Entries, rd.Snapshot); err != nil {
			m.t.Fatal(err)
		}
		if len(rd.Messages) != 0 {
			m.t.Fatalf("a single member sent messages: %v", rd.Messages)
		}
		for _, e := range rd.CommittedEntries {
			switch e.GetType() {
			case pb.EntryNormal:
				if len(e.GetData()) > 0 {
					m.data = append(m.data, e.GetData())
				}
			case pb.EntryConfChange, pb.EntryConfChangeV2:
				m.t.Fatalf("unexpected conf change %v", e)
			}
			if e.GetIndex() != m.applied+1 {
				m.t.Fatalf("applied %d after %d", e.GetIndex(), m.applied)
			}
			m.applied = e.GetIndex()
		}
		m.rn.Advance(rd)
	}
}

func (m *member) campaign() {
	m.t.Helper()
	if err := m.rn.Campaign(); err != nil {
		m.t.Fatal(err)
	}
	m.drain()
	if st := m.rn.BasicStatus(); st.RaftState != raft.StateLeader {
		m.t.Fatalf("state %v after campaigning, want leader", st.RaftState)
	}
}

func (m *member) propose(data ...string) {
	m.t.Helper()
	for _, d := range data {
		if err := m.rn.Propose([]byte(d)); err != nil {
			m.t.Fatal(err)
		}
	}
	m.drain()
}

// TestRawNode runs a real single-member raft group on a Log: it commits
// proposals, and a restart on the same store recovers the HardState and the
// entries, compacted or not, and goes on committing.
func TestRawNode(t *testing.T) {
	h := newHarness(t, vfs.NewMem())
	// Bootstrap as etcd does: a snapshot at index 0 carrying only the ConfState.
	cs := &pb.ConfState{Voters: []uint64{1}}
	if err := h.log.ApplySnapshot(&pb.Snapshot{Metadata: &pb.SnapshotMetadata{ConfState: cs}}); err != nil {
		t.Fatal(err)
	}
	m := startMember(t, h.log, 0)
	m.campaign()
	var want []string
	for i := range 20 {
		want = append(want, fmt.Sprint("proposal ", i))
	}
	m.propose(want[:10]...)
	checkApplied(t, m, want[:10])

	hs := proto.Clone(m.rn.Status().HardState).(*pb.HardState)
	if hs.GetCommit() != m.applied || hs.GetTerm() == 0 || hs.GetVote() != 1 {
		t.Fatalf("HardState %v, applied %d", hs, m.applied)
	}
	last, _ := h.log.LastIndex()
	if last != m.applied {
		t.Fatalf("LastIndex %d, applied %d", last, m.applied)
	}
	persisted, err := h.log.Entries(1, last+1, 1<<30)
	if err != nil {
		t.Fatal(err)
	}

	for _, compact := range []bool{false, true} {
		t.Run(fmt.Sprint("compact=", compact), func(t *testing.T) {
			if compact {
				// Snapshot at the applied index, keep a tail of 3 entries.
				if _, err := h.log.CreateSnapshot(m.applied, cs, []byte("descriptor")); err != nil {
					t.Fatal(err)
				}
				if err := h.log.Compact(m.applied - 3); err != nil {
					t.Fatal(err)
				}
			}
			applied := m.applied
			hs := proto.Clone(m.rn.Status().HardState).(*pb.HardState)
			h.reopen()
			got, gotCS, err := h.log.InitialState()
			if err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(got, hs) || !proto.Equal(gotCS, pb.EnsureConfState(proto.Clone(cs).(*pb.ConfState))) {
				t.Fatalf("after restart: HardState %v ConfState %v, want %v %v", got, gotCS, hs, cs)
			}
			first, _ := h.log.FirstIndex()
			last, _ := h.log.LastIndex()
			if wantFirst := uint64(1); compact && first != applied-2 || !compact && first != wantFirst {
				t.Fatalf("FirstIndex %d after restart (applied %d, compact %v)", first, applied, compact)
			}
			if last != applied {
				t.Fatalf("LastIndex %d after restart, want %d", last, applied)
			}
			ents, err := h.log.Entries(first, last+1, 1<<30)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range ents {
				if e.GetIndex() <= uint64(len(persisted)) && !proto.Equal(e, persisted[e.GetIndex()-1]) {
					t.Fatalf("entry %d after restart: %v, want %v", e.GetIndex(), e, persisted[e.GetIndex()-1])
				}
			}
			prev := m.data
			m = startMember(t, h.log, applied)
			m.data = prev
			if st := m.rn.Status(); !proto.Equal(st.HardState, hs) {
				t.Fatalf("raft restarted with HardState %v, want %v", st.HardState, hs)
			}
			m.campaign()
			n := len(m.data)
			m.propose(want[n : n+5]...)
			checkApplied(t, m, want[:n+5])
			if got := m.rn.Status().HardState.GetTerm(); got <= hs.GetTerm() {
				t.Fatalf("term %d after re-election, want > %d", got, hs.GetTerm())
			}
			persisted, err = h.log.Entries(first, m.applied+1, 1<<30)
			if err != nil {
				t.Fatal(err)
			}
			persisted = append(make([]*pb.Entry, first-1), persisted...)
		})
	}
}

func checkApplied(t *testing.T, m *member, want []string) {
	t.Helper()
	if len(m.data) != len(want) {
		t.Fatalf("applied %d proposals, want %d", len(m.data), len(want))
	}
	for i := range want {
		if !bytes.Equal(m.data[i], []byte(want[i])) {
			t.Fatalf("proposal %d applied as %q, want %q", i, m.data[i], want[i])
		}
	}
}
