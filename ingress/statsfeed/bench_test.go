package statsfeed

import (
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/invitegate/invitegate/decider"
)

// BenchmarkTableMillionOperators fills a table with 1,000,000 operators
// (the three operator statistics each, as a policy reading them all would
// keep) and reports the heap it holds: the ingress memory for stats.
func BenchmarkTableMillionOperators(b *testing.B) {
	b.ReportAllocs()
	const n = 1_000_000
	now := time.Now()
	for range b.N {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		t := NewTable()
		for i := range n {
			id := "operator-" + strconv.Itoa(i)
			for _, st := range []decider.Stat{decider.StatOperatorInvites1h, decider.StatOperatorInvites24h, decider.StatOperatorRefused24h} {
				t.apply(decider.StatUpdate{Stat: st, App: "1400000000", Key: id, Value: int64(i%500 + 1)}, now)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "MB/1M-operators")
		runtime.KeepAlive(t)
	}
}

// BenchmarkTableStat is one lookup on the decision path.
func BenchmarkTableStat(b *testing.B) {
	b.ReportAllocs()
	t := NewTable()
	now := time.Now()
	for i := range 100_000 {
		t.apply(decider.StatUpdate{Stat: decider.StatOperatorInvites1h, App: "a", Key: "op" + strconv.Itoa(i), Value: 1}, now)
	}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_ = t.Stat(decider.StatOperatorInvites1h, "a", "op4242")
		}
	})
}
