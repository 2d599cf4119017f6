package stats

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
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

const loadGroupSizesSQL = `
SELECT g.app, g.group_id, g.size, g.stream_seq
FROM invitegate.group_sizes g
JOIN unnest($1::text[], $2::text[]) AS u(app, group_id) ON g.app = u.app AND g.group_id = u.group_id`

// The WHERE keeps a size covering more of the stream (another aggregator
// ahead of this one) from being replaced.
const saveGroupSizesSQL = `
INSERT INTO invitegate.group_sizes AS g (app, group_id, size, stream_seq, updated_at)
SELECT app, group_id, size, seq, $5 FROM unnest($1::text[], $2::text[], $3::int8[], $4::int8[]) AS u(app, group_id, size, seq)
ON CONFLICT (app, group_id) DO UPDATE SET size = excluded.size, stream_seq = excluded.stream_seq, updated_at = excluded.updated_at
WHERE g.stream_seq < excluded.stream_seq`

// groupChunk bounds the groups of one load or save statement.
const groupChunk = 20_000

// GroupStore keeps group sizes (see Aggregator.KeepGroupSizes).
type GroupStore interface {
	// LoadGroupSizes returns the stored sizes of keys; a group never
	// stored is missing from the map.
	LoadGroupSizes(ctx context.Context, keys []GroupKey) (map[GroupKey]GroupSize, error)
	// SaveGroupSizes stores sizes, each unless the stored one covers a
	// later stream sequence.
	SaveGroupSizes(ctx context.Context, sizes []GroupSize) error
}

var _ GroupStore = (*CounterStore)(nil)

// LoadGroupSizes implements GroupStore on invitegate.group_sizes.
func (s *CounterStore) LoadGroupSizes(ctx context.Context, keys []GroupKey) (map[GroupKey]GroupSize, error) {
	out := make(map[GroupKey]GroupSize)
	for chunk := range slices.Chunk(keys, groupChunk) {
		apps, groups := make([]string, len(chunk)), make([]string, len(chunk))
		for i, k := range chunk {
			apps[i], groups[i] = k.App, k.Group
		}
		rows, err := s.pool.Query(ctx, loadGroupSizesSQL, apps, groups)
		if err != nil {
			return nil, fmt.Errorf("load group sizes: %w", err)
		}
		var g GroupSize
		_, err = pgx.ForEachRow(rows, []any{&g.App, &g.Group, &g.Size, &g.Seq}, func() error {
			out[g.GroupKey] = g
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("load group sizes: %w", err)
		}
	}
	return out, nil
}

// SaveGroupSizes implements GroupStore on invitegate.group_sizes.
func (s *CounterStore) SaveGroupSizes(ctx context.Context, sizes []GroupSize) error {
	now := s.now()
	for chunk := range slices.Chunk(sizes, groupChunk) {
		apps, groups := make([]string, len(chunk)), make([]string, len(chunk))
		vals, seqs := make([]int64, len(chunk)), make([]int64, len(chunk))
		for i, g := range chunk {
			apps[i], groups[i], vals[i], seqs[i] = g.App, g.Group, g.Size, int64(g.Seq)
		}
		if _, err := s.pool.Exec(ctx, saveGroupSizesSQL, apps, groups, vals, seqs, now); err != nil {
			return fmt.Errorf("save group sizes: %w", err)
		}
	}
	return nil
}

// CounterStore keeps invitegate.stats_counters (and so the top_counters
// view) equal to the values the aggregator publishes: non-zero values are
// upserted, zeros deleted. Writes are absolute, so several aggregators
// writing the same values is harmless. It is also the aggregator's
// GroupStore, on invitegate.group_sizes.
type CounterStore struct {
	pool *pgxpool.Pool
	now  func() time.Time
}

// NewCounterStore returns a CounterStore on pool (migrated to 00005). now
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
