package stats

import (
	"log/slog"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"
)

// Module provides the *Aggregator from a supplied Config, the *nats.Conn
// and jetstream.JetStream (natsconn.Module), a *slog.Logger and a
// prometheus.Registerer. OnStart starts reading the event stream; OnStop
// stops. Nothing starts unless the root asks for *Aggregator.
var Module = fx.Module("stats",
	fx.Provide(provideAggregator),
)

func provideAggregator(lc fx.Lifecycle, cfg Config, nc *nats.Conn, js jetstream.JetStream,
	logger *slog.Logger, reg prometheus.Registerer) (*Aggregator, error) {
	a, err := New(cfg, nc, js, logger, reg)
	if err != nil {
		return nil, err
	}
	lc.Append(fx.Hook{OnStart: a.Start, OnStop: a.Stop})
	return a, nil
}
