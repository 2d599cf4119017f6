package projector_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/projector"
)

// A projector started while PostgreSQL refuses connections starts anyway,
// fetches nothing (events wait in the stream) and reports the database not
// ready; once PostgreSQL appears, the database is created and migrated and
// every event is projected.
func TestWorkerStartsWithoutDatabase(t *testing.T) {
	t.Parallel()
	b := setup(t)
	px := newProxy(t, "127.0.0.1:5432")
	px.cut()
	cfg := b.cfg
	dsn := newDatabaseURL(t)
	cfg.DatabaseURL = replaceHost(dsn, px.addr())
	reg := prometheus.NewRegistry()
	db, err := projector.NewDatabase(cfg, b.logger, reg)
	require.NoError(t, err)
	db.RetryMin, db.RetryMax = 10*time.Millisecond, 50*time.Millisecond
	require.NoError(t, db.Start(t.Context()), "an unreachable database does not fail the start")
	t.Cleanup(func() { require.NoError(t, db.Stop(context.Background())) })
	require.False(t, db.IsReady())

	pool := newPool(t, cfg.DatabaseURL)
	w, err := projector.New(cfg, b.js, pool, b.logger, reg)
	require.NoError(t, err)
	w.WaitFor(db.Ready())
	require.NoError(t, w.Start(t.Context()))
	t.Cleanup(func() { require.NoError(t, w.Stop(context.Background())) })

	b.publish(t, invites(500), 10)
	require.Eventually(t, func() bool {
		return counterValue(t, reg, "invitegate_projector_database_prepare_failures_total") >= 3
	}, waitFor, 10*time.Millisecond)
	info, err := b.consumerInfo()
	require.NoError(t, err)
	require.EqualValues(t, 50, info.NumPending, "nothing fetched while the database is down")
	require.Zero(t, counterValue(t, reg, "invitegate_projector_database_ready"))

	px.restore()
	select {
	case <-db.Ready():
	case <-time.After(waitFor):
		require.Fail(t, "database never ready")
	}
	require.True(t, db.IsReady())
	require.Equal(t, 1.0, counterValue(t, reg, "invitegate_projector_database_ready"))
	waitRows(t, newPool(t, dsn), "invite_events", 500)
}

// Stop before Start, twice, and Start after Stop.
func TestDatabaseLifecycle(t *testing.T) {
	t.Parallel()
	db, err := projector.NewDatabase(projector.Config{}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	require.NoError(t, err)
	require.NoError(t, db.Stop(context.Background()))
	require.NoError(t, db.Stop(context.Background()))
	require.ErrorIs(t, db.Start(context.Background()), projector.ErrDatabaseStopped)
}
