package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/invitegate/invitegate/decider"
	"github.com/invitegate/invitegate/migrations/natsconn"
	"github.com/invitegate/invitegate/migrations/policystore"
)

// logOptions of the policy and list commands: how to reach the policy log
// of one app, and how long to wait.
type logCLIOptions struct {
	nats        natsconn.Config
	replicas    int
	app         string
	author      string
	timeout     time.Duration
	wait        bool
	waitTimeout time.Duration
	stale       time.Duration
	signingKey  string
	trustFiles  []string
	signer      *decider.SigningKey
	trust       *decider.Trust
}

func (o *logCLIOptions) register(f *flags, e env, withWait bool) {
	c := &o.nats
	f.String(&c.URL, "nats-url", "", "NATS URL (or comma-separated URLs) of the policy log (required; for 'invitegate run' start it with --embedded-nats-addr)")
	f.String(&c.CredsFile, "nats-creds", "", "NATS credentials file (JWT and nkey seed)")
	f.String(&c.NKeyFile, "nats-nkey", "", "file holding an nkey seed")
	f.String(&c.TLSCA, "nats-tls-ca", "", "PEM file of CAs that verify the NATS server")
	f.String(&c.TLSCert, "nats-tls-cert", "", "PEM client certificate for NATS (with --nats-tls-key)")
	f.String(&c.TLSKey, "nats-tls-key", "", "PEM key of --nats-tls-cert")
	f.Int(&o.replicas, "js-replicas", natsconn.DefaultReplicas, "replicas of the INVITEGATE_POLICY stream and its buckets when this command creates them")
	f.String(&o.app, "sdkappid", "", "the app whose policy log this is (required)")
	f.Duration(&o.timeout, "timeout", 2*time.Minute, "bound on the whole command (--wait excepted)")
	f.Duration(&o.stale, "replica-stale", 15*time.Second, "a replica whose status is older than this is not live")
	f.StringList(&o.trustFiles, "policy-trust", "`FILE`: the replicas' --policy-trust; events they reject are shown as rejected and never folded into show, diff, rollback or list show")
	if withWait {
		author := e.getenv("USER")
		if host, err := os.Hostname(); err == nil && author != "" {
			author += "@" + host
		}
		f.String(&o.author, "author", author, "author recorded with the change")
		f.String(&o.signingKey, "signing-key", "", signingKeyHelp)
		f.Bool(&o.wait, "wait", false, "return once every live ingress replica decides with the new revision, printing how long that took")
		f.Duration(&o.waitTimeout, "wait-timeout", 30*time.Second, "bound on --wait")
	}
}

func (o *logCLIOptions) validate() error {
	if o.nats.URL == "" {
		return usagef("--nats-url (or %s) is required", EnvName("nats-url"))
	}
	if o.app == "" {
		return usagef("--sdkappid (or %s) is required", EnvName("sdkappid"))
	}
	var err error
	if o.trust, err = loadTrust(o.trustFiles); err != nil {
		return usageError{err}
	}
	if o.signer, err = loadSigningKey(o.signingKey); err != nil {
		return usageError{err}
	}
	if o.signer != nil {
		o.author = o.signer.ID() // the author recorded is the key's identity
	}
	return nil
}

// checkSigner refuses to publish what the replicas of --policy-trust would
// reject: an unsigned event, or one signed by a key they do not trust.
func (o *logCLIOptions) checkSigner() error {
	if !o.trust.Enabled() {
		return nil
	}
	if o.signer == nil {
		return usagef("--policy-trust is set: give --signing-key (or %s), the replicas reject unsigned events", EnvName("signing-key"))
	}
	subject := decider.PolicySubject(o.app, decider.ChangeListAdded)
	key, sig := o.signer.SignEvent(o.app, subject, []byte("{}"))
	if _, err := o.trust.VerifyEvent(o.app, subject, 1, []byte("{}"), key, sig); err != nil {
		return usagef("--signing-key %s: %v: the replicas would reject its events", o.signingKey, err)
	}
	return nil
}

// openLog connects to NATS and opens the app's policy log: the stream and
// buckets as they are, created (with --js-replicas) only when missing.
func (o *logCLIOptions) openLog(ctx context.Context) (*policystore.Log, func(), error) {
	nc, err := natsconn.Connect(ctx, o.nats, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, nil, err
	}
	closeFn := func() { nc.Close() }
	if err := waitConnected(ctx, nc); err != nil {
		closeFn()
		return nil, nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		closeFn()
		return nil, nil, fmt.Errorf("jetstream context: %w", err)
	}
	// Looked up and used as they are (the publisher may not change them);
	// created, with --js-replicas, only when missing (local use).
	cfg := natsconn.PolicyStreamConfig{Replicas: o.replicas, Provision: natsconn.ProvisionNever}
	log, err := policystore.OpenLog(ctx, js, o.app, cfg)
	if errors.Is(err, natsconn.ErrNotProvisioned) {
		cfg.Provision = natsconn.ProvisionMissing
		log, err = policystore.OpenLog(ctx, js, o.app, cfg)
	}
	if err != nil {
		closeFn()
		return nil, nil, err
	}
	return log, closeFn, nil
}

// waitConnected waits for the first connection (Connect retries in the
// background) so that an unreachable server is reported plainly.
func waitConnected(ctx context.Context, nc *nats.Conn) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !nc.IsConnected() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("connect to nats %s: %w", nc.Opts.Url, ctx.Err())
		case <-tick.C:
		}
	}
	return nil
}

// waitReplicas implements --wait: it prints how long every live replica
// took to report revision rev, counted from published.
func (o *logCLIOptions) waitReplicas(ctx context.Context, e env, log *policystore.Log, rev uint64, published time.Time) error {
	if !o.wait {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, o.waitTimeout)
	defer cancel()
	live, err := log.WaitRevision(wctx, rev, o.stale)
	if errors.Is(err, policystore.ErrNoReplicas) {
		fmt.Fprintf(e.stderr, "warning: %v: nothing to wait for\n", err)
		return nil
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%d live replicas decide with revision %d after %s\n", len(live), rev,
		time.Since(published).Round(time.Microsecond))
	return nil
}

// logCommand parses a policy log command's flags, opens the log and runs
// fn with the positional arguments.
func logCommand(ctx context.Context, e env, args []string, name, usage, summary string, withWait bool,
	extra func(*flags), fn func(ctx context.Context, o *logCLIOptions, log *policystore.Log, rest []string) error) error {
	var o logCLIOptions
	f := newFlags(name, usage, summary, e.getenv)
	o.register(f, e, withWait)
	if extra != nil {
		extra(f)
	}
	rest, err := parseFlags(f, args, e)
	if err != nil {
		return err
	}
	if err := o.validate(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	if withWait {
		if err := o.checkSigner(); err != nil {
			return err
		}
	}
	log, closeLog, err := o.openLog(ctx)
	if err != nil {
		return err
	}
	defer closeLog()
	return fn(ctx, &o, log.WithTrust(o.trust).WithSigner(o.signer), rest)
}
