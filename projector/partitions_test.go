package projector

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/migrations/pgtest"
)

func newTestPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), pgtest.NewMigrated(t))
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

// invitesAt returns a batch of n invites received at.
func invitesAt(n int, at time.Time) *batchRows {
	r := &batchRows{}
	for _, ev := range benchEvents(n) {
		ev.ReceivedAt, ev.DecidedAt = at, at
		r.invites = append(r.invites, &ev)
	}
	return r
}

func count(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, pool.QueryRow(context.Background(), sql, args...).Scan(&n))
	return n
}

// TestWriteBatchCreatesTheDaysPartition stores events of a day that has no
// partition (a replay of last year): the batch creates it, and a second
// copy is skipped as usual.
func TestWriteBatchCreatesTheDaysPartition(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := newTestPool(t)
	old := time.Now().AddDate(-1, 0, 0)
	r := invitesAt(5, old)
	res, err := writeBatch(ctx, pool, newPartitions(), r)
	require.NoError(t, err)
	require.Equal(t, 5, res.inserted["invite"])
	require.Equal(t, 1, count(t, pool, `SELECT count(*) FROM invitegate.partitions
		WHERE parent = 'invite_events' AND from_time <= $1 AND to_time > $1`, old))

	res, err = writeBatch(ctx, pool, newPartitions(), r)
	require.NoError(t, err)
	require.Equal(t, 0, res.inserted["invite"])
	require.Equal(t, 5, res.duplicates)
	require.Equal(t, 5, count(t, pool, `SELECT count(*) FROM invitegate.invite_events`))
	require.Equal(t, 10, count(t, pool, `SELECT count(*) FROM invitegate.invite_members`))
}

// TestWriteBatchAfterPartitionDropped drops, behind a projector's back, the
// partition it knows: the write fails as a transient error (retried, never
// dead-lettered) and the retry creates the partition again.
func TestWriteBatchAfterPartitionDropped(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := newTestPool(t)
	parts := newPartitions()
	old := time.Now().AddDate(0, 0, -20)
	_, err := writeBatch(ctx, pool, parts, invitesAt(2, old))
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `SELECT invitegate.drop_partitions($1)`, old.Add(48*time.Hour))
	require.NoError(t, err)

	r := invitesAt(3, old)
	_, err = writeBatch(ctx, pool, parts, r)
	require.Error(t, err)
	require.False(t, isDataError(err), "a dropped partition is not the data's fault: %v", err)
	res, err := writeBatch(ctx, pool, parts, r)
	require.NoError(t, err)
	require.Equal(t, 3, res.inserted["invite"])
}

// TestRetentionDropsWholePartitions keeps 3 days: the partitions of older
// days go, with their rows, and the rollups stay whole.
func TestRetentionDropsWholePartitions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := newTestPool(t)
	now := time.Now()
	w, err := New(Config{Retention: 72 * time.Hour, Now: func() time.Time { return now }}, nil, pool,
		slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	require.NoError(t, err)
	for _, age := range []int{10, 5, 1, 0} {
		_, err := writeBatch(ctx, pool, w.parts, invitesAt(4, now.AddDate(0, 0, -age)))
		require.NoError(t, err)
	}
	rollups := `SELECT sum(requests) FROM invitegate.invite_rollup_hourly`
	require.Equal(t, 16, count(t, pool, rollups))

	w.partitionPass(ctx)
	require.Equal(t, 8, count(t, pool, `SELECT count(*) FROM invitegate.invite_events`))
	require.Equal(t, 16, count(t, pool, `SELECT count(*) FROM invitegate.invite_members`))
	require.Equal(t, 16, count(t, pool, rollups), "rollups are kept")
	require.Zero(t, count(t, pool, `SELECT count(*) FROM invitegate.partitions WHERE to_time <= $1`, now.Add(-72*time.Hour)))
	require.Equal(t, 3*2, int(testutil.ToFloat64(w.m.partitionsDropped)), "the 10 and 5 days old, three tables each")
	// Ahead: tomorrow to PartitionsAhead days.
	require.Equal(t, 3, count(t, pool, `SELECT count(*) FROM invitegate.partitions WHERE from_time <= $1 AND to_time > $1`,
		now.AddDate(0, 0, DefaultPartitionsAhead)))

	// The next batch still lands, even of a day the projector knew.
	_, err = writeBatch(ctx, pool, w.parts, invitesAt(1, now))
	require.NoError(t, err)
}

// TestRetentionFinishesAnInterruptedDetach leaves a partition half detached
// (DETACH ... CONCURRENTLY cancelled while it waited for a reader): the next
// pass finishes the detach and drops it.
func TestRetentionFinishesAnInterruptedDetach(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := newTestPool(t)
	now := time.Now()
	w, err := New(Config{Retention: 72 * time.Hour, Now: func() time.Time { return now }}, nil, pool,
		slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	require.NoError(t, err)
	old := now.AddDate(0, 0, -10)
	_, err = writeBatch(ctx, pool, w.parts, invitesAt(3, old))
	require.NoError(t, err)
	var part string
	require.NoError(t, pool.QueryRow(ctx, `SELECT partition FROM invitegate.partitions
		WHERE parent = 'invite_events' AND from_time <= $1 AND to_time > $1`, old).Scan(&part))

	reader, err := pool.Begin(ctx) // a reader the detach must wait for
	require.NoError(t, err)
	_, err = reader.Exec(ctx, `SELECT count(*) FROM invitegate.invite_events`)
	require.NoError(t, err)
	conn, err := pool.Acquire(ctx)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `SET statement_timeout = '300ms'`)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `ALTER TABLE invitegate.invite_events DETACH PARTITION invitegate.`+part+` CONCURRENTLY`)
	require.ErrorContains(t, err, "statement timeout")
	_, err = conn.Exec(ctx, `RESET statement_timeout`)
	require.NoError(t, err)
	conn.Release()
	require.NoError(t, reader.Rollback(ctx))
	require.Equal(t, 1, count(t, pool, `SELECT count(*) FROM invitegate.partitions WHERE partition = $1 AND detach_pending`, part))

	w.partitionPass(ctx)
	require.Zero(t, count(t, pool, `SELECT count(*) FROM pg_class WHERE relname = $1`, part))
	require.Zero(t, count(t, pool, `SELECT count(*) FROM invitegate.invite_events`))
	require.Zero(t, int(testutil.ToFloat64(w.m.partitionErrors.WithLabelValues("drop"))))
}
