package loadgen

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestHistogramBucketsCoverValues(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(5, 6))
	check := func(v uint64) {
		t.Helper()
		i := bucketOf(v)
		if i >= numBuckets {
			t.Fatalf("v=%d: bucket %d out of range", v, i)
		}
		lo, w := bucketRange(i)
		if v < lo || v >= lo+w || w > max(1, v/subBuckets) {
			t.Fatalf("v=%d: bucket %d is [%d, %d+%d)", v, i, lo, lo, w)
		}
	}
	for v := range uint64(5000) {
		check(v)
	}
	for range 100_000 {
		check(r.Uint64N(maxValue + 1))
	}
	check(maxValue)
	require.Equal(t, numBuckets-1, bucketOf(maxValue))
	require.Equal(t, numBuckets-1, bucketOf(1<<63)) // clamped
}

func TestHistogramQuantiles(t *testing.T) {
	t.Parallel()
	var h Histogram
	for i := 1; i <= 10_000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	h.Record(-time.Second) // counts as 0
	s := h.snapshot()
	require.EqualValues(t, 10_001, s.total)
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 5 * time.Millisecond}, {0.9, 9 * time.Millisecond}, {0.99, 9900 * time.Microsecond}, {0.999, 9990 * time.Microsecond}} {
		got := s.quantile(tc.q)
		require.InEpsilon(t, float64(tc.want), float64(got), 0.01, "q=%v got %v", tc.q, got)
	}
	require.Equal(t, 10*time.Millisecond, s.quantile(1))
	require.Zero(t, s.quantile(0)) // the 0 recorded
	require.InEpsilon(t, float64(5*time.Millisecond), float64(s.mean()), 0.01)
	require.InEpsilon(t, 1001, s.countBelow(time.Millisecond), 0.01) // 0 and 1..1000 µs, to bucket precision
}

func TestHistogramEmptyAndInterval(t *testing.T) {
	t.Parallel()
	var h Histogram
	require.Zero(t, h.snapshot().quantile(0.99))
	require.Zero(t, h.snapshot().mean())
	h.Record(time.Millisecond)
	before := h.snapshot()
	h.Record(time.Second)
	interval := h.snapshot().minus(before)
	require.EqualValues(t, 1, interval.total)
	require.InEpsilon(t, float64(time.Second), float64(interval.quantile(0.5)), 0.01)
}

func TestHistogramConcurrentRecord(t *testing.T) {
	t.Parallel()
	var h Histogram
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				h.Record(time.Duration(g*1000+i) * time.Microsecond)
			}
		})
	}
	wg.Wait()
	s := h.snapshot()
	require.EqualValues(t, 8000, s.total)
	require.Equal(t, 7999*time.Microsecond, time.Duration(s.max))
}
