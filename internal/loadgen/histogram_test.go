package loadgen

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBucketBounds(t *testing.T) {
	// Every value falls in a bucket whose bounds contain it, and buckets
	// are in order.
	vals := []uint64{0, 1, subCount - 1, subCount, subCount + 1, 1000, 1 << 20, 123456789, 1<<62 + 12345, 1<<63 - 1}
	for _, v := range vals {
		b := bucketOf(v)
		if b < 0 || b >= buckets {
			t.Fatalf("bucketOf(%d) = %d, outside [0, %d)", v, b, buckets)
		}
		lo := lowerBound(b)
		if v < lo {
			t.Errorf("value %d in bucket %d whose lower bound is %d", v, b, lo)
		}
		if b+1 < buckets && v >= lowerBound(b+1) {
			t.Errorf("value %d in bucket %d but not below the next bound %d", v, b, lowerBound(b+1))
		}
	}
	for b := 1; b < buckets; b++ {
		if lowerBound(b) <= lowerBound(b-1) {
			t.Fatalf("bucket %d starts at %d, not after bucket %d at %d", b, lowerBound(b), b-1, lowerBound(b-1))
		}
	}
}

func TestQuantileAgainstSorted(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h Histogram
	var all []time.Duration
	for range 100000 {
		// Latencies from 10 µs to ~100 ms, log-spread, as a real run has.
		d := time.Duration(10000*(1<<rng.IntN(14))) + time.Duration(rng.IntN(10000))
		h.Record(d)
		all = append(all, d)
	}
	slices.Sort(all)
	for _, q := range []float64{0, 0.5, 0.9, 0.99, 0.999, 1} {
		rank := int(float64(len(all))*q+0.999999) - 1
		rank = max(rank, 0)
		want := all[rank]
		got := h.Quantile(q)
		if diff := float64(got-want) / float64(want); diff > 0.01 || diff < -0.01 {
			t.Errorf("Quantile(%v) = %v, want %v ±1%%", q, got, want)
		}
	}
	if h.Max() != all[len(all)-1] {
		t.Errorf("Max = %v, want %v", h.Max(), all[len(all)-1])
	}
	if h.Count() != uint64(len(all)) {
		t.Errorf("Count = %d, want %d", h.Count(), len(all))
	}
}

func TestMerge(t *testing.T) {
	var a, b, both Histogram
	for i := range 1000 {
		d := time.Duration(i) * time.Microsecond
		if i%3 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
		both.Record(d)
	}
	a.Merge(&b)
	if a != both {
		t.Fatalf("merged histogram differs from one that recorded everything: p50 %v vs %v, n %d vs %d", a.Quantile(0.5), both.Quantile(0.5), a.Count(), both.Count())
	}
	var empty Histogram
	if empty.Quantile(0.5) != 0 || empty.Mean() != 0 {
		t.Errorf("empty histogram: p50 %v, mean %v, want 0", empty.Quantile(0.5), empty.Mean())
	}
}
