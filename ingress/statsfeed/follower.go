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

	life   startstop.State
	sub    *nats.Subscription
	cancel context.CancelFunc
	done   chan struct{}

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
	msgs := make(chan *nats.Msg, f.cfg.Pending)
	sub, err := f.nc.ChanSubscribe(f.cfg.Subject, msgs)
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", f.cfg.Subject, err)
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
	go f.loop(loopCtx, msgs)
	return nil
}

// Stop unsubscribes and waits for the loop to end. Idempotent; a Stop
// before Start does nothing.
func (f *Follower) Stop(ctx context.Context) error {
	return f.life.Stop(func() error { return f.stop(ctx) })
}

func (f *Follower) stop(ctx context.Context) error {
	err := f.sub.Unsubscribe()
	f.cancel()
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

func (f *Follower) loop(ctx context.Context, msgs chan *nats.Msg) {
	defer close(f.done)
	sweep := time.NewTicker(f.cfg.SweepInterval)
	defer sweep.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-msgs:
			f.apply(m.Data)
		case <-sweep.C:
			f.Sweep()
		}
	}
}

// Sweep removes idle keys now (the loop does it every SweepInterval).
// Only for the loop's goroutine, or tests before Start.
func (f *Follower) Sweep() int {
	n := f.table.Sweep(f.cfg.Now(), f.cfg.TTL)
	f.metrics.expired.Add(float64(n))
	return n
}

func (f *Follower) apply(data []byte) {
	wanted := f.wanted()
	now := f.cfg.Now()
	err := decider.DecodeStatUpdates(data, func(u decider.StatUpdate) {
		if wanted&(1<<u.Stat) != 0 {
			f.table.apply(u, now)
		}
	})
	if err != nil {
		f.metrics.messages.WithLabelValues("bad").Inc()
		f.logger.Warn("stats message rejected", "error", err, "bytes", len(data))
	} else {
		f.metrics.messages.WithLabelValues("applied").Inc()
	}
	if n, err := f.sub.Dropped(); err == nil && n > 0 {
		f.metrics.dropped(n)
	}
	f.appliedMu.Lock()
	close(f.applied)
	f.applied = make(chan struct{})
	f.appliedMu.Unlock()
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
