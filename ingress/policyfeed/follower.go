package policyfeed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/invitegate/invitegate/decider"
	"github.com/invitegate/invitegate/decider/startstop"
	"github.com/invitegate/invitegate/migrations/policystore"
)

// Follower keeps a decider.Engine on the newest valid policy of one app's
// log. See the package documentation.
type Follower struct {
	cfg    Config
	js     jetstream.JetStream
	engine *decider.Engine
	logger *slog.Logger
	m      *metrics
	disk   diskStore
	saver  *saver

	// Owned by the run goroutine (and Start before it).
	fold       *decider.Fold
	seeded     bool
	usedSeed   bool
	log        atomic.Pointer[policystore.Log]
	reportWake chan struct{}

	mu        sync.Mutex
	revision  uint64
	source    string
	changed   chan struct{} // closed and replaced at each new revision
	caughtUp  chan struct{}
	caughtOne sync.Once
	startedAt time.Time
	life      startstop.State
	cancel    context.CancelFunc
	wg        sync.WaitGroup
}

// New returns a Follower that loads what it follows into engine. reg
// takes its metrics; logger its logs.
func New(cfg Config, js jetstream.JetStream, engine *decider.Engine, logger *slog.Logger, reg prometheus.Registerer) (*Follower, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if js == nil || engine == nil || logger == nil || reg == nil {
		return nil, errors.New("policyfeed: nil JetStream, engine, logger or registerer")
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	logger = logger.With("component", "policyfeed", "app", cfg.App)
	disk := newDiskStore(cfg.DataDir, cfg.App, cfg.Trust.Fingerprint(cfg.App))
	return &Follower{cfg: cfg, js: js, engine: engine, logger: logger, m: m, disk: disk,
		saver: newSaver(disk, cfg.SaveInterval, logger, m), reportWake: make(chan struct{}, 1),
		changed: make(chan struct{}), caughtUp: make(chan struct{})}, nil
}

// Start loads the last good snapshot from disk into the engine (so the
// replica serves it even when NATS is unreachable), then follows the log
// in the background: newest compacted snapshot, the events after it, then
// live events. It does not wait for NATS. After Stop it returns
// startstop.ErrStopped.
func (f *Follower) Start(context.Context) error {
	return f.life.Start(f.start)
}

func (f *Follower) start() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.startedAt = f.cfg.Now().UTC()
	f.fold = decider.NewFold(nil, 0)
	snap, pos, err := f.disk.load()
	switch {
	case err != nil:
		f.m.snapErrors.WithLabelValues("disk").Inc()
		f.engine.SetUnready("the policy snapshot on disk cannot be used (" + err.Error() + "); not caught up with the policy log yet")
		f.logger.Error("ignoring the policy snapshot on disk", "path", f.disk.path, "err", err)
	case snap != nil:
		f.fold = decider.NewFold(snap, pos)
		f.engine.Load(snap)
		f.revision, f.source = snap.Revision(), policystore.SourceDisk
		f.logger.Info("serving the last good policy snapshot from disk until the log is reached",
			"path", f.disk.path, "revision", snap.Revision())
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	f.wg.Add(3)
	go func() { defer f.wg.Done(); f.saver.run(ctx) }()
	go func() { defer f.wg.Done(); f.report(ctx) }()
	go func() { defer f.wg.Done(); f.run(ctx) }()
	return nil
}

// Stop stops following, writes the newest snapshot to disk and removes the
// replica's status entry. It is idempotent and may be called before Start.
func (f *Follower) Stop(ctx context.Context) error {
	return f.life.Stop(func() error { return f.stop(ctx) })
}

func (f *Follower) stop(ctx context.Context) error {
	f.cancel()
	done := make(chan struct{})
	go func() { f.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("stop policy follower: %w", ctx.Err())
	}
	f.saver.flush() // the newest snapshot, offered after the saver stopped
	if log := f.log.Load(); log != nil && f.js.Conn().IsConnected() {
		dctx, cancel := context.WithTimeout(ctx, f.cfg.RequestTimeout)
		defer cancel()
		if err := log.DeleteStatus(dctx, f.cfg.ReplicaID); err != nil {
			f.logger.Warn("replica status not removed; it expires by itself", "err", err)
		}
	}
	return nil
}

// Revision returns the revision of the policy the engine decides with.
func (f *Follower) Revision() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.revision
}

