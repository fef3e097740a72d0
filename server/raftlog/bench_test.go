package raftlog

import (
	"bytes"
	"path/filepath"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/arbor-coord/arbor/internal/storage"
)

// BenchmarkSave measures the group commit of the Ready loop: one synced
// Save of 64 entries of 200 bytes and a HardState per iteration, on an
// on-disk store in a temporary directory. Each iteration is one fsync.
func BenchmarkSave(b *testing.B) {
	const perBatch, dataBytes = 64, 200
	dir := b.TempDir()
	db, err := storage.Open(dir, storage.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	l, err := Open(db, filepath.Join(dir, "raft"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	data := bytes.Repeat([]byte("x"), dataBytes)
	batches := make([][]*pb.Entry, b.N)
	for i := range batches {
		batch := make([]*pb.Entry, perBatch)
		for j := range batch {
			batch[j] = &pb.Entry{
				Index: proto.Uint64(uint64(i*perBatch + j + 1)),
				Term:  proto.Uint64(1),
				Type:  pb.EntryNormal.Enum(),
				Data:  data,
			}
		}
		batches[i] = batch
	}
	b.SetBytes(perBatch * dataBytes)
	b.ResetTimer()
	for i := range b.N {
		hs := &pb.HardState{Term: proto.Uint64(1), Vote: proto.Uint64(1), Commit: proto.Uint64(uint64(i * perBatch))}
		if err := l.Save(hs, batches[i], nil); err != nil {
			b.Fatal(err)
		}
	}
	secs := b.Elapsed().Seconds()
	b.ReportMetric(float64(b.N)/secs, "fsyncs/s")
	b.ReportMetric(float64(b.N*perBatch)/secs, "entries/s")
}
