package raftlog

import (
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/arbor-coord/arbor/server/raftlog/wal"
)

// FuzzReplay hands the replayer arbitrary records (a record is a length
// byte and that many bytes): it returns errors, never panics, and what it
// accepts passes finish's checks or is refused by them.
func FuzzReplay(f *testing.F) {
	rec := func(kind byte, m proto.Message) []byte {
		b, err := marshalRecord(kind, m)
		if err != nil {
			f.Fatal(err)
		}
		return append([]byte{byte(len(b))}, b...)
	}
	st := state{snapshot: pb.EnsureSnapshot(nil), confState: pb.EnsureConfState(nil), offset: 3, offsetTerm: 1, last: 3}
	cp, err := checkpointRecord(&st)
	if err != nil {
		f.Fatal(err)
	}
	seed := append([]byte{byte(len(cp))}, cp...)
	for i := uint64(4); i < 7; i++ {
		seed = append(seed, rec(recEntry, &pb.Entry{Index: proto.Uint64(i), Term: proto.Uint64(1)})...)
	}
	seed = append(seed, rec(recHardState, &pb.HardState{Term: proto.Uint64(1), Commit: proto.Uint64(5)})...)
	c := compactRecord(5, 1)
	seed = append(seed, append([]byte{byte(len(c))}, c...)...)
	f.Add(seed)
	f.Fuzz(func(t *testing.T, data []byte) {
		r := newReplayer()
		for len(data) > 0 {
			n := min(int(data[0]), len(data)-1)
			if err := r.record(wal.Pos{Segment: 1, Offset: int64(len(data))}, data[1:1+n]); err != nil {
				return
			}
			data = data[1+n:]
		}
		if _, err := r.finish(); err != nil {
			return
		}
	})
}
