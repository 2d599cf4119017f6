package projector_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/decider/startstop/startstoptest"
	"github.com/invitegate/invitegate/projector"
)

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tc := range []struct {
		name string
		cfg  projector.Config
		want string
	}{
		{"batch size", projector.Config{BatchSize: -1}, "batch size -1 < 1"},
		{"batch wait", projector.Config{BatchWait: -time.Second}, "batch wait -1s is negative"},
		{"in flight", projector.Config{InFlight: -2}, "in-flight batches -2 < 1"},
		{"pool", projector.Config{InFlight: 4, PoolSize: 3}, "pool size 3 < in-flight batches + 1 (5)"},
		{"ack pending", projector.Config{BatchSize: 100, MaxAckPending: 10}, "max ack pending 10 < batch size 100"},
		{"ack wait", projector.Config{AckWait: time.Millisecond}, "ack wait 1ms < 1s"},
		{"max deliver", projector.Config{MaxDeliver: -1}, "max deliver -1 < 1"},
		{"backoff", projector.Config{BackOff: []time.Duration{time.Second, 0}}, "backoff[1] 0s is not positive"},
		{"retry min", projector.Config{RetryMin: -time.Second}, "retry min -1s is not positive"},
		{"retry max", projector.Config{RetryMin: time.Second, RetryMax: time.Millisecond}, "retry max 1ms < retry min 1s"},
		{"write timeout", projector.Config{WriteTimeout: -1}, "write timeout -1ns is not positive"},
		{"pending interval", projector.Config{PendingInterval: -1}, "pending interval -1ns is not positive"},
		{"retention", projector.Config{Retention: time.Hour}, "retention 1h0m0s: want 0 (keep everything) or at least 24h0m0s"},
		{"negative retention", projector.Config{Retention: -time.Hour}, "retention -1h0m0s"},
		{"partitions ahead", projector.Config{PartitionsAhead: 400}, "partitions ahead 400: want 1 to 365 days"},
		{"partition interval", projector.Config{PartitionInterval: time.Second}, "partition interval 1s < 1m"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := projector.New(tc.cfg, nil, nil, logger, prometheus.NewRegistry())
			require.ErrorIs(t, err, projector.ErrInvalidConfig)
			require.ErrorContains(t, err, tc.want)
			_, err = projector.NewPool(tc.cfg)
			require.ErrorIs(t, err, projector.ErrInvalidConfig)
		})
	}
	_, err := projector.NewPool(projector.Config{DatabaseURL: "postgres://%zz"})
	require.ErrorContains(t, err, "parse database url")
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	w, err := projector.New(b.cfg, b.js, b.pool, b.logger, reg)
	require.NoError(t, err)
	_, err = projector.New(b.cfg, b.js, b.pool, b.logger, reg)
	require.ErrorContains(t, err, "register projector metrics")

	require.NoError(t, w.Stop(ctx), "stop before start")
	require.ErrorIs(t, w.Start(ctx), projector.ErrStopped)

	startstoptest.Stress(t, func(t *testing.T) startstoptest.Component {
		w, err := projector.New(b.cfg, b.js, b.pool, b.logger, prometheus.NewRegistry())
		require.NoError(t, err)
		return w
	})

	cfg := b.cfg
	cfg.Stream = "NO_SUCH_STREAM"
	w3, err := projector.New(cfg, b.js, b.pool, b.logger, prometheus.NewRegistry())
	require.NoError(t, err)
	require.ErrorIs(t, w3.Start(ctx), projector.ErrStreamNotFound)
}

func TestPrepare(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := newDatabaseURL(t)
	report, err := projector.Prepare(ctx, projector.Config{DatabaseURL: dsn, NoMigrate: true})
	require.NoError(t, err)
	require.Empty(t, report)
	report, err = projector.Prepare(ctx, projector.Config{DatabaseURL: dsn})
	require.NoError(t, err)
	require.Contains(t, report.String(), "OK    up 00001_events.sql")
	_, err = projector.Prepare(ctx, projector.Config{DatabaseURL: "postgres://postgres@127.0.0.1:1/x?connect_timeout=2"})
	require.ErrorContains(t, err, `connect to database "x"`)
}
