package outbox

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/invitegate/invitegate/migrations/natsconn"
	"github.com/nats-io/nats.go"
)

// runPublisher is one of MaxInFlight publishers: it takes the oldest ready
// batch and publishes it until it is acknowledged, so at most MaxInFlight
// batches await a PubAck at once. When ctx ends mid-publish the batch stays
// in inflight, and Stop spools it.
func (o *Outbox) runPublisher(ctx context.Context) {
	defer o.wg.Done()
	select {
	case <-o.streamReady:
	case <-ctx.Done():
		return
	}
	for {
		b := o.next(ctx)
		if b == nil || o.deliver(ctx, b) != nil {
			return
		}
		o.acked(b)
	}
}

// next pops the oldest ready batch into inflight, waiting for one.
func (o *Outbox) next(ctx context.Context) *batch {
	for {
		o.mu.Lock()
		if len(o.ready) > 0 {
			b := o.ready[0]
			o.ready[0] = nil
			o.ready = o.ready[1:]
			o.mergeReadyLocked(b)
			b.sent = true
			o.inflight[b] = struct{}{}
			if len(o.ready) > 0 {
				signal(o.readyCh) // pass the wake-up on to another publisher
			}
			o.mu.Unlock()
			return b
		}
		o.mu.Unlock()
		select {
		case <-o.readyCh:
		case <-ctx.Done():
			return nil
		}
	}
}

// mergeLookahead bounds the ready batches scanned for merging per dispatch.
const mergeLookahead = 64

// mergeReadyLocked moves into b the events of the next ready batches of its
// subject, within the batch limits: when publishers are busy, batches grow
// instead of queueing up.
func (o *Outbox) mergeReadyLocked(b *batch) {
	if !b.mergeable() {
		return
	}
	n := min(len(o.ready), mergeLookahead)
	kept := o.ready[:0]
	for _, c := range o.ready[:n] {
		if b.absorb(c, o.cfg.MaxBatchEvents, o.cfg.MaxBatchBytes) {
			o.memBytes -= batchOverhead
			continue
		}
		kept = append(kept, c)
	}
	if len(kept) == n {
		return
	}
	kept = append(kept, o.ready[n:]...)
	clear(o.ready[len(kept):])
	o.ready = kept
}

// acked releases b once JetStream stored it (or it was dropped as too large).
func (o *Outbox) acked(b *batch) {
	o.mu.Lock()
	delete(o.inflight, b)
	o.memBytes -= b.size()
	b.acked = true
	o.durableLocked(b, DurableAcked)
	if b.seg != nil {
		b.seg.pending--
		o.acks = append(o.acks, ackMark{seg: b.seg, off: b.off})
	}
	if b.seg != nil || o.spoolUnread > 0 {
		signal(o.spoolCh) // a segment may be finished, or there is room to replay
	}
	o.checkDrainedLocked()
	o.mu.Unlock()
	o.m.outboxEvents.Sub(float64(b.events))
	b.release()
}

// deliver publishes b until a PubAck, re-publishing the same bytes under the
// same id after an error or an ack timeout, with backoff. It returns only nil
// or ctx's error.
func (o *Outbox) deliver(ctx context.Context, b *batch) error {
	for attempt := 0; ; attempt++ {
		if err := o.waitConnected(ctx); err != nil {
			return err
		}
		err := o.publish(ctx, b)
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, nats.ErrMaxPayload):
			return o.deliverSplit(ctx, b, err)
		}
		if ok, n := o.logs.allow("publish", 1); ok {
			o.logger.Warn("publish failed, retrying with the same batch id", "failures", n, "batch", b.id,
				"subject", b.subject, "attempt", attempt+1, "err", err)
		}
		if err := o.backoff(ctx, attempt); err != nil {
			return err
		}
	}
}

// deliverSplit handles a batch over the server's max_payload (refused by the
// client before sending, so nothing of it is stored): halves are delivered
// one after the other; a single event that large is dropped and counted.
func (o *Outbox) deliverSplit(ctx context.Context, b *batch, cause error) error {
	if b.events < 2 {
		o.drop(DropTooLarge, 1, fmt.Errorf("batch %s of %d bytes: %w", b.id, len(b.data), cause))
		return nil
	}
	b.pooled = false // the halves share its body
	first, second := b.split()
	if err := o.deliver(ctx, first); err != nil {
		return err
	}
	return o.deliver(ctx, second)
}

// publish makes one attempt, bounded by AckTimeout.
func (o *Outbox) publish(ctx context.Context, b *batch) error {
	actx, cancel := context.WithTimeout(ctx, o.cfg.AckTimeout)
	defer cancel()
	start := time.Now()
	ack, err := o.js.PublishMsg(actx, b.msg())
	if err != nil {
		o.m.batches.WithLabelValues(resultError).Inc()
		return fmt.Errorf("publish batch %s to %s: %w", b.id, b.subject, err)
	}
	o.m.batchDuration.Observe(time.Since(start).Seconds())
	result := resultOK
	if ack.Duplicate {
		result = resultDuplicate
	}
	o.m.batches.WithLabelValues(result).Inc()
	o.m.published.Add(float64(b.events))
	return nil
}

// waitConnected returns once the connection is up (publishing into the
// reconnect buffer would only pile up copies of the same batches).
func (o *Outbox) waitConnected(ctx context.Context) error {
	for !o.nc.IsConnected() {
		o.mu.Lock()
		ch := o.reconnected
		o.mu.Unlock()
		if o.nc.IsConnected() {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// backoff waits RetryMinBackoff doubled per attempt, capped at
// RetryMaxBackoff, with ±20% jitter; a reconnect ends it early.
func (o *Outbox) backoff(ctx context.Context, attempt int) error {
	d := o.cfg.RetryMaxBackoff
	if attempt < 30 {
		d = min(d, o.cfg.RetryMinBackoff<<attempt)
	}
	d = time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
	o.mu.Lock()
	ch := o.reconnected
	o.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ch:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// runConnWatch broadcasts every (re)connect to publishers waiting on it.
func (o *Outbox) runConnWatch(ctx context.Context) {
	defer o.wg.Done()
	ch := o.nc.StatusChanged(nats.CONNECTED)
	defer o.nc.RemoveStatusListener(ch)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
			o.mu.Lock()
			close(o.reconnected)
			o.reconnected = make(chan struct{})
			o.mu.Unlock()
		case <-ctx.Done():
			return
		}
	}
}

// runEnsureStream creates or updates the event stream, retrying until it
// succeeds; publishers start once it has.
func (o *Outbox) runEnsureStream(ctx context.Context) {
	defer o.wg.Done()
	for attempt := 0; ; attempt++ {
		if o.waitConnected(ctx) != nil {
			return
		}
		sctx, cancel := context.WithTimeout(ctx, o.cfg.AckTimeout)
		_, err := natsconn.EnsureEventStream(sctx, o.js, o.cfg.Stream)
		cancel()
		if err == nil {
			close(o.streamReady)
			return
		}
		if ctx.Err() != nil {
			return
		}
		if ok, n := o.logs.allow("ensure", 1); ok {
			o.logger.Error("event stream not ensured, retrying", "failures", n, "err", err)
		}
		if o.backoff(ctx, attempt) != nil {
			return
		}
	}
}
