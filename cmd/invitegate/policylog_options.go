package main

import (
	"context"
	"log/slog"
	"path/filepath"
	"time"

	"go.uber.org/fx"

	"github.com/invitegate/invitegate/ingress/policyfeed"
	"github.com/invitegate/invitegate/migrations/natsconn"
	"github.com/invitegate/invitegate/projector/policylog"
)

// policyOptions wire the policy log into a process: the ingress follows it
// (policyfeed), the projector compacts it and writes policy_revisions
// (policylog). A process without NATS (ingress --events-off) has none and
// loads --policy into its engine as before.
type policyOptions struct {
	follow  policyfeed.Config
	compact policylog.Config
	// startWait bounds how long the ingress waits, at start, for the log to
	// be caught up before it listens.
	startWait time.Duration
	// trustFiles are --policy-trust; snapshotKey is --policy-snapshot-key.
	trustFiles  []string
	snapshotKey string

	ingress, projector bool
}

func (o *policyOptions) register(f *flags, ingress, projector bool) {
	o.ingress, o.projector = ingress, projector
	if ingress {
		f.String(&o.follow.ReplicaID, "replica-id", "", "this replica's name in 'invitegate policy status' (letters, digits, - and _); default <hostname>-<pid>")
		f.Duration(&o.follow.StatusInterval, "policy-status-interval", policyfeed.DefaultStatusInterval, "how often the replica refreshes its policy status (it also reports each new revision at once)")
		f.Duration(&o.startWait, "policy-start-wait", 5*time.Second, "at start, wait this long for the policy log to be caught up before listening (then serve what is loaded)")
	}
	f.StringList(&o.trustFiles, "policy-trust", policyTrustHelp)
	if projector {
		f.String(&o.snapshotKey, "policy-snapshot-key", "", "`FILE`: PKCS#8 PEM Ed25519 private key that signs the compacted policy snapshots; with --policy-trust, replicas load only snapshots signed by a key their trust marks 'snapshots'")
		f.Int(&o.compact.CompactEvery, "policy-compact-every", policylog.DefaultCompactEvery, "write the compacted policy snapshots after this many policy events")
		f.Duration(&o.compact.CompactInterval, "policy-compact-interval", policylog.DefaultCompactInterval, "or this long after the first policy event not compacted yet")
	}
}

// enable completes o from the other roles' options and returns it, or nil
// when the process has no NATS (no policy log).
func (o *policyOptions) enable(c appConfig, dataDir string) *policyOptions {
	if c.nats == nil {
		return nil
	}
	stores := natsconn.PolicyStreamConfig{Replicas: c.nats.stream.Replicas, Provision: c.nats.stream.Provision}
	o.follow.Stores, o.compact.Stores = stores, stores
	o.follow.DataDir = dataDir
	// Seeding the log is provisioning too: without it the --policy file is
	// served at revision 0 until `invitegate policy apply`.
	o.follow.SeedServeOnly = c.nats.noMigrate
	o.ingress = o.ingress && c.ingress != nil
	o.projector = o.projector && c.projector != nil
	if o.ingress {
		o.follow.App = c.ingress.cfg.SdkAppID
		o.follow.SeedSource = filepath.Base(c.ingress.policyFile)
	}
	return o
}

// fxOptions returns the fx options of the policy log roles. With the
// ingress, it provides the Follower's configuration, with the --policy file
// as the seed of an empty log; the Follower loads the decider.Module's engine.
func (o *policyOptions) fxOptions(in *ingressOptions, logger *slog.Logger) []fx.Option {
	var opts []fx.Option
	if o.ingress {
		opts = append(opts,
			fx.Provide(func() (policyfeed.Config, error) {
				cfg := o.follow
				trust, err := loadTrust(o.trustFiles)
				if err != nil {
					return cfg, err
				}
				cfg.Trust = trust
				if in.policyFile != "" {
					snap, err := loadPolicyFile(in.policyFile, 0)
					if err != nil {
						return cfg, err
					}
					cfg.Seed = snap.Document()
				}
				return cfg, nil
			}),
			policyfeed.Module,
			fx.Invoke(func(lc fx.Lifecycle, f *policyfeed.Follower) {
				lc.Append(fx.StartHook(func(ctx context.Context) error {
					waitPolicy(ctx, f, o.startWait, logger)
					return nil
				}))
			}))
	}
	if o.projector {
		opts = append(opts, fx.Provide(func() (policylog.Config, error) {
			cfg := o.compact
			var err error
			if cfg.Trust, err = loadTrust(o.trustFiles); err != nil {
				return cfg, err
			}
			if cfg.SnapshotKey, err = loadSigningKey(o.snapshotKey); err != nil {
				return cfg, err
			}
			if cfg.Trust.Enabled() && cfg.SnapshotKey == nil {
				logger.Warn("--policy-trust without --policy-snapshot-key: compacted policy snapshots are unsigned, so replicas with trust replay the log instead")
			}
			return cfg, nil
		}), policylog.Module,
			fx.Invoke(func(*policylog.Compactor, *policylog.RevisionWriter) {}))
	}
	return opts
}

// waitPolicy waits for the follower to catch up with the log, at most
// wait; then the ingress serves what it has (snapshot on disk, --policy
// file or nothing: the fail mode) while the follower keeps trying.
func waitPolicy(ctx context.Context, f *policyfeed.Follower, wait time.Duration, logger *slog.Logger) {
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-f.CaughtUp():
	case <-t.C:
		logger.Warn("policy log not caught up yet: serving what is loaded meanwhile",
			"revision", f.Revision(), "waited", wait.String())
	case <-ctx.Done():
	}
}
