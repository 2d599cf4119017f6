package statsfeed

import (
	"context"
	"log/slog"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/invitegate/invitegate/decider"
)

// TestModule starts the module: the Table becomes the engine's stats
// source and follows the subject; stopping detaches it.
func TestModule(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.engine.SetStats(nil)
	var f *Follower
	app := fx.New(fx.NopLogger,
		fx.Supply(Config{}, slog.New(slog.DiscardHandler), b.engine),
		fx.Provide(func() *nats.Conn { return b.nc }),
		fx.Provide(func() prometheus.Registerer { return prometheus.NewRegistry() }),
		Module,
		fx.Populate(&f),
	)
	require.NoError(t, app.Err())
	require.NoError(t, app.Start(context.Background()))
	b.f = f
	b.send(t, op("a", "alice", 201))
	r := &decider.Request{App: "a", Operator: "alice", Members: []string{"bob"}}
	require.Equal(t, decider.OutcomeReject, b.engine.Decide(r).Outcome)
	require.NoError(t, app.Stop(context.Background()))
	require.Equal(t, decider.OutcomeAllow, b.engine.Decide(r).Outcome, "detached at stop")
}
