package stats

import (
	"context"
	"errors"
	"fmt"

	"github.com/invitegate/invitegate/decider"
)

// Flush publishes what changed since the last flush, then, with a
// GroupStore, loads the stored sizes of the groups new to memory (published
// by the next flush) and stores the sizes that changed. The aggregator does
// both every FlushInterval, in two loops so that a slow database never
// delays publishing; tests call Flush.
func (a *Aggregator) Flush(ctx context.Context) error {
	if err := a.publish(ctx); err != nil {
		return err
	}
	if a.groups != nil {
		return a.syncGroups(ctx)
	}
	return nil
}

// publish publishes the counters that new events touched, and, when a
// bucket boundary has passed, the counters the sliding windows changed
// (every non-zero one each RefreshInterval). It publishes nothing until
// the aggregator has caught up with the stream, so replicas never see a
// half-rebuilt count. Past MaxKeys it forgets the least recently active
// keys.
func (a *Aggregator) publish(context.Context) error {
	a.publishMu.Lock()
	defer a.publishMu.Unlock()
	msgs, n := a.collect()
	for _, m := range msgs {
		if err := a.nc.Publish(a.cfg.Subject, m); err != nil {
			a.metrics.messages.WithLabelValues("error").Inc()
			return fmt.Errorf("publish stats: %w", err)
		}
		a.metrics.messages.WithLabelValues("ok").Inc()
	}
	a.metrics.updates.Add(float64(n))
	return nil
}

// syncGroups loads the stored sizes of groups new to memory and stores the
// sizes that changed.
func (a *Aggregator) syncGroups(ctx context.Context) error {
	a.groupsMu.Lock()
	defer a.groupsMu.Unlock()
	return errors.Join(a.loadGroups(ctx), a.saveGroups(ctx))
}

// loadGroups completes the groups new to memory with their stored sizes.
func (a *Aggregator) loadGroups(ctx context.Context) error {
	a.mu.Lock()
	c := a.counters
	keys := c.Unbased()
	a.mu.Unlock()
	if len(keys) == 0 {
		return nil
	}
	stored, err := a.groups.LoadGroupSizes(ctx, keys)
	if err != nil {
		a.metrics.storeErrors.WithLabelValues("load").Inc()
		return fmt.Errorf("load group sizes: %w", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.counters == c { // not rebuilt meanwhile
		c.Base(len(keys), stored)
	}
	return nil
}

// saveGroups stores the group sizes that changed.
func (a *Aggregator) saveGroups(ctx context.Context) error {
	a.mu.Lock()
	c := a.counters
	sizes := c.Unsaved(a.pos)
	a.mu.Unlock()
	if len(sizes) == 0 {
		return nil
	}
	err := a.groups.SaveGroupSizes(ctx, sizes)
	a.mu.Lock()
	if a.counters == c {
		c.Saved(sizes, err == nil)
	}
	a.mu.Unlock()
	if err != nil {
		a.metrics.storeErrors.WithLabelValues("save").Inc()
		return fmt.Errorf("save group sizes: %w", err)
	}
	return nil
}

// collect builds the messages of one flush under the lock, and returns
// them with the number of updates in them.
func (a *Aggregator) collect() ([][]byte, int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.counters.Keys() > a.cfg.MaxKeys {
		evicted := a.counters.Evict(a.cfg.MaxKeys - a.cfg.MaxKeys/10)
		for s, n := range evicted {
			a.metrics.evicted.WithLabelValues(subjectNames[s]).Add(float64(n))
		}
	}
	if !a.caughtUp {
		a.counters.ForgetChanges()
		return nil, 0
	}
	now := a.cfg.Now()
	var msgs [][]byte
	n := 0
	msg := decider.NewStatsMessage(nil)
	emit := func(u decider.StatUpdate) {
		n++
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
		a.counters.Scan(now, full, a.cfg.GroupIdle, emit)
		a.lastScan = minute
		if full {
			a.lastFull = now
		}
	}
	if len(msg) > 1 {
		msgs = append(msgs, msg)
	}
	return msgs, n
}
