package projector

import (
	"context"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"
)

// Module provides, from a supplied Config, *slog.Logger,
// prometheus.Registerer and jetstream.JetStream (natsconn.Module):
//   - *pgxpool.Pool: OnStart creates the database if missing and migrates it
//     (unless Config.NoMigrate); OnStop closes the pool;
//   - *Worker: started OnStart (after the pool's hook), stopped OnStop
//     within the stop deadline.
//
// fx builds only what is asked for: the root must fx.Invoke(func(*projector.Worker) {}).
var Module = fx.Module("projector",
	fx.Provide(providePool, provideWorker),
)

func providePool(lc fx.Lifecycle, cfg Config, logger *slog.Logger) (*pgxpool.Pool, error) {
	pool, err := NewPool(cfg)
	if err != nil {
		return nil, err
	}
	lc.Append(fx.Hook{
		OnStart: func(ctx context.Context) error {
			report, err := Prepare(ctx, cfg)
			for _, line := range report {
				logger.Info("migration", "result", line)
			}
			return err
		},
		OnStop: func(context.Context) error {
			pool.Close()
			return nil
		},
	})
	return pool, nil
}

func provideWorker(lc fx.Lifecycle, cfg Config, js jetstream.JetStream, pool *pgxpool.Pool,
	logger *slog.Logger, reg prometheus.Registerer) (*Worker, error) {
	w, err := New(cfg, js, pool, logger, reg)
	if err != nil {
		return nil, err
	}
	lc.Append(fx.Hook{OnStart: w.Start, OnStop: w.Stop})
	return w, nil
}
