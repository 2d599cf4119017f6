package stats

import (
	"cmp"
	"container/heap"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/invitegate/invitegate/decider"
)

// TopStore keeps the current top counters for analysts, e.g. a
// CounterStore on invitegate.stats_counters.
type TopStore interface {
	// WriteTop makes the store hold exactly top: every app's highest
	// values of each statistic.
	WriteTop(ctx context.Context, top []decider.StatUpdate) error
}

// WriteTo makes the aggregator write its top counters (Config.TopKeys per
// app and statistic) to s every TopInterval. Call it before Start.
func (a *Aggregator) WriteTo(s TopStore) { a.top = s }

// WriteTop writes the current top counters to the TopStore now (the
// aggregator does it every TopInterval; tests call it). It writes nothing
// before the aggregator has caught up with the stream.
func (a *Aggregator) WriteTop(ctx context.Context) error {
	a.mu.Lock()
	if !a.caughtUp {
		a.mu.Unlock()
		return nil
	}
	top := a.counters.Top(a.cfg.Now(), a.cfg.TopKeys)
	a.mu.Unlock()
	if err := a.top.WriteTop(ctx, top); err != nil {
		a.metrics.storeErrors.WithLabelValues("top").Inc()
		return fmt.Errorf("write top counters: %w", err)
	}
	return nil
}

// Top returns, for each app and statistic, the k keys with the highest
// non-zero current values, highest first (ties by key). Group sizes not
// loaded from the store yet are left out.
func (c *Counters) Top(now time.Time, k int) []decider.StatUpdate {
	type appStat struct {
		app  uint32
		stat decider.Stat
	}
	heaps := map[appStat]*minHeap{}
	nb := bucketsAt(now)
	for s := range c.subj {
		subj := decider.StatSubject(s)
		for key, ct := range c.subj[s] {
			vals := ct.values(subj, nb)
			for i, st := range subjectStats[s] {
				if vals[i] == 0 { // also an unbased group's size
					continue
				}
				as := appStat{key.app, st}
				h := heaps[as]
				if h == nil {
					h = &minHeap{}
					heaps[as] = h
				}
				u := decider.StatUpdate{Stat: st, Key: key.id, Value: vals[i]}
				switch {
				case h.Len() < k:
					heap.Push(h, u)
				case less((*h)[0], u):
					(*h)[0] = u
					heap.Fix(h, 0)
				}
			}
		}
	}
	var out []decider.StatUpdate
	for as, h := range heaps {
		first := len(out)
		for _, u := range *h {
			u.App = c.appNames[as.app]
			out = append(out, u)
		}
		slices.SortFunc(out[first:], func(a, b decider.StatUpdate) int {
			return cmp.Or(cmp.Compare(b.Value, a.Value), cmp.Compare(a.Key, b.Key))
		})
	}
	return out
}

// less orders updates by value, then by key descending, so that the heap's
// root is the one to drop first.
func less(a, b decider.StatUpdate) bool {
	return a.Value < b.Value || a.Value == b.Value && a.Key > b.Key
}

// minHeap keeps the k highest updates of one app and statistic.
type minHeap []decider.StatUpdate

func (h minHeap) Len() int           { return len(h) }
func (h minHeap) Less(i, j int) bool { return less(h[i], h[j]) }
func (h minHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *minHeap) Push(x any)        { *h = append(*h, x.(decider.StatUpdate)) }
func (h *minHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
