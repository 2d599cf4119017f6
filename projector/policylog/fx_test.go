package policylog

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
)

func TestModule(t *testing.T) {
	t.Parallel()
	b := setup(t, "app1")
	pool := newPool(t)
	var c *Compactor
	app := fx.New(fx.NopLogger,
		fx.Supply(Config{CompactEvery: 1}, discard(), pool),
		fx.Provide(func() jetstream.JetStream { return b.js }),
		fx.Provide(func() prometheus.Registerer { return prometheus.NewRegistry() }),
		Module,
		fx.Populate(&c),
		fx.Invoke(func(*RevisionWriter) {}),
	)
	require.NoError(t, app.Err())
	require.NoError(t, app.Start(context.Background()))
	seq := b.publish(t, "app1", replaced(doc(t)))
	waitCompacted(t, c, seq)
	waitRows(t, pool, 1)
	require.NoError(t, app.Stop(context.Background()))
}
