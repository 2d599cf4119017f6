package stats

import (
	"fmt"

	"github.com/invitegate/invitegate/decider"
)

// Flush publishes what changed since the last flush: the counters that new
// events touched, and, when a bucket boundary has passed, the counters the
// sliding windows changed (every non-zero one each RefreshInterval). It
// publishes nothing until the aggregator has caught up with the stream,
// so replicas never see a half-rebuilt count. The flush loop calls it
// every FlushInterval; tests call it directly.
func (a *Aggregator) Flush() error {
	msgs, n, all := a.collect()
	for _, m := range msgs {
		if err := a.nc.Publish(a.cfg.Subject, m); err != nil {
			a.metrics.messages.WithLabelValues("error").Inc()
			return fmt.Errorf("publish stats: %w", err)
		}
		a.metrics.messages.WithLabelValues("ok").Inc()
	}
	a.metrics.updates.Add(float64(n))
	if a.sink != nil {
		a.sink.add(all)
	}
	return nil
}

// collect builds the messages of one flush under the lock.
// It also returns the updates themselves when there is a sink.
func (a *Aggregator) collect() ([][]byte, int, []decider.StatUpdate) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.caughtUp {
		return nil, 0, nil
	}
	now := a.cfg.Now()
	var msgs [][]byte
	n := 0
	var all []decider.StatUpdate
	msg := decider.NewStatsMessage(nil)
	emit := func(u decider.StatUpdate) {
		n++
		if a.sink != nil {
			all = append(all, u)
		}
		msg = decider.AppendStatUpdate(msg, u)
		if len(msg) >= a.cfg.MaxMessageBytes-512 {
			msgs = append(msgs, msg)
			msg = decider.NewStatsMessage(nil)
		}
	}
	a.counters.Changes(now, emit)
	minute := bucketOf(now, hourBucket)
	full := now.Sub(a.lastFull) >= a.cfg.RefreshInterval
	if minute != a.lastScan || full {
		a.counters.Scan(now, full, emit)
		a.lastScan = minute
		if full {
			a.lastFull = now
		}
	}
	if len(msg) > 1 {
		msgs = append(msgs, msg)
	}
	return msgs, n, all
}
