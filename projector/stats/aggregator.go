package stats

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/invitegate/invitegate/decider"
	"github.com/invitegate/invitegate/decider/startstop"
)

// Aggregator reads the event stream from Config.Rebuild ago with its own
// ordered consumer (not the projector's shared durable one), keeps sliding
// windows in Counters and, once caught up with the stream, publishes
// coalesced absolute values on Config.Subject every FlushInterval.
//
// Every Aggregator reads every event, so two give the same counters as one
// and a restarted one rebuilds its windows instead of starting from zero;
// their updates are absolute values, so an ingress may hear both.
type Aggregator struct {
	cfg     Config
	nc      *nats.Conn
	js      jetstream.JetStream
	logger  *slog.Logger
	metrics *metrics

	mu         sync.Mutex // guards counters, seen, caughtUp, lastScan, lastFull, pos
	counters   *Counters
	seen       *seenIDs // ids of the events counted, to skip copies
	caughtUp   bool
	caughtUpCh chan struct{}
	closeOnce  sync.Once
	lastScan   uint32 // minute of the last Scan
	lastFull   time.Time
	pos        uint64     // stream sequence of the last message applied
	top        TopStore   // nil: none
	groups     GroupStore // nil: group sizes are not stored
	publishMu  sync.Mutex // one publish at a time
	groupsMu   sync.Mutex // one syncGroups at a time

	life   startstop.State
	cancel context.CancelFunc
	done   chan struct{}
}

// New returns an Aggregator; Start begins reading.
func New(cfg Config, nc *nats.Conn, js jetstream.JetStream, logger *slog.Logger, reg prometheus.Registerer) (*Aggregator, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	a := &Aggregator{cfg: cfg, nc: nc, js: js, logger: logger, counters: NewCounters(false), caughtUpCh: make(chan struct{}),
		seen: newSeenIDs(cfg.DedupWindow, cfg.DedupMaxIDs)}
	m, err := newMetrics(reg, a)
	if err != nil {
		return nil, err
	}
	a.metrics = m
	return a, nil
}

// KeepGroupSizes makes the aggregator store group sizes in s and load them
// from it: a group's size then survives restarts and covers more than the
// stream's history, and an idle group can leave memory. Call it before
// Start.
func (a *Aggregator) KeepGroupSizes(s GroupStore) {
	a.groups = s
	a.counters = NewCounters(true)
}

// Start starts reading the stream and publishing in the background. After
// Stop it returns startstop.ErrStopped.
func (a *Aggregator) Start(context.Context) error {
	return a.life.Start(func() error {
		ctx, cancel := context.WithCancel(context.Background())
		a.cancel, a.done = cancel, make(chan struct{})
		go a.run(ctx)
		return nil
	})
}

// Stop stops reading and publishing. Idempotent; a Stop before Start does
// nothing.
func (a *Aggregator) Stop(ctx context.Context) error {
	return a.life.Stop(func() error {
		a.cancel()
		select {
		case <-a.done:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("stop stats aggregator: %w", ctx.Err())
		}
	})
}

// CaughtUp is closed once the aggregator has first read the stream up to
// its end as it was at start; it publishes nothing before (nor during a
// later rebuild after a read error).
func (a *Aggregator) CaughtUp() <-chan struct{} { return a.caughtUpCh }

// Value returns the current value of st for id in app.
func (a *Aggregator) Value(st decider.Stat, app, id string) int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.counters.Value(st, app, id, a.cfg.Now())
}

