package loadgen

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram is a log-linear latency histogram in the manner of HdrHistogram:
// values below 2^(precisionBits+1) ns are exact, larger ones fall in buckets
// 2^precisionBits to a power of two, so every recorded value is known within
// 1/128 (0.8 %). Values are clamped to [0, ~18 min]. Record is lock-free and
// safe for concurrent use; a histogram costs 34 KiB.
type Histogram struct {
	counts [numBuckets]atomic.Uint64
	total  atomic.Uint64
	sum    atomic.Uint64 // ns
	max    atomic.Uint64 // ns
}

const (
	precisionBits = 7
	maxValueBits  = 40 // 2^40 ns ≈ 18 min
	subBuckets    = 1 << precisionBits
	numBuckets    = subBuckets*(maxValueBits-precisionBits-1) + 2*subBuckets
	maxValue      = 1<<maxValueBits - 1
)

// bucketOf maps v (ns) to its bucket: v itself below 2^(p+1); above, the
// bucket of v's top p+1 bits, shifted s places: index = 2^p*s + v>>s.
func bucketOf(v uint64) int {
	v = min(v, maxValue)
	shift := max(bits.Len64(v)-(precisionBits+1), 0)
	return subBuckets*shift + int(v>>shift)
}

// bucketRange returns the lowest value of bucket i and its width.
func bucketRange(i int) (lo, width uint64) {
	if i < 2*subBuckets {
		return uint64(i), 1
	}
	shift := i/subBuckets - 1
	mantissa := uint64(i - subBuckets*shift)
	return mantissa << shift, 1 << shift
}

// Record adds one latency; negative durations count as 0.
func (h *Histogram) Record(d time.Duration) {
	v := uint64(max(d, 0))
	h.counts[bucketOf(v)].Add(1)
	h.total.Add(1)
	h.sum.Add(v)
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			return
		}
	}
}

// histSnapshot is a point-in-time copy of a Histogram, cheap to query.
type histSnapshot struct {
	counts [numBuckets]uint64
	total  uint64
	sum    uint64
	max    uint64
}

func (h *Histogram) snapshot() *histSnapshot {
	s := &histSnapshot{max: h.max.Load(), sum: h.sum.Load()}
	for i := range h.counts {
		c := h.counts[i].Load()
		s.counts[i] = c
		s.total += c
	}
	return s
}

// minus returns the values recorded in s but not yet in prev; max stays s's.
func (s *histSnapshot) minus(prev *histSnapshot) *histSnapshot {
	d := &histSnapshot{max: s.max, sum: s.sum - prev.sum, total: s.total - prev.total}
	for i := range s.counts {
		d.counts[i] = s.counts[i] - prev.counts[i]
	}
	return d
}

// quantile returns the value at quantile q in [0, 1]: the highest value
// equivalent to the bucket where the running count reaches q, capped by max.
func (s *histSnapshot) quantile(q float64) time.Duration {
	if s.total == 0 {
		return 0
	}
	rank := max(uint64(math.Ceil(q*float64(s.total))), 1)
	var seen uint64
	for i, c := range s.counts {
		seen += c
		if seen >= rank {
			lo, w := bucketRange(i)
			return time.Duration(min(lo+w-1, s.max))
		}
	}
	return time.Duration(s.max)
}

func (s *histSnapshot) mean() time.Duration {
	if s.total == 0 {
		return 0
	}
	return time.Duration(s.sum / s.total)
}

// countBelow returns how many recorded values are <= limit (to bucket precision).
func (s *histSnapshot) countBelow(limit time.Duration) uint64 {
	last := bucketOf(uint64(max(limit, 0)))
	var n uint64
	for i := 0; i <= last; i++ {
		n += s.counts[i]
	}
	return n
}
