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

// writeTopSQL replaces the table's rows with $1..$4: rows missing from them
// go, the others are upserted. Both parts see the same snapshot and touch
// disjoint rows, so two aggregators writing at once cannot collide.
const writeTopSQL = `
WITH top AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[]) AS u(app, stat, key, value)
), gone AS (
    DELETE FROM invitegate.stats_counters c
    WHERE NOT EXISTS (SELECT 1 FROM top WHERE top.app = c.app AND top.stat = c.stat AND top.key = c.key)
)
INSERT INTO invitegate.stats_counters AS c (app, stat, key, value, updated_at)
SELECT app, stat, key, value, $5 FROM top
ON CONFLICT (app, stat, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at
WHERE c.value IS DISTINCT FROM excluded.value`

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
// view) equal to the aggregator's top counters (a TopStore). It is also the
// aggregator's GroupStore, on invitegate.group_sizes.
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

// WriteTop implements TopStore in one statement.
func (s *CounterStore) WriteTop(ctx context.Context, top []decider.StatUpdate) error {
	apps, stats, keys, vals := make([]string, len(top)), make([]string, len(top)), make([]string, len(top)), make([]int64, len(top))
	for i, u := range top {
		apps[i], stats[i], keys[i], vals[i] = u.App, u.Stat.String(), u.Key, u.Value
	}
	if _, err := s.pool.Exec(ctx, writeTopSQL, apps, stats, keys, vals, s.now()); err != nil {
		return fmt.Errorf("write stats counters: %w", err)
	}
	return nil
}
