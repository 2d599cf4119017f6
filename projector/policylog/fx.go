package policylog

import (
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"
)

// Module provides the *Compactor and the *RevisionWriter from a supplied
// Config, the jetstream.JetStream (natsconn.Module), the *pgxpool.Pool
// (projector.Module, which migrates the database OnStart), a *slog.Logger
// and a prometheus.Registerer. Each starts OnStart and stops OnStop. The
// root asks for them: fx.Invoke(func(*policylog.Compactor, *policylog.RevisionWriter) {}).
var Module = fx.Module("policylog",
	fx.Provide(provideCompactor, provideRevisionWriter),
)

func provideCompactor(lc fx.Lifecycle, cfg Config, js jetstream.JetStream, logger *slog.Logger, reg prometheus.Registerer) (*Compactor, error) {
	c, err := NewCompactor(cfg, js, logger, reg)
	if err != nil {
		return nil, err
	}
	lc.Append(fx.Hook{OnStart: c.Start, OnStop: c.Stop})
	return c, nil
}

func provideRevisionWriter(lc fx.Lifecycle, cfg Config, js jetstream.JetStream, pool *pgxpool.Pool,
	logger *slog.Logger, reg prometheus.Registerer) (*RevisionWriter, error) {
	w, err := NewRevisionWriter(cfg, js, pool, logger, reg)
	if err != nil {
		return nil, err
	}
	lc.Append(fx.Hook{OnStart: w.Start, OnStop: w.Stop})
	return w, nil
}
