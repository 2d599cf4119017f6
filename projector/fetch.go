package projector

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/invitegate/invitegate/decider"
)

// fetchMaxBytes bounds the bytes of the messages the iterator buffers ahead
// of the batches. nats.go drops what a subscription receives beyond 64 MiB
// pending (a "slow consumer" error) and the server redelivers the dropped
// messages only after AckWait: pulling BatchSize messages of 256 events
// (~125 KB each) buffered ~125 MB and stalled a drain for AckWait at a
// time. 32 MiB holds many batches, stays well under that limit, and exceeds
// any message NATS is advised to carry (max_payload up to 8 MiB); a single
// message larger than it could not be fetched at all.
const fetchMaxBytes = 32 << 20

// fetchLoop groups messages into batches of up to BatchSize events (or what
// arrived within BatchWait of a batch's first message) and hands them to the
// writers. It owns the message iterator and closes w.batches when done.
func (w *Worker) fetchLoop(ctx context.Context) {
	defer close(w.batches)
	if w.dbReady != nil {
		select {
		case <-w.dbReady:
		case <-ctx.Done():
			return
		}
	}
	delay := w.cfg.RetryMin
	for ctx.Err() == nil {
		iter, err := (*w.consumer.Load()).Messages(jetstream.PullMaxBytes(fetchMaxBytes))
		if err == nil {
			delay = w.cfg.RetryMin
			err = w.fetchFrom(ctx, iter)
			drainAndNak(iter)
		}
		if ctx.Err() != nil {
			return
		}
		w.logger.Error("fetch from consumer failed; retrying", "consumer", w.cfg.Consumer, "delay", delay, "err", err)
		if !sleep(ctx, delay) {
			return
		}
		delay = min(2*delay, w.cfg.RetryMax)
		if c, cerr := w.js.CreateOrUpdateConsumer(ctx, w.cfg.Stream, w.consumerConfig()); cerr == nil {
			w.consumer.Store(&c) // the consumer may have been deleted
		}
	}
}

// fetchFrom batches messages from iter until ctx ends or iter fails.
func (w *Worker) fetchFrom(ctx context.Context, iter jetstream.MessagesContext) error {
	for {
		batch, err := w.nextBatch(ctx, iter)
		if len(batch) > 0 && !w.handOff(ctx, batch) {
			nakAll(batch)
		}
		if err != nil {
			return err
		}
	}
}

// nextBatch waits for a first message, then collects more until the batch
// holds BatchSize events or BatchWait has passed.
func (w *Worker) nextBatch(ctx context.Context, iter jetstream.MessagesContext) ([]jetstream.Msg, error) {
	msg, err := iter.Next(jetstream.NextContext(ctx))
	if err != nil {
		return nil, err
	}
	batch, events := []jetstream.Msg{msg}, lineCount(msg)
	fill, cancel := context.WithTimeout(ctx, w.cfg.BatchWait)
	defer cancel()
	for events < w.cfg.BatchSize {
		msg, err := iter.Next(jetstream.NextContext(fill))
		if err != nil {
			if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
				err = nil // BatchWait is over
			}
			return batch, err
		}
		batch, events = append(batch, msg), events+lineCount(msg)
	}
	return batch, nil
}

// handOff gives batch to a free writer, keeping its messages alive while
// all writers are busy (for instance retrying through a database outage).
func (w *Worker) handOff(ctx context.Context, batch []jetstream.Msg) bool {
	tick := time.NewTicker(w.cfg.AckWait / 3)
	defer tick.Stop()
	for {
		select {
		case w.batches <- batch:
			return true
		case <-tick.C:
			for _, m := range batch {
				_ = m.InProgress()
			}
		case <-ctx.Done():
			return false
		}
	}
}

// lineCount is the number of events in msg: its Invitegate-Events header,
// or else its number of lines.
func lineCount(msg jetstream.Msg) int {
	if n, err := strconv.Atoi(msg.Headers().Get(decider.HeaderCount)); err == nil && n > 0 {
		return n
	}
	return bytes.Count(msg.Data(), []byte{'\n'}) + 1
}

// drainAndNak stops iter and gives the messages it had buffered back to the
// server at once, rather than after AckWait.
func drainAndNak(iter jetstream.MessagesContext) {
	iter.Drain()
	for {
		msg, err := iter.Next()
		if err != nil {
			return
		}
		_ = msg.Nak()
	}
}

func nakAll(msgs []jetstream.Msg) {
	for _, m := range msgs {
		_ = m.Nak()
	}
}

// pollPending refreshes the pending gauge from the consumer's info.
func (w *Worker) pollPending(ctx context.Context) {
	tick := time.NewTicker(w.cfg.PendingInterval)
	defer tick.Stop()
	for {
		info, err := (*w.consumer.Load()).Info(ctx)
		if err == nil {
			pending := info.NumPending + uint64(info.NumAckPending)
			w.m.pending.Set(float64(pending))
			if pending == 0 {
				w.m.lag.Set(0)
			}
		} else if ctx.Err() == nil {
			w.logger.Debug("consumer info failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
