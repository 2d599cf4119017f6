package main

import "context"

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
