package projector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of the database preparation's retries.
const (
	DefaultPrepareRetryMin = time.Second
	DefaultPrepareRetryMax = 30 * time.Second
	// prepareTimeout bounds one attempt (create the database, migrate);
	// firstAttemptTimeout the one Start makes, so that an unreachable
	// database (packets dropped) does not hold the process's start.
	prepareTimeout      = 2 * time.Minute
	firstAttemptTimeout = 5 * time.Second
)

// Database prepares the projector's PostgreSQL (creates the database if
// missing, migrates it unless Config.NoMigrate) in the background, retrying
// with backoff until it succeeds, so that a projector starts, and keeps
// running, while PostgreSQL is down. Ready is closed once it is prepared; a
// Worker told to wait for it (Worker.WaitFor) fetches nothing until then,
// so events stay in the stream and are projected once the database appears.
//
// It reports its state in the gauge invitegate_projector_database_ready (0
// or 1) and in IsReady, for /readyz. Start and Stop follow the house
// lifecycle: Stop is idempotent and may come before Start.
type Database struct {
	cfg    Config
	logger *slog.Logger
	ready  chan struct{}
	isUp   atomic.Bool
	gauge  prometheus.Gauge
	tries  prometheus.Counter

	// RetryMin and RetryMax bound the wait between attempts (doubling).
	// Defaults DefaultPrepareRetryMin and DefaultPrepareRetryMax.
	RetryMin, RetryMax time.Duration

	mu      sync.Mutex
	started bool
	stopped bool
	cancel  context.CancelFunc
	done    chan struct{}
}

// ErrDatabaseStopped is returned by Database.Start after Stop.
var ErrDatabaseStopped = errors.New("projector database stopped")

// NewDatabase returns the preparation of cfg's database; its metrics are
// registered on reg.
func NewDatabase(cfg Config, logger *slog.Logger, reg prometheus.Registerer) (*Database, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	d := &Database{cfg: cfg, logger: logger.With("component", "projector-database"), ready: make(chan struct{}),
		RetryMin: DefaultPrepareRetryMin, RetryMax: DefaultPrepareRetryMax,
		gauge: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "invitegate_projector_database_ready",
			Help: "1 once the projector's database is created and migrated, 0 while it is unreachable (events wait in the stream).",
		}),
		tries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "invitegate_projector_database_prepare_failures_total",
			Help: "Failed attempts to reach, create or migrate the projector's database.",
		}),
	}
	for _, c := range []prometheus.Collector{d.gauge, d.tries} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register database metrics: %w", err)
		}
	}
	return d, nil
}

// Ready is closed once the database is prepared.
func (d *Database) Ready() <-chan struct{} { return d.ready }

// IsReady reports whether the database is prepared.
func (d *Database) IsReady() bool { return d.isUp.Load() }

// Start makes a first attempt within ctx, then, if it failed, keeps trying
// in a goroutine it owns. It fails only after Stop (ErrDatabaseStopped),
// never because PostgreSQL is unreachable.
func (d *Database) Start(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case d.stopped:
		return ErrDatabaseStopped
	case d.started:
		return nil
	}
	d.started = true
	if d.attempt(ctx, firstAttemptTimeout) {
		return nil
	}
	bg, cancel := context.WithCancel(context.Background())
	d.cancel, d.done = cancel, make(chan struct{})
	go d.retry(bg)
	return nil
}

// attempt prepares the database once and reports whether it succeeded.
func (d *Database) attempt(ctx context.Context, timeout time.Duration) bool {
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	report, err := Prepare(actx, d.cfg)
	if err != nil {
		d.tries.Inc()
		d.logger.Warn("database not ready: analytics paused, events wait in the stream; retrying", "err", err)
		return false
	}
	for _, line := range report {
		d.logger.Info("migration", "result", line)
	}
	d.isUp.Store(true)
	d.gauge.Set(1)
	close(d.ready)
	d.logger.Info("database ready")
	return true
}

func (d *Database) retry(ctx context.Context) {
	defer close(d.done)
	delay := d.RetryMin
	for {
		if !sleep(ctx, delay) {
			return
		}
		if d.attempt(ctx, prepareTimeout) {
			return
		}
		delay = min(2*delay, d.RetryMax)
	}
}

// Stop ends the retries (an attempt in progress is canceled) and waits for
// them to end, at most until ctx ends.
func (d *Database) Stop(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stopped = true
	if d.cancel == nil {
		return nil
	}
	d.cancel()
	select {
	case <-d.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop database preparation: %w", ctx.Err())
	}
}
