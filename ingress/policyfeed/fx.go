package policyfeed

import (
	"log/slog"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"

	"github.com/invitegate/invitegate/decider"
)

// Module provides the *Follower from a supplied Config, the
// jetstream.JetStream (natsconn.Module), the *decider.Engine the ingress
// decides with, a *slog.Logger and a prometheus.Registerer. OnStart loads
// the snapshot on disk and starts following; OnStop stops, saves the
// newest snapshot and removes the replica's status. Nothing starts unless
// the root asks for *Follower (fx.Invoke(func(*policyfeed.Follower) {})).
var Module = fx.Module("policyfeed",
	fx.Provide(provideFollower),
)

func provideFollower(lc fx.Lifecycle, cfg Config, js jetstream.JetStream, engine *decider.Engine,
	logger *slog.Logger, reg prometheus.Registerer) (*Follower, error) {
	f, err := New(cfg, js, engine, logger, reg)
	if err != nil {
		return nil, err
	}
	lc.Append(fx.Hook{OnStart: f.Start, OnStop: f.Stop})
	return f, nil
}
