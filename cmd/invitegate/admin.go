package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/fx"

	"github.com/invitegate/invitegate/ingress"
	"github.com/invitegate/invitegate/projector"
)

// adminOptions configure the admin listener of a process that has no ingress
// (the ingress serves its own /metrics, /healthz and /readyz).
type adminOptions struct {
	Addr  string
	Pprof bool
}

func (o *adminOptions) register(f *flags) {
	f.String(&o.Addr, "admin-addr", "127.0.0.1:9090", "host:port of the admin listener (/metrics, /healthz, /readyz)")
	f.Bool(&o.Pprof, "admin-pprof", false, "also serve Go's profiles under /debug/pprof/ on the admin listener")
}

// adminParams are what the admin listener reports on.
type adminParams struct {
	fx.In

	Lifecycle fx.Lifecycle
	Options   adminOptions
	Registry  *prometheus.Registry
	Logger    *slog.Logger
	// Database is the projector's: /readyz is 503 while it is unreachable.
	Database *projector.Database `optional:"true"`
}

// startAdmin serves /metrics, /healthz and /readyz; /readyz turns 200 once
// every role started before it (fx starts in dependency order) is running
// and the projector's database (if any) is ready.
func startAdmin(p adminParams) {
	lc, o, reg, logger := p.Lifecycle, p.Options, p.Registry, p.Logger
	var ready atomic.Bool
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintln(w, `{"alive":true}`)
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if !ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, `{"ready":false,"reason":"starting"}`)
			return
		}
		if p.Database != nil && !p.Database.IsReady() {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, `{"ready":false,"reason":"database unreachable","analytics":"paused"}`)
			return
		}
		fmt.Fprintln(w, `{"ready":true}`)
	})
	if o.Pprof {
		ingress.HandlePprof(mux)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			ln, err := net.Listen("tcp", o.Addr)
			if err != nil {
				return fmt.Errorf("admin listener %s: %w", o.Addr, err)
			}
			logger.Info("admin listening", "addr", ln.Addr().String())
			go func() {
				if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
					logger.Error("admin server", "err", err)
				}
			}()
			ready.Store(true)
			return nil
		},
		OnStop: func(ctx context.Context) error {
			ready.Store(false)
			return srv.Shutdown(ctx)
		},
	})
}
