package stats

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/decider"
)

type topRow struct {
	Stat, Key   string
	Value, Rank int64
}

func topCounters(t *testing.T, pool *pgxpool.Pool) []topRow {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT stat, key, value, rank FROM invitegate.top_counters
		WHERE app = 'a' ORDER BY stat, rank, key`)
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[topRow])
	require.NoError(t, err)
	return out
}

func TestTopCountersInPostgres(t *testing.T) {
	t.Parallel()
	b := setup(t)
	pool := pool(t)
	a := b.aggregator(t, func(a *Aggregator) { a.WriteTo(NewCounterStore(pool, b.clock.Now)) })
	waitCaughtUp(t, a)

	now := b.clock.Now()
	b.publish(t, invite(now, "a", "g", "alice", decider.OutcomeAllow, "m1", "m2"),
		invite(now, "a", "g", "bob", decider.OutcomeReject, "m1"))
	require.Eventually(t, func() bool { return a.Value(decider.StatOperatorInvites1h, "a", "bob") == 1 }, 5*time.Second, 5*time.Millisecond)
	flush := func() {
		require.NoError(t, a.Flush(context.Background()))
		require.NoError(t, a.WriteTop(context.Background()))
	}
	flush()
	require.Equal(t, []topRow{
		{"group_invites_1h", "g", 3, 1}, {"group_size", "g", 2, 1},
		{"member_invited_1h", "m1", 2, 1}, {"member_invited_1h", "m2", 1, 2},
		{"operator_invites_1h", "alice", 2, 1}, {"operator_invites_1h", "bob", 1, 2},
		{"operator_invites_24h", "alice", 2, 1}, {"operator_invites_24h", "bob", 1, 2},
		{"operator_refused_24h", "bob", 1, 1},
	}, topCounters(t, pool))

	b.clock.Advance(time.Hour)
	flush()
	require.Equal(t, []topRow{
		{"group_size", "g", 2, 1},
		{"operator_invites_24h", "alice", 2, 1}, {"operator_invites_24h", "bob", 1, 2},
		{"operator_refused_24h", "bob", 1, 1},
	}, topCounters(t, pool), "the 1h counters fell to 0 and were deleted")
}

func TestCounterStoreDatabaseDown(t *testing.T) {
	t.Parallel()
	pool := pool(t)
	pool.Close()
	err := NewCounterStore(pool, nil).WriteTop(context.Background(), []decider.StatUpdate{{Stat: decider.StatGroupSize, App: "a", Key: "g", Value: 1}})
	require.ErrorContains(t, err, "write stats counters")
}

// storedAggregator starts an aggregator keeping group sizes in pool.
func (b *bundle) storedAggregator(t *testing.T, pool *pgxpool.Pool) *Aggregator {
	t.Helper()
	a := b.aggregator(t, func(a *Aggregator) { a.KeepGroupSizes(NewCounterStore(pool, b.clock.Now)) })
	waitCaughtUp(t, a)
	return a
}

// TestGroupSizesOutliveRestartsAndHistory: a restarted aggregator reads the
// same events again without counting them twice, and a group whose events
// have left the stream keeps its size.
func TestGroupSizesOutliveRestartsAndHistory(t *testing.T) {
	t.Parallel()
	b := setup(t)
	pool := pool(t)
	now := b.clock.Now()
	b.publish(t, membership(now, decider.KindMemberJoined, "g", "Apply", "m1", "m2", "m3"),
		invite(now, "a", "g", "alice", decider.OutcomeAllow, "m4"))
	b.publish(t, membership(now, decider.KindMemberExited, "g", "Quit", "m1"))

	size := func(a *Aggregator) func() bool {
		return func() bool {
			require.NoError(t, a.Flush(context.Background()))
			return a.Value(decider.StatGroupSize, "a", "g") == 3
		}
	}
	first := b.storedAggregator(t, pool)
	require.Eventually(t, size(first), 5*time.Second, 5*time.Millisecond)
	require.NoError(t, first.Flush(context.Background())) // saved
	stored := func() (n, seq int64) {
		require.NoError(t, pool.QueryRow(context.Background(),
			`SELECT size, stream_seq FROM invitegate.group_sizes WHERE app = 'a' AND group_id = 'g'`).Scan(&n, &seq))
		return n, seq
	}
	n, seq := stored()
	require.Equal(t, [2]int64{3, 2}, [2]int64{n, seq}, "the size as of the second message")
	require.NoError(t, first.Stop(context.Background()))

	again := b.storedAggregator(t, pool) // reads both messages again
	require.NoError(t, again.Flush(context.Background()))
	require.EqualValues(t, 3, again.Value(decider.StatGroupSize, "a", "g"), "not counted twice")
	require.NoError(t, again.Stop(context.Background()))

	stream, err := b.js.Stream(context.Background(), decider.EventStream)
	require.NoError(t, err)
	require.NoError(t, stream.Purge(context.Background())) // the history is gone
	b.publish(t, membership(now, decider.KindMemberJoined, "g", "Apply", "m5"))
	last := b.storedAggregator(t, pool)
	require.Eventually(t, func() bool {
		require.NoError(t, last.Flush(context.Background()))
		return last.Value(decider.StatGroupSize, "a", "g") == 4
	}, 5*time.Second, 5*time.Millisecond, "the stored 3 and the new join")
	require.NoError(t, last.Flush(context.Background()))
	n, seq = stored()
	require.Equal(t, [2]int64{4, 3}, [2]int64{n, seq})
}

func TestSaveGroupSizesKeepsTheFurtherSize(t *testing.T) {
	t.Parallel()
	s := NewCounterStore(pool(t), nil)
	ctx := context.Background()
	g, h := GroupKey{"a", "g"}, GroupKey{"a", "h"}
	require.NoError(t, s.SaveGroupSizes(ctx, []GroupSize{{g, 5, 10}, {h, 1, 10}}))
	require.NoError(t, s.SaveGroupSizes(ctx, []GroupSize{{g, 4, 9}, {h, 2, 11}})) // g: an aggregator behind
	got, err := s.LoadGroupSizes(ctx, []GroupKey{g, h, {"a", "unknown"}})
	require.NoError(t, err)
	require.Equal(t, map[GroupKey]GroupSize{g: {g, 5, 10}, h: {h, 2, 11}}, got)
}

// TestGroupStoreDown: with the database unreachable, Flush reports the
// load error and publishes the other statistics; group sizes wait.
func TestGroupStoreDown(t *testing.T) {
	t.Parallel()
	b := setup(t)
	pool := pool(t)
	pool.Close()
	heard := b.feed(t)
	a := b.storedAggregator(t, pool)
	now := b.clock.Now()
	b.publish(t, invite(now, "a", "g", "alice", decider.OutcomeAllow, "m1"))
	require.Eventually(t, func() bool { return a.Value(decider.StatOperatorInvites1h, "a", "alice") == 1 }, 5*time.Second, 5*time.Millisecond)
	err := a.Flush(context.Background())
	require.ErrorContains(t, err, "load group sizes")
	require.Eventually(t, func() bool { return heard.Stat(decider.StatOperatorInvites1h, "a", "alice") == 1 }, 5*time.Second, 5*time.Millisecond)
	require.Zero(t, heard.Stat(decider.StatGroupSize, "a", "g"))
	require.Equal(t, []GroupKey{{"a", "g"}}, a.counters.Unbased(), "retried at the next flush")
	_, err = NewCounterStore(pool, nil).LoadGroupSizes(context.Background(), []GroupKey{{"a", "g"}})
	require.ErrorContains(t, err, "load group sizes")
	err = NewCounterStore(pool, nil).SaveGroupSizes(context.Background(), []GroupSize{{GroupKey{"a", "g"}, 1, 1}})
	require.ErrorContains(t, err, "save group sizes")
}
