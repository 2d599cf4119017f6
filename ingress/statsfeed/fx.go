package statsfeed

import (
	"context"
	"log/slog"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"

	"github.com/invitegate/invitegate/decider"
)

// Module provides the *Table and the *Follower from a supplied Config, the
// *nats.Conn (natsconn.Module), the *decider.Engine, a *slog.Logger and a
// prometheus.Registerer. OnStart makes the Table the Engine's stats
// source and subscribes; OnStop unsubscribes and detaches the Table.
// Nothing starts unless the root asks for *Follower.
var Module = fx.Module("statsfeed",
	fx.Provide(NewTable, provideFollower),
)

func provideFollower(lc fx.Lifecycle, cfg Config, nc *nats.Conn, table *Table, engine *decider.Engine,
	logger *slog.Logger, reg prometheus.Registerer) (*Follower, error) {
	f, err := New(cfg, nc, table, engine, logger, reg)
	if err != nil {
		return nil, err
	}
	lc.Append(fx.Hook{
		OnStart: func(ctx context.Context) error {
			engine.SetStats(table)
			return f.Start(ctx)
		},
		OnStop: func(ctx context.Context) error {
			engine.SetStats(nil)
			return f.Stop(ctx)
		},
	})
	return f, nil
}
