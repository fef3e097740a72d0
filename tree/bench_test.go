package tree

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/arbor-coord/arbor/internal/storage"
)

// Benchmarks run on an on-disk store in a temporary directory, so that
// Pebble's real I/O path (flushes, compactions; the store has no WAL) is
// measured.
// Figures and the machine they came from are in docs/BENCHMARKS.md.

func newBenchTree(b *testing.B) *Tree {
	b.Helper()
	db, err := storage.Open(b.TempDir(), storage.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	tr, err := Open(db, Options{})
	if err != nil {
		b.Fatal(err)
	}
	return tr
}

func benchPayload() []byte { return bytes.Repeat([]byte("v"), 100) }

// encodeAll encodes each command, as the Raft log would hold it.
func encodeAll(b *testing.B, cmds []*Command) [][]byte {
	out := make([][]byte, len(cmds))
	for i, c := range cmds {
		var err error
		if out[i], err = EncodeCommand(c); err != nil {
			b.Fatal(err)
		}
	}
	return out
}

// applyEncoded decodes and applies encoded commands in batches of batch,
// the way the apply loop will consume committed Raft entries.
func applyEncoded(b *testing.B, tr *Tree, log [][]byte, batch int) {
	entries := make([]Entry, 0, batch)
	for start := 0; start < len(log); start += batch {
		entries = entries[:0]
		next := tr.Applied() + 1
		for i, data := range log[start:min(start+batch, len(log))] {
			c, err := DecodeCommand(data)
			if err != nil {
				b.Fatal(err)
			}
			entries = append(entries, Entry{Index: next + uint64(i), Cmd: c})
		}
		res, err := tr.Apply(entries)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range res {
			if r.Code != 0 {
				b.Fatalf("index %d: %s", r.Index, r.Code.Name())
			}
		}
	}
}

// createLog returns n creates of 100-byte nodes spread round-robin over
// nParents parents, plus the commands creating the parents.
func createLog(n, nParents int) (parents, creates []*Command) {
	data := benchPayload()
	for p := 0; p < nParents; p++ {
		parents = append(parents, &Command{TimeMs: 1, Op: &Create{Path: "/p" + strconv.Itoa(p), ACL: OpenACL()}})
	}
	for i := 0; i < n; i++ {
		path := "/p" + strconv.Itoa(i%nParents) + "/n" + strconv.Itoa(i)
		creates = append(creates, &Command{ID: RequestID{1, uint64(i)}, Session: 0, TimeMs: int64(i), Op: &Create{Path: path, Data: data, ACL: OpenACL()}})
	}
	return parents, creates
}

// BenchmarkApplyCreate measures creates in one parent (a queue, a lock, a
// service registry: the common shape) and spread over 1,000 parents (where
// nearly every create also rewrites a parent no other create of its batch
// touched).
func BenchmarkApplyCreate(b *testing.B) {
	for _, nParents := range []int{1, 1000} {
		for _, batch := range []int{1, 64, 1024} {
			b.Run(fmt.Sprintf("parents=%d/batch=%d", nParents, batch), func(b *testing.B) {
				tr := newBenchTree(b)
				parents, creates := createLog(b.N, nParents)
				applyEncoded(b, tr, encodeAll(b, parents), 1000)
				log := encodeAll(b, creates)
				b.ResetTimer()
				start := time.Now()
				applyEncoded(b, tr, log, batch)
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
			})
		}
	}
}

func BenchmarkApplySet(b *testing.B) {
	for _, batch := range []int{1, 64, 1024} {
		b.Run("batch="+strconv.Itoa(batch), func(b *testing.B) {
			tr := newBenchTree(b)
			parents, creates := createLog(10000, 1000)
			applyEncoded(b, tr, encodeAll(b, parents), 1000)
			applyEncoded(b, tr, encodeAll(b, creates), 1000)
			rng := rand.New(rand.NewPCG(1, 2))
			data := benchPayload()
			sets := make([]*Command, b.N)
			for i := range sets {
				k := rng.IntN(10000)
				sets[i] = &Command{TimeMs: int64(i), Op: &SetData{Path: "/p" + strconv.Itoa(k%1000) + "/n" + strconv.Itoa(k), Data: data, Version: -1}}
			}
			log := encodeAll(b, sets)
			b.ResetTimer()
			start := time.Now()
			applyEncoded(b, tr, log, batch)
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
		})
	}
}

// buildTree creates n 100-byte nodes under 1,000 parents in 1024-entry
// batches, and compacts so reads see a settled LSM.
func buildTree(b *testing.B, tr *Tree, n int) {
	parents, creates := createLog(n, 1000)
	applyEncoded(b, tr, encodeAll(b, parents), 1000)
	for start := 0; start < n; start += 100_000 {
		applyEncoded(b, tr, encodeAll(b, creates[start:min(start+100_000, n)]), 1024)
	}
	if err := tr.db.Flush(); err != nil {
		b.Fatal(err)
	}
}

func reportLatency(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	q := func(f float64) float64 { return float64(lat[int(f*float64(len(lat)-1))].Nanoseconds()) }
	b.ReportMetric(q(0.50), "p50-ns")
	b.ReportMetric(q(0.99), "p99-ns")
}

func BenchmarkGet1M(b *testing.B) {
	const n = 1_000_000
	tr := newBenchTree(b)
	buildTree(b, tr, n)
	paths := make([]string, 1<<16)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range paths {
		k := rng.IntN(n)
		paths[i] = "/p" + strconv.Itoa(k%1000) + "/n" + strconv.Itoa(k)
	}
	for _, p := range paths { // warm the block cache, as a serving member's would be
		if _, _, err := tr.Get(p, nil); err != nil {
			b.Fatal(err)
		}
	}
	lat := make([]time.Duration, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		data, _, err := tr.Get(paths[i%len(paths)], nil)
		lat[i] = time.Since(start)
		if err != nil || len(data) != 100 {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	reportLatency(b, lat)
}

func BenchmarkChildren100k(b *testing.B) {
	tr := newBenchTree(b)
	cmds := []*Command{{Op: &Create{Path: "/big", ACL: OpenACL()}}}
	for i := 0; i < 100_000; i++ {
		cmds = append(cmds, &Command{Op: &Create{Path: fmt.Sprintf("/big/child-%08d", i), ACL: OpenACL(), Data: benchPayload()}})
	}
	applyEncoded(b, tr, encodeAll(b, cmds), 1024)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		kids, _, err := tr.Children("/big", nil)
		if err != nil || len(kids) != 100_000 {
			b.Fatal(len(kids), err)
		}
	}
}

func BenchmarkSnapshot1M(b *testing.B) {
	const n = 1_000_000
	src := newBenchTree(b)
	buildTree(b, src, n)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var buf bytes.Buffer
		start := time.Now()
		exported, err := src.Export(&buf)
		if err != nil {
			b.Fatal(err)
		}
		exportTime := time.Since(start)
		streamBytes := buf.Len()
		dst := newBenchTree(b)
		start = time.Now()
		imported, err := dst.Import(&buf)
		if err != nil || imported != exported {
			b.Fatal(err)
		}
		importTime := time.Since(start)
		b.ReportMetric(exportTime.Seconds(), "export-s")
		b.ReportMetric(importTime.Seconds(), "import-s")
		b.ReportMetric(float64(streamBytes)/(1<<20), "stream-MiB")
	}
}

// BenchmarkApplySessionCreate measures the creates arbor bench's create
// workload makes: sequential 100-byte nodes in one parent from 64
// sessions, each write with its exactly-once Seq (so each also records its
// result and acknowledges its session's previous one), as a closed-loop
// client sends them.
func BenchmarkApplySessionCreate(b *testing.B) {
	const sessions = 64
	for _, batch := range []int{1, 64} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			tr := newBenchTree(b)
			setup := []*Command{{TimeMs: 1, Op: &Create{Path: "/bench", ACL: OpenACL()}}}
			for s := range sessions {
				setup = append(setup, &Command{TimeMs: 1, Op: &CreateSession{ID: int64(s + 1), TimeoutMs: 30000}})
			}
			applyEncoded(b, tr, encodeAll(b, setup), 1000)
			data := benchPayload()
			runSessionWrites(b, tr, sessions, batch, func(int) Op {
				return &Create{Path: "/bench/n-", Data: data, ACL: OpenACL(), Mode: PersistentSequential}
			})
		})
	}
}

