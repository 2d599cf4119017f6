package projector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/invitegate/invitegate/decider/startstop"
)

var (
	// ErrStopped is returned by Start after Stop (it is startstop.ErrStopped).
	ErrStopped = startstop.ErrStopped
	// ErrStreamNotFound is returned by Start when the event stream does
	// not exist yet (natsconn.EnsureEventStream creates it).
	ErrStreamNotFound = errors.New("event stream not found")
)

// Worker projects the event stream into PostgreSQL: it reads batches from a
// durable pull consumer, writes each in one transaction and acknowledges
// its messages after the commit. Any number of Workers, in one process or
// many, may share the consumer.
type Worker struct {
	cfg    Config
	js     jetstream.JetStream
	pool   *pgxpool.Pool
	logger *slog.Logger
	m      *metrics
	parts  *partitions

	life      startstop.State
	stopFetch context.CancelFunc // ends fetching; in-flight batches finish
	abort     context.CancelFunc // ends in-flight writes
	fetchers  sync.WaitGroup
	writers   sync.WaitGroup
	consumer  atomic.Pointer[jetstream.Consumer] // replaced when the fetch loop recreates it
	batches   chan []jetstream.Msg
	dbReady   <-chan struct{} // nil: the database is ready at Start
}

// WaitFor makes the Worker fetch nothing until ready is closed (a
// Database's Ready): while its database is unreachable at start, events
// stay in the stream. Call it before Start.
func (w *Worker) WaitFor(ready <-chan struct{}) {
	w.dbReady = ready
}

// New returns a Worker reading cfg.Stream through the durable consumer
// cfg.Consumer and writing to pool (whose database must be migrated, see
// package migrations). Its metrics are registered on reg.
func New(cfg Config, js jetstream.JetStream, pool *pgxpool.Pool, logger *slog.Logger, reg prometheus.Registerer) (*Worker, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	return &Worker{cfg: cfg, js: js, pool: pool, logger: logger.With("component", "projector"), m: m,
		parts: newPartitions()}, nil
}

// consumerConfig is the durable pull consumer every Worker shares.
func (w *Worker) consumerConfig() jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       w.cfg.Consumer,
		Description:   "invitegate projector: events into PostgreSQL",
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       w.cfg.AckWait,
		MaxDeliver:    -1, // enforced by the Worker, see Config.MaxDeliver
		MaxAckPending: w.cfg.MaxAckPending,
	}
}

// Start creates or updates the consumer and starts fetching and writing in
// goroutines the Worker owns. ctx bounds only the setup. Calling Start
// again is a no-op; after Stop it returns ErrStopped.
func (w *Worker) Start(ctx context.Context) error {
	return w.life.Start(func() error { return w.start(ctx) })
}

func (w *Worker) start(ctx context.Context) error {
	consumer, err := w.js.CreateOrUpdateConsumer(ctx, w.cfg.Stream, w.consumerConfig())
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("consumer %s on stream %s: %w", w.cfg.Consumer, w.cfg.Stream, ErrStreamNotFound)
	}
	if err != nil {
		return fmt.Errorf("create consumer %s on stream %s: %w", w.cfg.Consumer, w.cfg.Stream, err)
	}
	w.consumer.Store(&consumer)
	w.batches = make(chan []jetstream.Msg)
	fetchCtx, stopFetch := context.WithCancel(context.Background())
	writeCtx, abort := context.WithCancel(context.Background())
	w.stopFetch, w.abort = stopFetch, abort
	w.fetchers.Add(3)
	go func() {
		defer w.fetchers.Done()
		w.fetchLoop(fetchCtx)
	}()
	go func() {
		defer w.fetchers.Done()
		w.pollPending(fetchCtx)
	}()
	go func() {
		defer w.fetchers.Done()
		w.maintainPartitions(fetchCtx)
	}()
	for range w.cfg.InFlight {
		w.writers.Add(1)
		go func() {
			defer w.writers.Done()
			for msgs := range w.batches {
				w.process(writeCtx, msgs)
			}
		}()
	}
	w.logger.Info("projector started", "stream", w.cfg.Stream, "consumer", w.cfg.Consumer,
		"batch_size", w.cfg.BatchSize, "in_flight", w.cfg.InFlight, "retention", w.cfg.Retention)
	return nil
}

// Stop stops fetching, gives the messages not yet in a batch back to the
// server (Nak), and waits for the batches being written to commit. When
// ctx ends first, it aborts them (their messages are redelivered after
// AckWait; nothing is lost, rows already committed are skipped as
// duplicates) and returns ctx's error. Stop is idempotent and may be called
// before Start.
func (w *Worker) Stop(ctx context.Context) error {
	return w.life.Stop(func() error { return w.stop(ctx) })
}

func (w *Worker) stop(ctx context.Context) error {
	w.stopFetch()
	done := make(chan struct{})
	go func() {
		w.fetchers.Wait()
		w.writers.Wait()
		close(done)
	}()
	select {
	case <-done:
		w.abort()
		w.logger.Info("projector stopped")
		return nil
	case <-ctx.Done():
		w.abort()
		<-done
		return fmt.Errorf("stop projector: in-flight batches abandoned: %w", ctx.Err())
	}
}
