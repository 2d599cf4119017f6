package statsfeed

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/invitegate/invitegate/decider"
	"github.com/invitegate/invitegate/decider/startstop"
)

// Follower subscribes to the aggregator's stats updates and applies them
// to a Table. When given an Engine it keeps only the statistics the loaded
// policy reads (decider.Snapshot.Stats); without one it keeps them all.
type Follower struct {
	cfg     Config
	nc      *nats.Conn
	table   *Table
	engine  *decider.Engine
	logger  *slog.Logger
	metrics *metrics

	life startstop.State

	// writeMu serialises the table's writers (the subscription's handler
	// and the sweep loop: the Table takes one writer at a time); stopped,
	// under it, keeps a message still in the NATS client's hands after
	// Stop from being applied.
	writeMu sync.Mutex
	stopped bool
	sub     *nats.Subscription
	cancel  context.CancelFunc
	done    chan struct{}

	appliedMu sync.Mutex    // not life: Stop holds life while the loop finishes a message
	applied   chan struct{} // closed and replaced after every applied message (tests wait on it)
}

// New returns a Follower applying updates to table. engine may be nil.
func New(cfg Config, nc *nats.Conn, table *Table, engine *decider.Engine, logger *slog.Logger, reg prometheus.Registerer) (*Follower, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	m, err := newMetrics(reg, table)
	if err != nil {
		return nil, err
	}
	return &Follower{cfg: cfg, nc: nc, table: table, engine: engine, logger: logger, metrics: m,
		applied: make(chan struct{})}, nil
}

// Table returns the table the Follower fills.
func (f *Follower) Table() *Table { return f.table }

// Start subscribes and starts applying. It returns once subscribed; after
// Stop it returns startstop.ErrStopped.
func (f *Follower) Start(ctx context.Context) error {
	return f.life.Start(func() error { return f.start(ctx) })
}

func (f *Follower) start(ctx context.Context) error {
	// The NATS client queues this subscription's messages up to Pending
	// messages and PendingBytes bytes, and drops (and counts) the rest: the
	// feed's memory is bounded in bytes, not only in messages.
	sub, err := f.nc.Subscribe(f.cfg.Subject, f.handle)
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", f.cfg.Subject, err)
	}
	if err := sub.SetPendingLimits(f.cfg.Pending, f.cfg.PendingBytes); err != nil {
		_ = sub.Unsubscribe()
		return fmt.Errorf("subscribe %s: pending limits: %w", f.cfg.Subject, err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
	}
	if err := f.nc.FlushWithContext(ctx); err != nil {
		_ = sub.Unsubscribe()
		return fmt.Errorf("subscribe %s: flush: %w", f.cfg.Subject, err)
	}
	loopCtx, cancel := context.WithCancel(context.Background())
	f.sub, f.cancel, f.done = sub, cancel, make(chan struct{})
	go f.loop(loopCtx)
	return nil
}

// handle applies one message, in the subscription's goroutine.
func (f *Follower) handle(m *nats.Msg) {
	f.writeMu.Lock()
	defer f.writeMu.Unlock()
	if f.stopped {
		return
	}
	f.apply(m.Data)
	if n, err := m.Sub.Dropped(); err == nil && n > 0 {
		f.metrics.dropped(n)
	}
	f.appliedMu.Lock()
	close(f.applied)
	f.applied = make(chan struct{})
	f.appliedMu.Unlock()
}

// Stop unsubscribes and waits for the loop to end. Idempotent; a Stop
// before Start does nothing.
func (f *Follower) Stop(ctx context.Context) error {
	return f.life.Stop(func() error { return f.stop(ctx) })
}

func (f *Follower) stop(ctx context.Context) error {
	err := f.sub.Unsubscribe()
	f.writeMu.Lock()
	f.stopped = true
	f.writeMu.Unlock()
	f.cancel()
	f.cancel = nil
	select {
	case <-f.done:
	case <-ctx.Done():
		return fmt.Errorf("stop stats follower: %w", ctx.Err())
	}
	if err != nil && err != nats.ErrConnectionClosed && err != nats.ErrBadSubscription {
		return fmt.Errorf("unsubscribe %s: %w", f.cfg.Subject, err)
	}
	return nil
}

// Applied returns a channel closed after the next message is applied.
func (f *Follower) Applied() <-chan struct{} {
	f.appliedMu.Lock()
	defer f.appliedMu.Unlock()
	return f.applied
}

// loop sweeps idle keys until Stop.
func (f *Follower) loop(ctx context.Context) {
	defer close(f.done)
	sweep := time.NewTicker(f.cfg.SweepInterval)
	defer sweep.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-sweep.C:
			f.Sweep()
		}
	}
}

// Sweep removes idle keys now (the loop does it every SweepInterval).
func (f *Follower) Sweep() int {
	f.writeMu.Lock()
	defer f.writeMu.Unlock()
	n := f.table.Sweep(f.cfg.Now(), f.cfg.TTL)
	f.metrics.expired.Add(float64(n))
	return n
}

// apply applies one message: refused whole when over MaxMessageBytes;
// otherwise each update the policy reads, for this app, within MaxKeys.
func (f *Follower) apply(data []byte) {
	if len(data) > f.cfg.MaxMessageBytes {
		f.metrics.messages.WithLabelValues("oversized").Inc()
		f.logger.Warn("stats message refused: too large", "bytes", len(data), "max", f.cfg.MaxMessageBytes)
		return
	}
	wanted := f.wanted()
	now := f.cfg.Now()
	var otherApp, overKeys int
	err := decider.DecodeStatUpdates(data, func(u decider.StatUpdate) {
		switch {
		case wanted&(1<<u.Stat) == 0:
		case f.cfg.App != "" && u.App != f.cfg.App:
			otherApp++
		case !f.table.applyCapped(u, now, f.cfg.MaxKeys):
			overKeys++
		}
	})
	if otherApp > 0 {
		f.metrics.updates.WithLabelValues(reasonOtherApp).Add(float64(otherApp))
	}
	if overKeys > 0 {
		f.metrics.updates.WithLabelValues(reasonMaxKeys).Add(float64(overKeys))
	}
	if err != nil {
		f.metrics.messages.WithLabelValues("bad").Inc()
		f.logger.Warn("stats message rejected", "error", err, "bytes", len(data))
	} else {
		f.metrics.messages.WithLabelValues("applied").Inc()
	}
}

// wanted is the bit set of statistics to keep.
func (f *Follower) wanted() uint {
	if f.engine == nil {
		return 1<<decider.NumStats - 1
	}
	s := f.engine.Snapshot()
	if s == nil {
		return 0
	}
	var w uint
	for _, st := range s.Stats() {
		w |= 1 << st
	}
	return w
}
