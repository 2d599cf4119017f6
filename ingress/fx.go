package ingress

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"

	"github.com/invitegate/invitegate/decider"
)

// Module provides the ingress *Handler and *Server; the Server's listeners
// are bound on fx start and shut down gracefully on fx stop. It needs a
// Config (supplied by cmd), a *decider.Engine, a *prometheus.Registry and a
// *slog.Logger, and takes an EventSink when one is provided (events are off
// otherwise). Nothing starts unless something depends on *Server.
var Module = fx.Module("ingress",
	fx.Provide(
		provideHandler,
		provideServer,
	),
)

type handlerParams struct {
	fx.In

	Config   Config
	Engine   *decider.Engine
	Registry *prometheus.Registry
	Logger   *slog.Logger
	Sink     EventSink `optional:"true"`
}

func provideHandler(p handlerParams) (*Handler, error) {
	return NewHandler(p.Config, Deps{Engine: p.Engine, Registry: p.Registry, Logger: p.Logger, Sink: p.Sink})
}

func provideServer(lc fx.Lifecycle, cfg Config, h *Handler) (*Server, error) {
	s, err := NewServer(cfg, h)
	if err != nil {
		return nil, err
	}
	lc.Append(fx.Hook{OnStart: s.Start, OnStop: s.Stop})
	return s, nil
}
