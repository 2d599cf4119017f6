package policyfeed

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/invitegate/invitegate/decider"
	"github.com/invitegate/invitegate/migrations/policystore"
)

// run follows the log until ctx ends, starting over after each failure.
func (f *Follower) run(ctx context.Context) {
	for {
		err := f.follow(ctx)
		if ctx.Err() != nil {
			return
		}
		f.m.followErrors.Inc()
		f.logger.Warn("policy log not followed; retrying", "err", err, "retry_in", f.cfg.RetryWait.String(), "revision", f.Revision())
		f.fallBackToSeed("policy log unreachable and no snapshot on disk")
		t := time.NewTimer(f.cfg.RetryWait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// fallBackToSeed serves the --policy file while neither the log nor a
// snapshot on disk gave a policy; why says why in the log.
func (f *Follower) fallBackToSeed(why string) {
	if f.cfg.Seed == nil || f.usedSeed || f.engine.Snapshot() != nil {
		return
	}
	f.usedSeed = true
	s, err := decider.Compile(f.cfg.Seed, 0)
	if err != nil { // validated in New
		f.logger.Error("policy file does not compile", "file", f.cfg.SeedSource, "err", err)
		return
	}
	f.engine.Load(s)
	f.engine.SetUnready("serving the --policy file (revision 0): the policy log is not followed")
	f.setRevision(0, policystore.SourceFile)
	f.logger.Warn(why+": serving the --policy file (revision 0) meanwhile", "file", f.cfg.SeedSource)
}

// follow opens the log, catches up from the newest of this replica's
// snapshot and the compacted one, and applies live events until an error.
func (f *Follower) follow(ctx context.Context) error {
	setup, cancel := context.WithTimeout(ctx, f.cfg.RequestTimeout)
	defer cancel()
	log, err := policystore.OpenLog(setup, f.js, f.cfg.App, f.cfg.Stores)
	if err != nil {
		return err
	}
	log = log.WithTrust(f.cfg.Trust)
	f.log.Store(log)
	f.wakeReport() // the log is open: report at once
	if err := f.seed(setup, log); err != nil {
		return err
	}
	head, err := log.Head(setup)
	if err != nil {
		return err
	}
	info, err := log.Stores().Stream.Info(setup)
	if err != nil {
		return fmt.Errorf("policy stream info: %w", err)
	}
	if pos := f.fold.Position(); pos > info.State.LastSeq {
		f.logger.Warn("the policy log is shorter than this replica's snapshot (stream recreated?): replaying it from the start",
			"position", pos, "stream_last", info.State.LastSeq)
		f.fold = decider.NewFold(nil, 0)
	}
	if err := f.loadCompacted(ctx, log); err != nil {
		return err
	}
	rd, err := log.Reader(setup, f.fold.Position()+1)
	if err != nil {
		return err
	}
	defer rd.Stop()
	defer context.AfterFunc(ctx, rd.Stop)() // unblocks a Next stuck recreating the consumer
	if head <= f.fold.Position() {
		if head == 0 { // before caught up is signalled: the ingress listens with the file loaded
			f.fallBackToSeed("the policy log of this app is empty")
		}
		f.flush(time.Time{})
		f.markCaughtUp()
	}
	for n := 1; ; n++ {
		rec, pending, err := rd.Next(ctx)
		if err != nil {
			return err
		}
		f.apply(rec)
		if pending == 0 || n >= f.cfg.FlushEvery || rec.Seq >= head {
			live := time.Time{}
			if rec.Seq > head {
				live = rec.Stored
			}
			f.flush(live)
			if rec.Seq >= head {
				f.markCaughtUp()
			}
			n = 0
		}
	}
}

func (f *Follower) seed(ctx context.Context, log *policystore.Log) error {
	if f.cfg.Seed == nil || f.cfg.SeedServeOnly || f.seeded {
		return nil
	}
	if f.cfg.Trust.Enabled() {
		f.seeded = true
		f.logger.Warn("--policy-trust is set: the --policy file does not seed the log (its event would be unsigned); publish it with `invitegate policy apply --signing-key`",
			"file", f.cfg.SeedSource)
		return nil
	}
	seq, published, err := log.Seed(ctx, f.cfg.Seed, "seed:"+f.cfg.SeedSource)
	if permanent := new(decider.ChangeError); errors.As(err, &permanent) || errors.Is(err, nats.ErrMaxPayload) {
		f.seeded = true // the same document fails the same way: reported once, never retried
		f.logger.Error("the --policy file cannot seed the policy log: not retried", "file", f.cfg.SeedSource, "err", err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("seed the policy log: %w", err)
	}
	f.seeded = true
	if published {
		f.logger.Info("policy log was empty: seeded it with the --policy file", "file", f.cfg.SeedSource, "revision", seq)
	} else {
		f.logger.Info("policy log has events: the --policy file is ignored", "file", f.cfg.SeedSource)
	}
	return nil
}

// loadCompacted starts the fold from the compacted snapshot when it is
// ahead of what the replica has.
func (f *Follower) loadCompacted(ctx context.Context, log *policystore.Log) error {
	start := time.Now()
	snap, pos, err := policystore.LoadSnapshot(ctx, log.Stores(), f.cfg.App, f.fold.Position(), f.cfg.Trust)
	if err != nil && ctx.Err() == nil {
		// Refused or unreadable: the events after this replica's own
		// position give the same policy, only slower.
		f.m.snapErrors.WithLabelValues("compacted").Inc()
		f.engine.SetUnready("the compacted policy snapshot cannot be used (" + err.Error() + "); replaying the policy log")
		f.logger.Error("compacted policy snapshot not used: following the log from this replica's own position",
			"position", f.fold.Position(), "err", err)
		return nil
	}
	if err != nil || snap == nil {
		return err
	}
	f.fold = decider.NewFold(snap, pos)
	f.logger.Info("loaded the compacted policy snapshot", "revision", snap.Revision(), "position", pos,
		"took", time.Since(start).String())
	return nil
}

// apply folds one event; a rejected one is counted and logged, and changes
// nothing.
func (f *Follower) apply(rec policystore.Record) {
	c, err := policystore.ApplyRecord(f.fold, f.cfg.Trust, rec)
	if errors.Is(err, decider.ErrOutOfOrder) {
		return // delivered again after a consumer reset
	}
	var ce *decider.ChangeError
	if errors.As(err, &ce) {
		f.m.rejected.WithLabelValues(ce.Reason).Inc()
		author := ""
		if c != nil {
			author = c.Author
		}
		f.logger.Error("policy event rejected: the last good policy stays", "event", rec.Seq, "kind", rec.Kind,
			"author", author, "key", rec.KeyID, "reason", ce.Reason, "err", err, "revision", f.fold.Revision())
		return
	}
	if err != nil {
		f.logger.Error("policy event not applied", "event", rec.Seq, "err", err)
		return
	}
	f.m.applied.WithLabelValues(c.Kind).Inc()
}

// flush makes the fold's newest snapshot the engine's. stored is when the
// newest live event was stored (zero while replaying).
func (f *Follower) flush(stored time.Time) {
	s := f.fold.Snapshot()
	if s == nil || s == f.engine.Snapshot() {
		return
	}
	f.engine.Load(s)
	if !stored.IsZero() {
		f.m.lag.Observe(max(f.cfg.Now().Sub(stored), 0).Seconds())
	}
	f.saver.offer(s, f.fold.Position())
	f.setRevision(s.Revision(), policystore.SourceLog)
	f.logger.Info("policy revision applied", "revision", s.Revision(), "rules", len(s.Rules()))
}

func (f *Follower) markCaughtUp() {
	f.engine.SetUnready("")
	f.setRevision(f.Revision(), policystore.SourceLog)
	f.caughtOne.Do(func() {
		close(f.caughtUp)
		f.logger.Info("policy log caught up", "revision", f.Revision(), "position", f.fold.Position())
	})
}
