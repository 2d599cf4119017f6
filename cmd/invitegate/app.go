package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"

	"github.com/invitegate/invitegate/decider"
	"github.com/invitegate/invitegate/ingress"
	"github.com/invitegate/invitegate/ingress/outbox"
	"github.com/invitegate/invitegate/migrations/natsconn"
	"github.com/invitegate/invitegate/projector"
)

// appConfig says which roles one process runs and how each is configured.
type appConfig struct {
	ingress   *ingressOptions   // nil: no ingress
	nats      *natsOptions      // nil: no NATS (ingress with --events-off)
	outbox    *outboxOptions    // nil: events off
	projector *projectorOptions // nil: no projector
	admin     *adminOptions     // the admin listener of a process without ingress
	policy    *policyOptions    // nil: no policy log (no NATS); see policylog_options.go
	stats     *statsOptions     // nil: no traffic statistics; see stats_options.go
}

// appOptions turns an appConfig into the fx options of the process. It is
// shared by the commands and by the fx.ValidateApp test.
func appOptions(c appConfig, logger *slog.Logger) []fx.Option {
	reg := newRegistry()
	opts := []fx.Option{
		fx.WithLogger(func() fxevent.Logger {
			l := &fxevent.SlogLogger{Logger: logger}
			l.UseLogLevel(slog.LevelDebug)
			return l
		}),
		fx.Supply(logger, reg),
		fx.Provide(func(r *prometheus.Registry) prometheus.Registerer { return r }),
		fx.StartTimeout(30 * time.Second),
	}
	stop := 10 * time.Second
	if c.nats != nil {
		opts = append(opts, fx.Supply(c.nats.cfg, c.nats.stream), natsconn.Module)
	}
	if c.outbox != nil {
		cfg := c.outbox.cfg
		cfg.Stream = c.nats.stream
		opts = append(opts, fx.Supply(cfg), outbox.Module,
			fx.Provide(func(o *outbox.Outbox) ingress.EventSink { return o }))
		stop += cfg.FlushTimeout + outbox.DefaultFlushTimeout
	}
	if c.policy != nil { // before the ingress: its start waits for the policy log
		opts = append(opts, c.policy.fxOptions(c.ingress, logger)...)
	}
	if c.ingress != nil {
		in := c.ingress
		opts = append(opts, fx.Supply(in.cfg, decider.FailMode(in.failMode)), decider.Module, ingress.Module,
			fx.Invoke(func(eng *decider.Engine) { eng.SetDecisionTimeout(in.decisionTimeout) }),
			fx.Invoke(func(*ingress.Server) {}))
		if c.policy == nil || !c.policy.ingress { // else the policy log's follower loads the engine
			opts = append(opts, fx.Invoke(func(eng *decider.Engine) error { return loadPolicy(eng, in, logger) }))
		}
		stop += in.cfg.ShutdownTimeout + ingress.DefaultShutdownTimeout
	}
	if c.projector != nil {
		opts = append(opts, fx.Supply(c.projector.cfg), projector.Module,
			fx.Invoke(ensureEventStream),
			fx.Invoke(func(*projector.Worker) {}))
		if c.ingress != nil { // run: callbacks are answered whatever the database does
			opts = append(opts, fx.Invoke(reportAnalytics))
		}
	}
	if c.stats != nil {
		opts = append(opts, c.stats.fxOptions()...)
	}
	if c.admin != nil {
		opts = append(opts, fx.Supply(*c.admin), fx.Invoke(startAdmin))
	}
	return append(opts, fx.StopTimeout(stop))
}

// reportAnalytics adds "analytics":"running" or "paused" (the projector's
// database unreachable) to the ingress's /readyz in invitegate run.
func reportAnalytics(s *ingress.Server, db *projector.Database) {
	s.AddReadyField("analytics", func() string {
		if db.IsReady() {
			return "running"
		}
		return "paused"
	})
}

// newRegistry is the process's Prometheus registry, with the Go runtime and
// process collectors.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// loadPolicy loads the --policy file into the engine (without the policy
// log: ingress --events-off).
func loadPolicy(eng *decider.Engine, o *ingressOptions, logger *slog.Logger) error {
	if o.policyFile == "" {
		logger.Warn("no --policy: answering every invite by the fail mode", "fail_mode", o.failMode)
		return nil
	}
	snap, err := loadPolicyFile(o.policyFile, 1)
	if err != nil {
		return err
	}
	eng.Load(snap)
	logger.Info("policy loaded", "file", o.policyFile, "revision", snap.Revision(),
		"rules", len(snap.Document().Rules), "lists", len(snap.Document().Lists))
	return nil
}

// ensureEventStream makes sure the event stream exists before the projector
// creates its consumer on it: it looks it up and, unless --no-migrate,
// creates it when missing or updates it when it differs from the flags (the
// ingress's outbox does the same: whichever starts first creates it).
func ensureEventStream(lc fx.Lifecycle, js jetstream.JetStream, cfg natsconn.EventStreamConfig) {
	lc.Append(fx.StartHook(func(ctx context.Context) error {
		if _, err := natsconn.EnsureEventStream(ctx, js, cfg); err != nil {
			return fmt.Errorf("ensure event stream: %w", err)
		}
		return nil
	}))
}

// runApp starts the app, waits for SIGINT/SIGTERM (or ctx), and stops it.
func runApp(ctx context.Context, logger *slog.Logger, opts []fx.Option) error {
	app := fx.New(opts...)
	if err := app.Err(); err != nil {
		return err
	}
	startCtx, cancel := context.WithTimeout(ctx, app.StartTimeout())
	defer cancel()
	if err := app.Start(startCtx); err != nil {
		if ctx.Err() != nil { // SIGTERM or SIGINT while starting: fx stopped what had started
			logger.Info("stopped while starting", "reason", context.Cause(ctx).Error())
			return nil
		}
		return fmt.Errorf("start: %w", err)
	}
	select {
	case sig := <-app.Wait():
		logger.Info("stopping", "signal", sig.Signal.String())
	case <-ctx.Done():
		logger.Info("stopping", "reason", context.Cause(ctx).Error())
	}
	stopCtx, cancel2 := context.WithTimeout(context.Background(), app.StopTimeout())
	defer cancel2()
	if err := app.Stop(stopCtx); err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	logger.Info("stopped")
	return nil
}
