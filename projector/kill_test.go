package projector_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/projector"
)

// TestKilledMidBatch stops workers hard while batches are in flight, over
// and over: their transactions are cancelled or their PostgreSQL sessions
// killed, their NATS connections closed without acks. Nothing may be lost
// or duplicated.
func TestKilledMidBatch(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const n = 20000
	evs := invites(n)
	b.publish(t, evs, 20)
	cfg := b.cfg
	cfg.BatchSize = 500

	stored := 0
	for round := range 6 {
		nc, err := nats.Connect("", nats.InProcessServer(b.srv))
		require.NoError(t, err)
		js := jetstreamOf(t, nc)
		pool := newPool(t, b.dsn)
		w, err := projector.New(cfg, js, pool, b.logger, prometheus.NewRegistry())
		require.NoError(t, err)
		require.NoError(t, w.Start(context.Background()))
		// Let it make progress, so that the kill lands mid-stream.
		target := stored + 1500
		require.Eventually(t, func() bool {
			stored = count(t, b.pool, "SELECT count(*) FROM invitegate.invite_events")
			return stored >= target
		}, waitFor, time.Millisecond)
		if round%2 == 1 { // kill its database sessions under it; it retries and goes on
			_, err := b.pool.Exec(context.Background(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
				WHERE datname = current_database() AND pid <> pg_backend_pid()`)
			require.NoError(t, err)
			target = stored + 1500
			require.Eventually(t, func() bool {
				stored = count(t, b.pool, "SELECT count(*) FROM invitegate.invite_events")
				return stored >= target
			}, waitFor, time.Millisecond)
		}
		cancelled, cancel := context.WithCancel(context.Background())
		cancel()
		if err := w.Stop(cancelled); err != nil {
			require.ErrorIs(t, err, context.Canceled)
		}
		nc.Close()
		pool.Close()
		b.pool.Reset() // its connections were terminated too
	}

	_, _ = b.worker(t, cfg, b.js, b.pool)
	waitRows(t, b.pool, "invite_events", n)
	waitRows(t, b.pool, "invite_members", 2*n)
	require.Equal(t, 0, count(t, b.pool, "SELECT count(*) FROM invitegate.dead_letters"))
	requireRollupsMatchRows(t, b.pool)
}
