package stats

import (
	"context"
	"fmt"

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
