package main

import (
	"context"
	"fmt"

	"github.com/invitegate/invitegate/projector/bench"
)

// cmdBench runs the projector and analytics benchmarks (make bench-projector,
// make bench-analytics). They create their own databases on the server of
// --database-url and never touch the service's database.
func cmdBench(ctx context.Context, e env, args []string) error {
	if len(args) == 0 || (args[0] != "projector" && args[0] != "analytics") {
		if len(args) > 0 && (args[0] == "--help" || args[0] == "-h") {
			fmt.Fprintln(e.stdout, "Usage: invitegate bench projector|analytics [flags]")
			return nil
		}
		return usagef("bench: want projector or analytics")
	}
	logger, err := newLogger(e.stderr, "text", "warn")
	if err != nil {
		return err
	}
	switch args[0] {
	case "projector":
		var c bench.ProjectorConfig
		f := newFlags("bench projector", "invitegate bench projector [flags]",
			"Pre-fills an embedded JetStream stream with --events invite events (2 members each), then\n"+
				"times a projector draining them into a fresh database (dropped afterwards).", e.getenv)
		f.Int(&c.Events, "events", 200_000, "events to pre-fill and drain")
		f.Int(&c.EventsPerMessage, "events-per-message", 256, "events per NATS message (the outbox's batch)")
		f.String(&c.ServerURL, "server-url", "postgres://postgres@127.0.0.1:5432/", "PostgreSQL server, without a database name")
		f.Int(&c.Worker.BatchSize, "batch-size", 0, "projector --batch-size (0: its default)")
		f.Int(&c.Worker.InFlight, "projector-in-flight", 0, "projector --projector-in-flight (0: its default)")
		if _, err := parseFlags(f, args[1:], e); err != nil {
			return err
		}
		res, err := bench.Projector(ctx, c, logger)
		if err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, res.String())
		return nil
	default:
		var c bench.AnalyticsConfig
		f := newFlags("bench analytics", "invitegate bench analytics [flags]",
			"Loads --events synthetic invite events over --days into a separate database (kept for\n"+
				"later runs) and times each documented analyst query, each query of the invite-trends\n"+
				"dashboard (deploy/grafana) and the decision lookup.", e.getenv)
		f.String(&c.DatabaseURL, "database-url", "", "benchmark database (default invitegate_bench_analytics on the local server)")
		f.Int(&c.Events, "events", 10_000_000, "events to load")
		f.Int(&c.Days, "days", 30, "days of history")
		f.Int(&c.Runs, "runs", 5, "timed runs per query")
		f.Bool(&c.Reload, "reload", false, "load afresh even when the database holds the data")
		if _, err := parseFlags(f, args[1:], e); err != nil {
			return err
		}
		c.Extra = dashboardQueries
		_, err := bench.Analytics(ctx, c, e.stdout)
		return err
	}
}
