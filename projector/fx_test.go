package projector_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/invitegate/invitegate/decider"
	"github.com/invitegate/invitegate/projector"
)

func TestModuleValidates(t *testing.T) {
	t.Parallel()
	require.NoError(t, fx.ValidateApp(
		projector.Module,
		fx.Supply(projector.Config{}, slog.New(slog.NewTextHandler(io.Discard, nil))),
		fx.Provide(func() prometheus.Registerer { return prometheus.NewRegistry() }),
		fx.Provide(func() jetstream.JetStream { return nil }),
		fx.Invoke(func(*projector.Worker) {}),
		fx.NopLogger,
	))
}

// TestModuleRuns starts the module on a database that does not exist yet:
// it is created and migrated at start, and events flow.
func TestModuleRuns(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cfg := b.cfg
	cfg.DatabaseURL = newDatabaseURL(t)
	app := fx.New(
		projector.Module,
		fx.Supply(cfg, b.logger),
		fx.Provide(func() prometheus.Registerer { return prometheus.NewRegistry() }),
		fx.Provide(func() jetstream.JetStream { return b.js }),
		fx.Invoke(func(*projector.Worker) {}),
		fx.NopLogger,
	)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, app.Start(ctx))
	b.publish(t, []decider.Event{invite(1), invite(2)}, 2)
	waitRows(t, newPool(t, cfg.DatabaseURL), "invite_events", 2)
	require.NoError(t, app.Stop(ctx))
}