// CaughtUp is closed once the replica has applied every event that was in
// the log when it first reached it.
func (f *Follower) CaughtUp() <-chan struct{} { return f.caughtUp }

// WaitRevision returns once the engine decides with revision rev or later.
func (f *Follower) WaitRevision(ctx context.Context, rev uint64) error {
	for {
		f.mu.Lock()
		cur, ch := f.revision, f.changed
		f.mu.Unlock()
		if cur >= rev {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("wait for policy revision %d (at %d): %w", rev, cur, ctx.Err())
		}
	}
}

// setRevision records the revision decided with and where it came from;
// a change is reported at once (an unchanged status waits for the periodic
// report, so that reading events that change nothing writes nothing).
func (f *Follower) setRevision(rev uint64, source string) {
	f.mu.Lock()
	changed := rev != f.revision || source != f.source
	if changed {
		f.revision, f.source = rev, source
		close(f.changed)
		f.changed = make(chan struct{})
	}
	f.mu.Unlock()
	if changed {
		f.wakeReport()
	}
}

// wakeReport has the reporter write the status now.
func (f *Follower) wakeReport() {
	select {
	case f.reportWake <- struct{}{}:
	default:
	}
}

// status is the replica's current status entry.
func (f *Follower) status() policystore.ReplicaStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	host, _ := os.Hostname()
	return policystore.ReplicaStatus{App: f.cfg.App, Replica: f.cfg.ReplicaID, Revision: f.revision, Source: f.source,
		Host: host, PID: os.Getpid(), StartedAt: f.startedAt, UpdatedAt: f.cfg.Now().UTC()}
}

// report writes the replica's status at each change, every
// StatusInterval, once the log is (re)opened and after each reconnect. A
// write that fails is tried again soon (statusRetryMin, doubling up to
// statusRetryMax), and a write still waiting for its answer when the
// status changes gives way to the newest status: while a server of the
// cluster is replaced, or a lost quorum returns, the status is written
// again about a second after the bucket answers.
func (f *Follower) report(ctx context.Context) {
	tick := time.NewTicker(f.cfg.StatusInterval)
	defer tick.Stop()
	// After a reconnect the status is written at once: the bucket may have
	// lost it (a server of an R1 bucket restarted) or its leader changed.
	reconnected := f.js.Conn().StatusChanged(nats.CONNECTED)
	defer f.js.Conn().RemoveStatusListener(reconnected)
	var retry <-chan time.Time
	backoff := statusRetryMin
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-f.reportWake:
		case <-reconnected:
		case <-tick.C:
		case <-retry:
		}
		log := f.log.Load()
		if log == nil {
			continue
		}
		err := f.putStatus(ctx, log)
		if ctx.Err() != nil {
			return
		}
		switch {
		case err != nil && !failing:
			f.logger.Warn("replica status not reported; retrying", "err", err)
		case err == nil && failing:
			f.logger.Info("replica status reported again")
		}
		failing = err != nil
		retry = nil
		if err != nil {
			retry = time.After(backoff)
			backoff = min(2*backoff, statusRetryMax)
		} else {
			backoff = statusRetryMin
		}
	}
}

// Writing the status: the pause before writing a failed status again
// (doubling from statusRetryMin to statusRetryMax), and the bound on one
// write. A write takes milliseconds; one unanswered (the bucket has no
// leader, no quorum) is sent again a moment later, so that the status is
// written within a second or so of the bucket answering again.
const (
	statusRetryMin   = 100 * time.Millisecond
	statusRetryMax   = time.Second
	statusPutTimeout = time.Second
)

// putStatus writes the current status, at most statusPutTimeout (or
// RequestTimeout when shorter); when the status changes before the write
// is answered, it writes the newest one instead.
func (f *Follower) putStatus(ctx context.Context, log *policystore.Log) error {
	for {
		pctx, cancel := context.WithTimeout(ctx, min(statusPutTimeout, f.cfg.RequestTimeout))
		done := make(chan error, 1)
		st := f.status()
		go func() { done <- log.PutStatus(pctx, st) }()
		select {
		case err := <-done:
			cancel()
			result := "ok"
			if err != nil {
				result = "error"
			}
			f.m.statusWrites.WithLabelValues(result).Inc()
			return err
		case <-f.reportWake:
			cancel()
			<-done
			f.m.statusWrites.WithLabelValues("superseded").Inc()
		}
	}
}
