package policylog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/invitegate/invitegate/decider"
	"github.com/invitegate/invitegate/migrations/natsconn"
	"github.com/invitegate/invitegate/migrations/policystore"
)

// Compactor keeps the compacted snapshot of every app's policy log (see
// the package documentation).
type Compactor struct {
	cfg    Config
	js     jetstream.JetStream
	logger *slog.Logger
	m      *metrics
	run    runner
	done   atomic.Uint64 // the checkpoint last written
	seen   atomic.Uint64 // stream sequence of the last event folded (written by the run goroutine)

	// Owned by the run goroutine.
	stores     natsconn.PolicyStores
	apps       map[string]*appFold
	pending    int // events since the last compaction
	firstSince time.Time
	rebuild    bool // a snapshot was refused: fold every app from the start of the log
}

type appFold struct {
	fold  *decider.Fold
	dirty bool
}

// NewCompactor returns a Compactor reading through js.
func NewCompactor(cfg Config, js jetstream.JetStream, logger *slog.Logger, reg prometheus.Registerer) (*Compactor, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	m, err := newCompactorMetrics(reg)
	if err != nil {
		return nil, err
	}
	logger = logger.With("component", "policy-compactor")
	c := &Compactor{cfg: cfg, js: js, logger: logger, m: m}
	c.run = runner{name: "policy compactor", wait: cfg.RetryWait, logger: logger, m: m}
	return c, nil
}

// Start follows the policy stream in the background; after Stop it returns
// startstop.ErrStopped.
func (c *Compactor) Start(context.Context) error { return c.run.start(c.follow) }

// Stop stops following, after writing what is not compacted yet.
func (c *Compactor) Stop(ctx context.Context) error { return c.run.stop(ctx) }

// Compacted returns the stream position the last checkpoint covers.
func (c *Compactor) Compacted() uint64 { return c.done.Load() }

func (c *Compactor) follow(ctx context.Context) error {
	setup, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	var err error
	if c.stores, err = natsconn.EnsurePolicyStores(setup, c.js, c.cfg.Stores); err != nil {
		return err
	}
	checkpoint, err := policystore.LoadCheckpoint(setup, c.stores.Snapshots)
	if err != nil {
		return err
	}
	if c.rebuild {
		checkpoint = 0
	}
	c.apps, c.pending, c.firstSince = map[string]*appFold{}, 0, time.Time{}
	c.seen.Store(checkpoint)
	c.done.Store(checkpoint)
	rd, err := policystore.NewReader(setup, c.js, c.stores.Stream, decider.PolicySubjects, checkpoint+1)
	if err != nil {
		return err
	}
	defer rd.Stop()
	defer context.AfterFunc(ctx, rd.Stop)() // unblocks a Next stuck recreating the consumer
	for {
		rec, err := c.next(ctx, rd)
		switch {
		case ctx.Err() != nil:
			return c.final()
		case errors.Is(err, context.DeadlineExceeded):
			err = c.compact(ctx)
		case err == nil:
			if err = c.apply(ctx, rec); err == nil && c.pending >= c.cfg.CompactEvery {
				err = c.compact(ctx)
			}
		}
		if err != nil {
			return err
		}
	}
}

// next waits for the next event, at most until the pending events are due.
func (c *Compactor) next(ctx context.Context, rd *policystore.Reader) (policystore.Record, error) {
	if c.pending == 0 {
		rec, _, err := rd.Next(ctx)
		return rec, err
	}
	wctx, cancel := context.WithDeadline(ctx, c.firstSince.Add(c.cfg.CompactInterval))
	defer cancel()
	rec, _, err := rd.Next(wctx)
	return rec, err
}

// apply folds one event into its app's fold, loading the app's snapshot
// the first time the app is seen.
func (c *Compactor) apply(ctx context.Context, rec policystore.Record) error {
	if len(rec.App) > decider.MaxAppBytes {
		c.seen.Store(rec.Seq)
		c.logger.Warn("policy event of an app token too long to be an app: not compacted", "event", rec.Seq, "app_bytes", len(rec.App))
		return nil
	}
	a, ok := c.apps[rec.App]
	if !ok {
		var snap *decider.Snapshot
		var pos uint64
		if !c.rebuild {
			lctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
			var err error
			snap, pos, err = policystore.LoadSnapshot(lctx, c.stores, rec.App, 0, c.sealTrust())
			cancel()
			if errors.Is(err, policystore.ErrSnapshotRefused) {
				c.rebuild = true
				return fmt.Errorf("rebuilding every app's compacted snapshot from the start of the log: %w", err)
			}
			if err != nil {
				return err
			}
		}
		a = &appFold{fold: decider.NewFold(snap, pos)}
		c.apps[rec.App] = a
	}
	c.seen.Store(rec.Seq)
	if _, err := policystore.ApplyRecord(a.fold, c.cfg.Trust, rec); errors.Is(err, decider.ErrOutOfOrder) {
		return nil // its snapshot already covers it
	}
	a.dirty = true
	if c.pending == 0 {
		c.firstSince = c.cfg.Now()
	}
	c.pending++
	return nil
}

// compact writes the snapshot of every app that changed, then the
// checkpoint.
func (c *Compactor) compact(ctx context.Context) error {
	if c.pending == 0 {
		return nil
	}
	start, seen := time.Now(), c.seen.Load()
	for app, a := range c.apps {
		if !a.dirty {
			continue
		}
		if s := a.fold.Snapshot(); s != nil {
			sctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
			seal := policystore.SnapshotSeal{Key: c.cfg.SnapshotKey, Trust: c.cfg.Trust.Fingerprint(app)}
			err := policystore.SaveSnapshot(sctx, c.stores.Snapshots, app, s, seen, seal)
			cancel()
			if err != nil {
				c.m.compactions.WithLabelValues("error").Inc()
				return err
			}
		}
		a.dirty = false
	}
	sctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	if err := policystore.SaveCheckpoint(sctx, c.stores.Snapshots, seen); err != nil {
		c.m.compactions.WithLabelValues("error").Inc()
		return err
	}
	c.rebuild = false
	c.m.compactions.WithLabelValues("ok").Inc()
	c.m.position.Set(float64(seen))
	c.done.Store(seen)
	c.logger.Info("policy snapshots compacted", "position", seen, "events", c.pending, "took", time.Since(start).String())
	c.pending, c.firstSince = 0, time.Time{}
	return nil
}

// final compacts what is pending when the compactor stops.
func (c *Compactor) final() error {
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.RequestTimeout)
	defer cancel()
	if err := c.compact(ctx); err != nil {
		c.logger.Warn("pending policy events not compacted at stop; the next start folds them again", "err", err)
	}
	return fmt.Errorf("policy compactor: %w", context.Canceled)
}

// sealTrust is the trust the compactor holds its own snapshots to: with a
// key it signs them, so it checks them like a replica; without one they are
// unsigned (replicas with trust do not use them) and it takes them as they
// are rather than rebuilding at every start.
func (c *Compactor) sealTrust() *decider.Trust {
	if c.cfg.SnapshotKey == nil {
		return nil
	}
	return c.cfg.Trust
}
