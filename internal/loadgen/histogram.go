package loadgen

import (
	"math"
	"math/bits"
	"time"
)

// subBits sets the histogram's resolution: each power of two of
// nanoseconds is split into 2^subBits buckets, so a recorded value is off
// by less than 1/2^subBits (0.8%) of itself.
const subBits = 7

const (
	subCount = 1 << subBits
	// buckets covers every int64: values below subCount nanoseconds are
	// exact, then one row of subCount buckets per further power of two.
	buckets = (64 - subBits + 1) * subCount
)

// Histogram counts durations in log-linear buckets. The zero value is
// empty and ready; it is not safe for concurrent use (give each client its
// own and Merge them).
type Histogram struct {
	counts [buckets]uint64
	n      uint64
	max    time.Duration
	sum    time.Duration
}

// bucketOf returns the bucket of v (v ≥ 0).
func bucketOf(v uint64) int {
	if v < subCount {
		return int(v)
	}
	// The row is how far v's top bit is above the exact range; the column
	// is the subBits bits below the top bit.
	top := bits.Len64(v) - 1
	shift := top - subBits
	row := shift + 1
	col := int(v>>uint(shift)) - subCount
	return row*subCount + col
}

// lowerBound returns the smallest value that falls in bucket b.
func lowerBound(b int) uint64 {
	row, col := b/subCount, b%subCount
	if row == 0 {
		return uint64(col)
	}
	return uint64(subCount+col) << uint(row-1)
}

// Record adds one duration; a negative one counts as zero.
func (h *Histogram) Record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucketOf(uint64(d))]++
	h.n++
	h.sum += d
	if d > h.max {
		h.max = d
	}
}

// Merge adds every count of o to h.
func (h *Histogram) Merge(o *Histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	h.max = max(h.max, o.max)
}

// Count returns how many durations were recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Max returns the largest duration recorded (exact).
func (h *Histogram) Max() time.Duration { return h.max }

// Mean returns the mean of the recorded durations, or 0 if there are none.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return h.sum / time.Duration(h.n)
}

// Quantile returns the duration below which the fraction q of the recorded
// durations lie (q in [0, 1]), as the midpoint of its bucket and never more
// than Max; 0 if nothing was recorded.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	q = min(max(q, 0), 1)
	// The rank of the wanted value, 1-based: the smallest rank r with
	// r ≥ q·n (the nearest-rank method).
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = max(rank, 1)
	var seen uint64
	for b, c := range h.counts {
		seen += c
		if seen >= rank {
			lo := lowerBound(b)
			width := lowerBound(b+1) - lo
			mid := time.Duration(lo + width/2)
			return min(mid, h.max)
		}
	}
	return h.max
}
