package server

import (
	"bytes"
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/arbor-coord/arbor/internal/errcode"
	"github.com/arbor-coord/arbor/tree"
)

// BenchmarkReplicaCreate: 100-byte creates proposed by 64 concurrent
// callers to one member on disk (fsync on), each waiting until its create
// is applied. No network: this is the member's write path alone.
func BenchmarkReplicaCreate(b *testing.B) {
	r, err := openReplica(replicaConfig{dir: b.TempDir(), memberID: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer r.close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	data := bytes.Repeat([]byte("v"), 100)
	var next atomic.Int64
	const callers = 64
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for c := 0; c < callers; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				res, err := r.propose(ctx, &tree.Command{Op: &tree.Create{Path: "/n" + strconv.FormatInt(i, 10), Data: data, ACL: tree.OpenACL()}})
				if err != nil || res.Code != errcode.Ok {
					b.Error(res.Code, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "creates/s")
}
