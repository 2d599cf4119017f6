package stats

import (
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/invitegate/invitegate/decider"
)

// BenchmarkCountersMemory measures the aggregator's heap per key: 300,000
// invites (1 member each) over 20 minutes, each to a new group, from
// 10,000 operators to 100,000 members (the soak's shape): 410,000 keys.
// It reports bytes/key, after GC, with the group sizes stored.
func BenchmarkCountersMemory(b *testing.B) {
	const n = 300_000
	evs := make([]*decider.Event, n)
	for i := range evs {
		evs[i] = invite(t0.Add(time.Duration(i)*4*time.Millisecond), "1400000000", "@TGS#g"+strconv.Itoa(i%2000)+".run."+strconv.Itoa(i),
			"user-"+strconv.Itoa(i%10_000), decider.OutcomeAllow, "user-"+strconv.Itoa(i%100_000))
	}
	var perKey float64
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		c := NewCounters(true)
		for i, ev := range evs {
			c.Apply(ev, uint64(i+1))
		}
		c.Base(len(c.Unbased()), nil)
		c.Saved(c.Unsaved(n), true)
		c.Changes(t0.Add(20*time.Minute), func(decider.StatUpdate) {})
		runtime.GC()
		runtime.ReadMemStats(&after)
		perKey = float64(after.HeapAlloc-before.HeapAlloc) / float64(c.Keys())
		runtime.KeepAlive(c)
	}
	b.ReportMetric(perKey, "bytes/key")
}

// BenchmarkSeenIDsMemory measures the heap of the event-id window per id:
// 1,000,000 ids (the default bound) over 60 minutes of event time.
func BenchmarkSeenIDsMemory(b *testing.B) {
	const n = 1_000_000
	ids := make([]string, n)
	for i := range ids {
		ids[i] = decider.NewEventID()
	}
	var perID float64
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		s := newSeenIDs(time.Hour, n)
		for i, id := range ids {
			s.seen(id, t0.Add(time.Duration(i)*3600*time.Millisecond/n*1000))
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perID = float64(after.HeapAlloc-before.HeapAlloc) / float64(s.ids())
		runtime.KeepAlive(s)
	}
	b.ReportMetric(perID, "bytes/id")
}