// BenchmarkApplySessionSet is the set workload of arbor bench as the
// state machine sees it: 64 sessions overwrite 1 KiB values of 1,000
// nodes chosen at random, each write with its session's sequence (so its
// result is recorded for exactly-once).
func BenchmarkApplySessionSet(b *testing.B) {
	const sessions, nodes = 64, 1000
	for _, batch := range []int{1, 64} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			tr := newBenchTree(b)
			value := bytes.Repeat([]byte("v"), 1024)
			setup := []*Command{{TimeMs: 1, Op: &Create{Path: "/bench", ACL: OpenACL()}}}
			for s := range sessions {
				setup = append(setup, &Command{TimeMs: 1, Op: &CreateSession{ID: int64(s + 1), TimeoutMs: 30000}})
			}
			for n := range nodes {
				setup = append(setup, &Command{TimeMs: 1, Op: &Create{Path: "/bench/" + strconv.Itoa(n), Data: value, ACL: OpenACL()}})
			}
			applyEncoded(b, tr, encodeAll(b, setup), 1000)
			rng := rand.New(rand.NewPCG(1, 2))
			runSessionWrites(b, tr, sessions, batch, func(int) Op {
				return &SetData{Path: "/bench/" + strconv.Itoa(rng.IntN(nodes)), Data: value, Version: -1}
			})
		})
	}
}

// runSessionWrites applies b.N writes made by op, round-robin over
// sessions 1 to sessions, each with its session's next sequence (so its
// result is recorded), in runs of batch, and reports ops/s.
func runSessionWrites(b *testing.B, tr *Tree, sessions, batch int, op func(i int) Op) {
	cmds := make([]*Command, b.N)
	for i := range cmds {
		s, seq := int64(i%sessions+1), uint64(i/sessions+1)
		cmds[i] = &Command{ID: RequestID{1, uint64(i + 1)}, Session: s, Seq: seq, LowestUnacked: seq, TimeMs: int64(i), Op: op(i)}
	}
	log := encodeAll(b, cmds)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	applyEncoded(b, tr, log, batch)
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
}
