package faults_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/invitegate/invitegate/cmd/internal/faults"
	"github.com/invitegate/invitegate/migrations/pgtest"
)

func TestPGProxyBlackholesRefusesAndRestores(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDatabase(t)
	px, err := faults.NewPGProxy(pgtest.Addr())
	require.NoError(t, err)
	t.Cleanup(px.Close)
	viaProxy, err := px.URL(dsn)
	require.NoError(t, err)
	require.Contains(t, viaProxy, px.Addr())

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, viaProxy)
	require.NoError(t, err)
	defer conn.Close(ctx)
	ping := func(c *pgx.Conn) error {
		ctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer cancel()
		return c.Ping(ctx)
	}
	require.NoError(t, ping(conn))

	// Blackhole: the open connection hangs, a new one cannot complete.
	require.NoError(t, px.Blackhole())
	require.ErrorIs(t, ping(conn), context.DeadlineExceeded)
	cctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	_, err = pgx.Connect(cctx, viaProxy)
	cancel()
	require.Error(t, err)

	// Refuse: connects fail at once.
	px.Refuse()
	_, err = pgx.Connect(ctx, viaProxy)
	require.ErrorContains(t, err, "refused")

	// Restore: the same address works again.
	require.NoError(t, px.Restore())
	conn2, err := pgx.Connect(ctx, viaProxy)
	require.NoError(t, err)
	defer conn2.Close(ctx)
	require.NoError(t, ping(conn2))
}

func TestPGProxyURLRejectsBadURL(t *testing.T) {
	t.Parallel()
	px, err := faults.NewPGProxy(pgtest.Addr())
	require.NoError(t, err)
	t.Cleanup(px.Close)
	_, err = px.URL("postgres://[::1")
	require.ErrorContains(t, err, "parse database url")
}
