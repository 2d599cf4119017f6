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
	ensure, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	var err error
	c.stores, err = natsconn.EnsurePolicyStores(ensure, c.js, c.cfg.Stores)
	cancel()
	if err != nil {
		return err
	}
	good := map[string]string{} // app -> NUID of its snapshot found good
	if !c.rebuild {
		refused, err := c.removeRefused(ctx, good)
		if err != nil {
			return err
		}
		c.rebuild = refused > 0
	}
	setup, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
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
	wctx, forged := context.WithCancelCause(ctx) // ended by a refused snapshot
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		c.watchSnapshots(wctx, forged, good)
	}()
	defer func() { forged(nil); <-watched }()
	rd, err := policystore.NewReader(setup, c.js, c.stores.Stream, decider.PolicySubjects, checkpoint+1)
	if err != nil {
		return err
	}
	defer rd.Stop()
	defer context.AfterFunc(wctx, rd.Stop)() // unblocks a Next stuck recreating the consumer
	for {
		rec, err := c.next(wctx, rd)
		switch {
		case ctx.Err() != nil:
			return c.final()
		case wctx.Err() != nil:
			return context.Cause(wctx)
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

// errSnapshotForged ends a run of the compactor when a compacted snapshot it
// did not write, or that no longer verifies, appears in the Object Store:
// the next run removes it and folds the log again.
var errSnapshotForged = errors.New("a compacted policy snapshot in the Object Store is refused")

// removeRefused checks every app's compacted snapshot as a replica would
// (with sealTrust) and deletes those refused: forged, signed under another
// trust, or beyond the stream. Replicas then start from the log alone until
// the rebuild that follows writes a new snapshot. It returns how many it
// deleted, and fills good with the snapshots found good.
func (c *Compactor) removeRefused(ctx context.Context, good map[string]string) (int, error) {
	refused, err := c.checkSnapshots(ctx, good)
	if err != nil {
		return 0, err
	}
	for app, reason := range refused {
		dctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
		err := policystore.DeleteSnapshot(dctx, c.stores.Snapshots, app)
		cancel()
		if err != nil {
			return 0, err
		}
		c.m.refused.Inc()
		c.logger.Error("compacted policy snapshot refused and deleted; folding the log again to write it anew",
			"app", app, "err", reason)
	}
	return len(refused), nil
}

// checkSnapshots loads, as a replica would, every stored snapshot that is
// not in good (app -> NUID of the object found good), adds those it finds
// good, and returns those refused with the reason. A snapshot replaced
// while it was read (a compaction, this one's or another projector's) is
// not held against the store: its successor is checked next time.
func (c *Compactor) checkSnapshots(ctx context.Context, good map[string]string) (map[string]error, error) {
	lctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	apps, err := policystore.SnapshotApps(lctx, c.stores.Snapshots)
	cancel()
	if err != nil {
		return nil, err
	}
	refused := map[string]error{}
	for app, nuid := range apps {
		if good[app] == nuid {
			continue
		}
		vctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
		_, _, err := policystore.LoadSnapshot(vctx, c.stores, app, 0, c.sealTrust())
		var now *jetstream.ObjectInfo
		if errors.Is(err, policystore.ErrSnapshotRefused) {
			now, _ = c.stores.Snapshots.GetInfo(vctx, policystore.SnapshotObject(app))
		}
		cancel()
		switch {
		case err == nil:
			good[app] = nuid
		case !errors.Is(err, policystore.ErrSnapshotRefused):
			return nil, err
		case now != nil && now.NUID == nuid: // still the object that was refused
			refused[app] = err
		}
	}
	return refused, nil
}

// watchSnapshots checks, every CheckInterval, the snapshots that changed
// since they were found good (the compactor's own writes included: a
// read-back) and ends the run with errSnapshotForged when one is refused.
func (c *Compactor) watchSnapshots(ctx context.Context, forged context.CancelCauseFunc, good map[string]string) {
	t := time.NewTicker(c.cfg.CheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		refused, err := c.checkSnapshots(ctx, good)
		if err != nil {
			continue // NATS unavailable: the next tick looks again
		}
		for _, reason := range refused {
			forged(fmt.Errorf("%w: %w", errSnapshotForged, reason))
			return
		}
	}
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
