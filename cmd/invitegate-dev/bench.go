package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/invitegate/invitegate/projector/bench"
)

// cmdBench runs the projector and analytics benchmarks (make
// bench-projector, make bench-analytics). They create their own databases
// on the PostgreSQL server given and never touch the service's database.
func cmdBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "projector" && args[0] != "analytics") {
		if len(args) > 0 && (args[0] == "--help" || args[0] == "-h") {
			fmt.Fprintln(stdout, "Usage: invitegate-dev bench projector|analytics [flags]")
			return flag.ErrHelp
		}
		return usagef("bench: want projector or analytics")
	}
	switch args[0] {
	case "projector":
		var c bench.ProjectorConfig
		f := newFlagSet("bench projector", stdout,
			"Pre-fills an embedded JetStream stream with --events invite events (2 members each), then\n"+
				"times a projector draining them into a fresh database (dropped afterwards).")
		f.IntVar(&c.Events, "events", 200_000, "events to pre-fill and drain")
		f.IntVar(&c.EventsPerMessage, "events-per-message", 256, "events per NATS message (the outbox's batch)")
		f.StringVar(&c.ServerURL, "server-url", "postgres://postgres@127.0.0.1:5432/", "PostgreSQL server, without a database name")
		f.IntVar(&c.Worker.BatchSize, "batch-size", 0, "projector --batch-size (0: its default)")
		f.IntVar(&c.Worker.InFlight, "projector-in-flight", 0, "projector --projector-in-flight (0: its default)")
		if err := parse(f, args[1:]); err != nil {
			return err
		}
		res, err := bench.Projector(ctx, c, newLogger(stderr))
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, res.String())
		return nil
	default:
		var c bench.AnalyticsConfig
		f := newFlagSet("bench analytics", stdout,
			"Loads --events synthetic invite events over --days into a separate database (kept for\n"+
				"later runs) and times each documented analyst query, each query of the invite-trends\n"+
				"dashboard (deploy/grafana) and the decision lookup.")
		f.StringVar(&c.DatabaseURL, "database-url", "", "benchmark database (default invitegate_bench_analytics on the local server)")
		f.IntVar(&c.Events, "events", 10_000_000, "events to load")
		f.IntVar(&c.Days, "days", 30, "days of history")
		f.IntVar(&c.Runs, "runs", 5, "timed runs per query")
		f.BoolVar(&c.Reload, "reload", false, "load afresh even when the database holds the data")
		if err := parse(f, args[1:]); err != nil {
			return err
		}
		c.Extra = dashboardQueries
		_, err := bench.Analytics(ctx, c, stdout)
		return err
	}
}
