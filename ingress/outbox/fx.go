package outbox

import (
	"log/slog"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"
)

// Module provides *Outbox from a supplied Config, jetstream.JetStream and
// *nats.Conn (natsconn.Module), prometheus.Registerer and *slog.Logger.
// OnStart opens the spool and starts the publishers (it does not wait for
// NATS); OnStop flushes within Config.FlushTimeout and spools the rest, so
// the app's stop timeout should exceed FlushTimeout.
var Module = fx.Module("outbox", fx.Provide(provide))

func provide(lc fx.Lifecycle, cfg Config, js jetstream.JetStream, nc *nats.Conn,
	reg prometheus.Registerer, logger *slog.Logger) (*Outbox, error) {
	o, err := New(cfg, js, nc, logger, reg)
	if err != nil {
		return nil, err
	}
	lc.Append(fx.Hook{OnStart: o.Start, OnStop: o.Stop})
	return o, nil
}
