package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/invitegate/invitegate/migrations"
	"github.com/invitegate/invitegate/migrations/natsconn"
)

func cmdMigrate(ctx context.Context, e env, args []string) error {
	var (
		dsn string
		no  natsOptions
	)
	f := newFlags("migrate", "invitegate migrate up|down|status [flags]",
		"Migrates the PostgreSQL schema (invitegate) with the SQL embedded in the binary.\n"+
			"up: apply every pending migration (creating the database if missing); down: roll back\n"+
			"the newest one; status: list migrations and whether each is applied.\n"+
			"With --nats-url, up also creates or updates the JetStream streams and buckets\n"+
			"(INVITEGATE_EVENTS, INVITEGATE_POLICY, the policy status and snapshot buckets) to the\n"+
			"--js-replicas, --events-max-age and --events-duplicate-window given: the services only\n"+
			"look them up, so their NATS users need no right to create or update a stream; status\n"+
			"also says which of them exist.", e.getenv)
	f.String(&dsn, "database-url", "postgres://postgres@127.0.0.1:5432/invitegate?sslmode=disable", "PostgreSQL URL")
	no.register(f, false)
	rest, err := parseFlags(f, args, e)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("migrate: want one of up, down, status")
	}
	var report migrations.Report
	switch rest[0] {
	case "up":
		if err := migrations.EnsureDatabase(ctx, dsn); err != nil {
			return err
		}
		report, err = migrations.Up(ctx, dsn)
	case "down":
		report, err = migrations.Down(ctx, dsn)
	case "status":
		report, err = migrations.Status(ctx, dsn)
	default:
		return usagef("migrate: unknown subcommand %q (want up, down or status)", rest[0])
	}
	if s := strings.TrimSpace(report.String()); s != "" {
		fmt.Fprintln(e.stdout, s)
	}
	if err != nil || rest[0] == "down" || no.cfg.URL == "" {
		return err
	}
	return migrateNATS(ctx, e, no, rest[0] == "up")
}

// migrateNATS creates or updates the streams and buckets (migrate up
// --nats-url) and prints what it did, or prints which exist (status).
func migrateNATS(ctx context.Context, e env, no natsOptions, up bool) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	nc, err := natsconn.Connect(ctx, no.cfg, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer nc.Close()
	if err := waitConnected(ctx, nc); err != nil {
		return err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream context: %w", err)
	}
	if !up {
		stores, err := natsconn.Inventory(ctx, js)
		for _, s := range stores {
			fmt.Fprintln(e.stdout, s)
		}
		return err
	}
	done, err := natsconn.Provision(ctx, js, no.stream,
		natsconn.PolicyStreamConfig{Replicas: no.stream.Replicas})
	for _, p := range done {
		fmt.Fprintln(e.stdout, p)
	}
	return err
}