func (a *Aggregator) run(ctx context.Context) {
	defer close(a.done)
	var wg sync.WaitGroup
	wg.Go(func() { a.every(ctx, a.cfg.FlushInterval, a.publish, "publishing stats failed") })
	if a.groups != nil { // its own loop: a slow database never delays publishing
		wg.Go(func() {
			a.every(ctx, a.cfg.FlushInterval, a.syncGroups, "loading or saving group sizes failed; will retry")
		})
	}
	if a.top != nil {
		wg.Go(func() { a.every(ctx, a.cfg.TopInterval, a.WriteTop, "writing the top counters failed; will retry") })
	}
	defer wg.Wait()
	for ctx.Err() == nil {
		err := a.follow(ctx)
		if ctx.Err() != nil {
			return
		}
		a.logger.Error("stats aggregator: reading events failed; retrying", "error", err, "wait", a.cfg.RetryWait)
		select {
		case <-ctx.Done():
		case <-time.After(a.cfg.RetryWait):
		}
	}
}

// follow reads the stream until ctx ends. Counters are rebuilt from
// scratch on each call: the ordered consumer starts over at Rebuild ago.
func (a *Aggregator) follow(ctx context.Context) error {
	stream, err := a.js.Stream(ctx, a.cfg.Stream)
	if err != nil {
		return fmt.Errorf("stream %s: %w", a.cfg.Stream, err)
	}
	start := a.cfg.Now().Add(-a.cfg.Rebuild)
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{decider.EventSubjects},
		DeliverPolicy:  jetstream.DeliverByStartTimePolicy,
		OptStartTime:   &start,
	})
	if err != nil {
		return fmt.Errorf("ordered consumer on %s: %w", a.cfg.Stream, err)
	}
	a.mu.Lock()
	// Publish nothing until rebuilt again; then everything (a full scan).
	a.counters, a.caughtUp, a.pos, a.lastFull = NewCounters(a.groups != nil), false, 0, time.Time{}
	a.seen = newSeenIDs(a.cfg.DedupWindow, a.cfg.DedupMaxIDs)
	a.mu.Unlock()
	info, err := cons.Info(ctx)
	if err != nil {
		return fmt.Errorf("consumer info: %w", err)
	}
	if info.NumPending == 0 {
		a.markCaughtUp()
	}
	failed := make(chan error, 1)
	// Pull by bytes, not by the default 500 messages: 500 batches of up to
	// 256 events could overflow the client's 64 MiB pending limit, and
	// dropped messages would stall the ordered consumer until it resets.
	cc, err := cons.Consume(a.handle, jetstream.PullMaxBytes(pullMaxBytes), jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		if errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound) {
			select {
			case failed <- err:
			default:
			}
		}
	}))
	if err != nil {
		return fmt.Errorf("consume %s: %w", a.cfg.Stream, err)
	}
	defer cc.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case err := <-failed:
		return err
	}
}

// pullMaxBytes bounds what one pull of the aggregator asks for.
const pullMaxBytes = 16 << 20

func (a *Aggregator) handle(msg jetstream.Msg) {
	events, bad := decider.DecodeBatch(msg.Data())
	a.metrics.badLines.Add(float64(len(bad)))
	meta, err := msg.Metadata()
	var seq uint64
	if err == nil {
		seq = meta.Sequence.Stream
	}
	dups, unchecked := 0, 0
	a.mu.Lock()
	for i := range events {
		dup, checked := a.seen.seen(events[i].ID, events[i].ReceivedAt)
		if !checked {
			unchecked++
		}
		if dup {
			dups++
			continue
		}
		a.counters.Apply(&events[i], seq)
	}
	a.pos = max(a.pos, seq)
	a.mu.Unlock()
	a.metrics.events.Add(float64(len(events) - dups))
	a.metrics.duplicates.Add(float64(dups))
	a.metrics.unchecked.Add(float64(unchecked))
	if err == nil && meta.NumPending == 0 {
		a.markCaughtUp()
	}
}

func (a *Aggregator) markCaughtUp() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.caughtUp = true
	a.closeOnce.Do(func() { close(a.caughtUpCh) })
}

// every runs fn every interval until ctx ends, logging its errors.
func (a *Aggregator) every(ctx context.Context, interval time.Duration, fn func(context.Context) error, failed string) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := fn(ctx); err != nil {
				a.logger.Error("stats aggregator: "+failed, "error", err)
			}
		}
	}
}
