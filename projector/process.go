package projector

import (
	"context"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// process decodes a batch, stores it and acknowledges its messages.
func (w *Worker) process(ctx context.Context, msgs []jetstream.Msg) {
	stop := keepAlive(msgs, w.cfg.AckWait/3)
	defer stop()
	ds := make([]*delivery, 0, len(msgs))
	for _, msg := range msgs {
		d, err := decode(msg)
		if err != nil { // not a JetStream message: cannot happen on a consumer
			w.logger.Error("skip message", "subject", msg.Subject(), "err", err)
			continue
		}
		ds = append(ds, d)
	}
	w.storeOrBisect(ctx, ds)
}

// storeOrBisect stores ds in one transaction. When PostgreSQL refuses the
// data, it splits ds in halves and stores each, until the message at fault
// is alone; that one is failed (see failMessage), the others stored.
func (w *Worker) storeOrBisect(ctx context.Context, ds []*delivery) {
	start := time.Now()
	rows := collectRows(ds, w.cfg.Now())
	var res writeResult
	err := w.retrying(ctx, "write batch", func(ctx context.Context) (err error) {
		res, err = writeBatch(ctx, w.pool, w.parts, rows)
		return err
	})
	switch {
	case err == nil:
		w.committed(ds, res, time.Since(start))
		return
	case !isDataError(err): // stopping: unacknowledged messages are redelivered
		return
	}
	w.m.batches.WithLabelValues(resultDataError).Inc()
	if len(ds) == 1 {
		w.failMessage(ctx, ds[0], err)
		return
	}
	half := len(ds) / 2
	w.storeOrBisect(ctx, ds[:half])
	w.storeOrBisect(ctx, ds[half:])
}

// committed acknowledges a stored batch and records it in the metrics.
func (w *Worker) committed(ds []*delivery, res writeResult, took time.Duration) {
	for _, d := range ds {
		if err := d.msg.Ack(); err != nil { // redelivered then skipped as duplicates
			w.logger.Debug("ack failed", "seq", d.seq, "err", err)
		}
	}
	w.m.batches.WithLabelValues(resultOK).Inc()
	w.m.duration.Observe(took.Seconds())
	for kind, n := range res.inserted {
		w.m.events.WithLabelValues(kind).Add(float64(n))
	}
	w.m.duplicates.Add(float64(res.duplicates))
	for reason, n := range res.deadLetters {
		w.m.deadLetters.WithLabelValues(reason).Add(float64(n))
		w.logger.Warn("undecodable lines moved to dead_letters", "count", n, "reason", reason)
	}
	if !res.newest.IsZero() {
		w.m.lag.Set(max(w.cfg.Now().Sub(res.newest).Seconds(), 0))
	}
}

// failMessage records a delivery of d that PostgreSQL refused. Before
// MaxDeliver deliveries it asks for a redelivery after BackOff; at the last
// one it leaves the message in dead_letters and terminates it.
func (w *Worker) failMessage(ctx context.Context, d *delivery, cause error) {
	final := d.delivered >= uint64(w.cfg.MaxDeliver)
	dl := storeLetter(d, cause, w.cfg.Now(), final)
	err := w.retrying(ctx, "write dead letter", func(ctx context.Context) error {
		return writeDeadLetter(ctx, w.pool, dl)
	})
	log := w.logger.With("stream_seq", d.seq, "subject", d.msg.Subject(), "deliveries", d.delivered, "cause", cause)
	switch {
	case err != nil && ctx.Err() != nil:
		return
	case err != nil:
		log.Error("message refused by PostgreSQL and its dead letter too; will be redelivered", "err", err)
		_ = d.msg.NakWithDelay(w.cfg.backOff(d.delivered))
	case final:
		log.Error("message refused by PostgreSQL; moved to dead_letters and terminated")
		w.m.deadLetters.WithLabelValues(ReasonStore).Inc()
		_ = d.msg.TermWithReason("invitegate projector: moved to dead_letters")
	default:
		delay := w.cfg.backOff(d.delivered)
		log.Warn("message refused by PostgreSQL; will be redelivered", "delay", delay)
		_ = d.msg.NakWithDelay(delay)
	}
}

// retrying runs fn until it succeeds, fails for a data reason, or ctx ends,
// waiting RetryMin doubling to RetryMax between transient failures. Each
// attempt is bounded by WriteTimeout.
func (w *Worker) retrying(ctx context.Context, what string, fn func(context.Context) error) error {
	delay := w.cfg.RetryMin
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, w.cfg.WriteTimeout)
		err := fn(actx)
		cancel()
		switch {
		case err == nil || isDataError(err):
			return err
		case ctx.Err() != nil:
			return ctx.Err()
		}
		w.m.batches.WithLabelValues(resultRetry).Inc()
		w.logger.Warn(what+" failed; retrying", "attempt", attempt, "delay", delay, "err", err)
		if !sleep(ctx, delay) {
			return ctx.Err()
		}
		delay = min(2*delay, w.cfg.RetryMax)
	}
}

// keepAlive sends "in progress" for msgs every interval until stop is
// called, so that a long write or retry does not let AckWait expire.
func keepAlive(msgs []jetstream.Msg, interval time.Duration) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				for _, m := range msgs {
					_ = m.InProgress()
				}
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}
