package projector

import (
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"
)

// Module provides, from a supplied Config, *slog.Logger,
// prometheus.Registerer and jetstream.JetStream (natsconn.Module):
//   - *pgxpool.Pool, closed OnStop;
//   - *Database: OnStart creates the database if missing and migrates it
//     (unless Config.NoMigrate), and when PostgreSQL is unreachable keeps
//     trying in the background instead of failing the start;
//   - *Worker: started OnStart, fetching only once the Database is ready;
//     stopped OnStop within the stop deadline.
//
// fx builds only what is asked for: the root must fx.Invoke(func(*projector.Worker) {}).
var Module = fx.Module("projector",
	fx.Provide(providePool, provideDatabase, provideWorker),
)

func providePool(lc fx.Lifecycle, cfg Config) (*pgxpool.Pool, error) {
	pool, err := NewPool(cfg)
	if err != nil {
		return nil, err
	}
	lc.Append(fx.StopHook(pool.Close))
	return pool, nil
}

func provideDatabase(lc fx.Lifecycle, cfg Config, logger *slog.Logger, reg prometheus.Registerer) (*Database, error) {
	d, err := NewDatabase(cfg, logger, reg)
	if err != nil {
		return nil, err
	}
	lc.Append(fx.Hook{OnStart: d.Start, OnStop: d.Stop})
	return d, nil
}

func provideWorker(lc fx.Lifecycle, cfg Config, js jetstream.JetStream, pool *pgxpool.Pool, db *Database,
	logger *slog.Logger, reg prometheus.Registerer) (*Worker, error) {
	w, err := New(cfg, js, pool, logger, reg)
	if err != nil {
		return nil, err
	}
	w.WaitFor(db.Ready())
	lc.Append(fx.Hook{OnStart: w.Start, OnStop: w.Stop})
	return w, nil
}
