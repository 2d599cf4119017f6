package loadgen

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// The sampler's frequencies match the exact Zipf probabilities.
func TestZipfMatchesDistribution(t *testing.T) {
	t.Parallel()
	for _, s := range []float64{0.5, 1, 1.1, 2} {
		const n, draws = 10, 200_000
		z := newZipf(n, s)
		r := rand.New(rand.NewPCG(1, 2))
		counts := make([]int, n+1)
		for range draws {
			k := z.next(r)
			if k < 1 || k > n {
				t.Fatalf("s=%v: rank %d out of [1, %d]", s, k, n)
			}
			counts[k]++
		}
		var norm float64
		for k := 1; k <= n; k++ {
			norm += math.Pow(float64(k), -s)
		}
		for k := 1; k <= n; k++ {
			want := draws * math.Pow(float64(k), -s) / norm
			sigma := math.Sqrt(want)
			require.InDelta(t, want, float64(counts[k]), 6*sigma, "s=%v rank %d", s, k)
		}
	}
}

func TestZipfLargePopulationStaysInRange(t *testing.T) {
	t.Parallel()
	z := newZipf(10_000_000, 1.1)
	r := rand.New(rand.NewPCG(3, 4))
	ones := 0
	for range 100_000 {
		k := z.next(r)
		if k < 1 || k > 10_000_000 {
			t.Fatalf("rank %d out of range", k)
		}
		if k == 1 {
			ones++
		}
	}
	require.Greater(t, ones, 5_000) // P(1) ≈ 0.1 for s = 1.1
}
