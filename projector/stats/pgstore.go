package stats

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/invitegate/invitegate/decider"
)

const upsertCountersSQL = `
INSERT INTO invitegate.stats_counters AS c (app, stat, key, value, updated_at)
SELECT app, stat, key, value, $5 FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[]) AS u(app, stat, key, value)
ON CONFLICT (app, stat, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`

const deleteCountersSQL = `
DELETE FROM invitegate.stats_counters c
USING unnest($1::text[], $2::text[], $3::text[]) AS u(app, stat, key)
WHERE c.app = u.app AND c.stat = u.stat AND c.key = u.key`

// CounterStore keeps invitegate.stats_counters (and so the top_counters
// view) equal to the values the aggregator publishes: non-zero values are
// upserted, zeros deleted. Writes are absolute, so several aggregators
// writing the same values is harmless.
type CounterStore struct {
	pool *pgxpool.Pool
	now  func() time.Time
}

// NewCounterStore returns a CounterStore on pool (migrated to 00004). now
// may be nil (time.Now).
func NewCounterStore(pool *pgxpool.Pool, now func() time.Time) *CounterStore {
	if now == nil {
		now = time.Now
	}
	return &CounterStore{pool: pool, now: now}
}

// Write applies updates in one transaction. For a key listed twice the
// last value wins.
func (s *CounterStore) Write(ctx context.Context, updates []decider.StatUpdate) error {
	type k struct{ app, stat, key string }
	last := make(map[k]int64, len(updates))
	for _, u := range updates {
		last[k{u.App, u.Stat.String(), u.Key}] = u.Value
	}
	var up, del [3][]string
	var vals []int64
	for key, v := range last {
		cols := &up
		if v == 0 {
			cols = &del
		} else {
			vals = append(vals, v)
		}
		cols[0], cols[1], cols[2] = append(cols[0], key.app), append(cols[1], key.stat), append(cols[2], key.key)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("write stats counters: begin: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if len(vals) > 0 {
		if _, err := tx.Exec(ctx, upsertCountersSQL, up[0], up[1], up[2], vals, s.now()); err != nil {
			return fmt.Errorf("upsert stats counters: %w", err)
		}
	}
	if len(del[0]) > 0 {
		if _, err := tx.Exec(ctx, deleteCountersSQL, del[0], del[1], del[2]); err != nil {
			return fmt.Errorf("delete stats counters: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("write stats counters: commit: %w", err)
	}
	return nil
}
