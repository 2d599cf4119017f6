package stats

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/decider"
	"github.com/invitegate/invitegate/migrations/pgtest"
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
	pool, err := pgxpool.New(context.Background(), pgtest.NewMigrated(t))
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	a, err := New(Config{Now: b.clock.Now, FlushInterval: time.Hour, RefreshInterval: time.Hour}, b.nc, b.js,
		slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	require.NoError(t, err)
	a.WriteTo(NewCounterStore(pool, b.clock.Now))
	require.NoError(t, a.Start(context.Background()))
	t.Cleanup(func() { require.NoError(t, a.Stop(context.Background())) })
	waitCaughtUp(t, a)

	now := b.clock.Now()
	b.publish(t, invite(now, "a", "g", "alice", decider.OutcomeAllow, "m1", "m2"),
		invite(now, "a", "g", "bob", decider.OutcomeReject, "m1"))
	require.Eventually(t, func() bool { return a.Value(decider.StatOperatorInvites1h, "a", "bob") == 1 }, 5*time.Second, 5*time.Millisecond)
	flush := func() {
		written := a.sink.writtenCh()
		require.NoError(t, a.Flush())
		<-written
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

// failingSink fails its first write, then records.
type failingSink struct {
	fails int
	got   []decider.StatUpdate
}

func (s *failingSink) Write(_ context.Context, us []decider.StatUpdate) error {
	if s.fails > 0 {
		s.fails--
		return errors.New("database down")
	}
	s.got = append(s.got, us...)
	return nil
}

func TestSinkRetriesAndKeepsNewerValues(t *testing.T) {
	t.Parallel()
	sink := &failingSink{fails: 1}
	q := newSinkQueue(sink, time.Hour) // the retry comes from the newer update, not the timer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var errs []error
	go func() { defer close(done); q.run(ctx, func(err error) { errs = append(errs, err) }) }()

	u := func(v int64) decider.StatUpdate {
		return decider.StatUpdate{Stat: decider.StatGroupSize, App: "a", Key: "g", Value: v}
	}
	written := q.writtenCh()
	q.add([]decider.StatUpdate{u(1)})
	<-written // failed
	written = q.writtenCh()
	q.add([]decider.StatUpdate{u(2)}) // newer than the failed value
	<-written
	cancel()
	<-done
	require.Len(t, errs, 1)
	require.Equal(t, []decider.StatUpdate{u(2)}, sink.got)
}

func TestSinkRetriesAfterWait(t *testing.T) {
	t.Parallel()
	sink := &failingSink{fails: 1}
	q := newSinkQueue(sink, time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); q.run(ctx, func(error) {}) }()
	u := decider.StatUpdate{Stat: decider.StatGroupSize, App: "a", Key: "g", Value: 7}
	written := q.writtenCh()
	q.add([]decider.StatUpdate{u})
	<-written // failed
	written = q.writtenCh()
	<-written // retried by the timer, with no new update
	cancel()
	<-done
	require.Equal(t, []decider.StatUpdate{u}, sink.got)
}

func TestCounterStoreDatabaseDown(t *testing.T) {
	t.Parallel()
	pool, err := pgxpool.New(context.Background(), pgtest.NewMigrated(t))
	require.NoError(t, err)
	pool.Close()
	err = NewCounterStore(pool, nil).Write(context.Background(), []decider.StatUpdate{{Stat: decider.StatGroupSize, App: "a", Key: "g", Value: 1}})
	require.ErrorContains(t, err, "write stats counters: begin")
}
