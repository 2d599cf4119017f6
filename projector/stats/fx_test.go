package stats

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/invitegate/invitegate/decider"
)

func TestModule(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var a *Aggregator
	app := fx.New(fx.NopLogger,
		fx.Supply(Config{Now: b.clock.Now}, slog.New(slog.DiscardHandler)),
		fx.Provide(func() *nats.Conn { return b.nc }, func() jetstream.JetStream { return b.js }),
		fx.Provide(func() prometheus.Registerer { return prometheus.NewRegistry() }),
		Module,
		fx.Populate(&a),
	)
	require.NoError(t, app.Err())
	require.NoError(t, app.Start(context.Background()))
	waitCaughtUp(t, a)
	b.publish(t, invite(b.clock.Now(), "a", "g", "o", decider.OutcomeAllow, "m"))
	require.Eventually(t, func() bool { return a.Value(decider.StatGroupSize, "a", "g") == 1 }, 5*time.Second, 5*time.Millisecond)
	require.NoError(t, app.Stop(context.Background()))
}
