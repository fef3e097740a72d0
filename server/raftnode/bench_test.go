package raftnode

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// benchApplier wakes the proposer of each applied entry: the first two
// bytes of a proposal are its proposer's number.
type benchApplier struct {
	wake    []chan struct{}
	entries atomic.Int64
	calls   atomic.Int64
	applied atomic.Uint64
}

// benchCheckpoint is an empty state at an index.
type benchCheckpoint uint64

func (c benchCheckpoint) Index() uint64          { return uint64(c) }
func (c benchCheckpoint) Export(io.Writer) error { return nil }
func (c benchCheckpoint) Close() error           { return nil }

func (a *benchApplier) Checkpoint() (Checkpoint, error) {
	return benchCheckpoint(a.applied.Load()), nil
}

func (a *benchApplier) Flush() (<-chan struct{}, error) { return closedChan, nil }

func (a *benchApplier) Restore(context.Context, uint64, io.Reader) error {
	return errors.New("benchApplier: no snapshots")
}

func (a *benchApplier) Apply(_ context.Context, ents []Entry) error {
	a.calls.Add(1)
	a.applied.Store(ents[len(ents)-1].Index)
	for _, e := range ents {
		if len(e.Data) >= 2 {
			a.entries.Add(1)
			a.wake[binary.BigEndian.Uint16(e.Data)] <- struct{}{}
		}
	}
	return nil
}

// BenchmarkPropose measures proposals/s through a single member with fsync
// on (an on-disk store in a temporary directory): 64 proposers (and 1, for
// latency), each with one 100-byte proposal in flight, waiting until it is
// applied, as a client waits for its write.
func BenchmarkPropose(b *testing.B) {
	for _, proposers := range []int{64, 1} {
		b.Run(fmt.Sprintf("proposers=%d", proposers), func(b *testing.B) { benchmarkPropose(b, proposers) })
	}
}

func benchmarkPropose(b *testing.B, proposers int) {
	const dataBytes = 100
	s := openStore(b, nil, b.TempDir())
	app := &benchApplier{wake: make([]chan struct{}, proposers)}
	for i := range app.wake {
		app.wake[i] = make(chan struct{}, 1)
	}
	n := startNode(b, s, app, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	syncsBefore, callsBefore := s.syncs.wal.Load(), app.calls.Load()
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for p := range proposers {
		wg.Go(func() {
			data := make([]byte, dataBytes)
			binary.BigEndian.PutUint16(data, uint16(p))
			for next.Add(1) <= int64(b.N) {
				if err := n.Propose(ctx, data); err != nil {
					b.Error(err)
					return
				}
				select {
				case <-app.wake[p]:
				case <-ctx.Done():
					b.Error("a proposal was never applied")
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "proposals/s")
	b.ReportMetric(float64(b.N)/float64(max(1, s.syncs.wal.Load()-syncsBefore)), "proposals/fsync")
	b.ReportMetric(float64(b.N)/float64(max(1, app.calls.Load()-callsBefore)), "entries/apply")
}
