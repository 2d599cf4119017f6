package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/invitegate/invitegate/migrations"
	"github.com/invitegate/invitegate/migrations/natsconn"
	"github.com/nats-io/nats.go/jetstream"
)

func cmdRun(ctx context.Context, e env, args []string) error {
	return serve(ctx, e, args, "run",
		"Runs every role in one process: the callback server, the event outbox and the projector.\n"+
			"Without --nats-url it embeds a NATS server with JetStream (store under --data-dir).", true)
}

func cmdIngress(ctx context.Context, e env, args []string) error {
	return serve(ctx, e, args, "ingress",
		"Runs the callback server alone: decides every Group.CallbackBeforeInviteJoinGroup from the\n"+
			"in-memory policy and publishes events to JetStream at --nats-url (embedded without it).", false)
}

// serve runs the callback server, with the projector in the same process
// when withProjector (invitegate run) or alone (invitegate ingress).
func serve(ctx context.Context, e env, args []string, name, summary string, withProjector bool) error {
	var (
		lo      logOptions
		in      ingressOptions
		no      natsOptions
		ob      outboxOptions
		po      projectorOptions
		pl      policyOptions
		so      = newStatsOptions(true, withProjector)
		dataDir string
		// unsigned accepts callbacks without IM's Sign (ingress only;
		// run, the local mode, may run unsigned and says so).
		unsigned bool
	)
	f := newFlags(name, "invitegate "+name+" [flags]", summary, e.getenv)
	lo.register(f)
	in.register(f)
	no.register(f, true)
	no.registerNoMigrate(f)
	ob.register(f)
	if withProjector {
		po.register(f)
	}
	pl.register(f, true, withProjector)
	registerDataDir(f, &dataDir)
	so.register(f)
	if !withProjector {
		f.Bool(&unsigned, "insecure-allow-unsigned", false, "answer callbacks without --callback-token: anyone who reaches the listener can forge invites and membership events")
	}
	if _, err := parseFlags(f, args, e); err != nil {
		return err
	}
	if err := in.validate(); err != nil {
		return err
	}
	no.provisioning()
	po.cfg.NoMigrate = no.noMigrate
	if !withProjector && in.cfg.CallbackToken == "" && !unsigned {
		return usagef("--callback-token (or %s) is required: the token of IM's callback authentication; "+
			"--insecure-allow-unsigned answers unsigned callbacks instead", EnvName("callback-token"))
	}
	logger, err := newLogger(e.stderr, lo.format, lo.level)
	if err != nil {
		return usageError{err}
	}
	if in.cfg.CallbackToken == "" {
		logger.Warn("callback authentication is off: anyone who reaches " + in.cfg.CallbackPath +
			" can forge callbacks; set --callback-token to the token of the IM console")
	}
	no.cfg.Embedded.StoreDir = natsStoreDir(dataDir)
	ob.cfg.DataDir = dataDir
	cfg := appConfig{ingress: &in, nats: &no, outbox: &ob}
	switch {
	case withProjector:
		cfg.projector = &po // the projector needs NATS even with --events-off
		if in.eventsOff {
			cfg.outbox = nil
		}
	case in.eventsOff:
		cfg.nats, cfg.outbox = nil, nil
	case no.cfg.URL == "":
		logger.Warn("no --nats-url: embedding a NATS server; events stay on this machine unless a projector connects to --embedded-nats-addr")
	}
	cfg.policy = pl.enable(cfg, dataDir)
	cfg.stats = so.enable(cfg)
	return runApp(ctx, logger, appOptions(cfg, logger))
}

func cmdProjector(ctx context.Context, e env, args []string) error {
	var (
		lo logOptions
		no natsOptions
		po projectorOptions
		ao adminOptions
		pl policyOptions
		so = newStatsOptions(false, true)
	)
	f := newFlags("projector", "invitegate projector [flags]",
		"Runs the projector alone: a durable JetStream consumer writing events into PostgreSQL.", e.getenv)
	lo.register(f)
	no.register(f, false)
	no.registerNoMigrate(f)
	po.register(f)
	ao.register(f)
	pl.register(f, false, true)
	so.register(f)
	if _, err := parseFlags(f, args, e); err != nil {
		return err
	}
	if no.cfg.URL == "" {
		return usagef("--nats-url (or %s) is required", EnvName("nats-url"))
	}
	no.provisioning()
	po.cfg.NoMigrate = no.noMigrate
	logger, err := newLogger(e.stderr, lo.format, lo.level)
	if err != nil {
		return usageError{err}
	}
	cfg := appConfig{nats: &no, projector: &po, admin: &ao}
	cfg.policy = pl.enable(cfg, "")
	cfg.stats = so.enable(cfg)
	return runApp(ctx, logger, appOptions(cfg, logger))
}

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
