package outbox

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Start opens the spool (counting what an earlier run left there, which is
// replayed first) and starts the goroutines that ensure the stream, publish
// and spool. It does not wait for NATS.
func (o *Outbox) Start(ctx context.Context) error {
	return o.life.Start(func() error { return o.start(ctx) })
}

func (o *Outbox) start(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("start outbox: %w", err)
	}
	if o.js == nil || o.nc == nil {
		return errors.New("start outbox: no NATS connection or JetStream context")
	}
	sp, err := openSpool(o.cfg.spoolDir(), o.cfg.SpoolSegmentBytes, o.reportCorrupt)
	if err != nil {
		return fmt.Errorf("start outbox: %w", err)
	}
	records, events := 0, 0
	for _, seg := range sp.segs {
		records += len(seg.refs)
		events += seg.unreadEvents()
	}
	if records > 0 {
		o.logger.Info("replaying spool", "dir", sp.dir, "segments", len(sp.segs), "batches", records, "events", events)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	o.mu.Lock()
	o.sp, o.spoolUnread, o.state, o.cancel = sp, records, stateRunning, cancel
	o.mu.Unlock()
	o.m.spoolBytes.Set(float64(sp.bytes))
	o.m.spoolEvents.Set(float64(events))

	o.wg.Add(3 + o.cfg.MaxInFlight)
	go o.runEnsureStream(runCtx)
	go o.runConnWatch(runCtx)
	go o.runSpool(runCtx)
	for range o.cfg.MaxInFlight {
		go o.runPublisher(runCtx)
	}
	signal(o.spoolCh)
	return nil
}

// Stop seals the open batches, waits (at most FlushTimeout, or until ctx
// ends) for what is in memory to be acknowledged while NATS is connected,
// then stops the goroutines and writes every unacknowledged batch to the
// spool, for the next Start. Events enqueued after Stop are dropped and
// counted (reason "stopped"). Stop is idempotent and may precede Start.
func (o *Outbox) Stop(ctx context.Context) error {
	return o.life.StopAny(func(bool) error { return o.stop(ctx) })
}

func (o *Outbox) stop(ctx context.Context) error {
	o.mu.Lock()
	st := o.state
	if st == stateRunning {
		o.sealAllLocked()
		signal(o.spoolCh) // write what waits for the spool now, not on the next tick
		o.drained = make(chan struct{})
		o.checkDrainedLocked()
	}
	drained := o.drained
	o.mu.Unlock()
	if st == stateRunning {
		o.flush(ctx, drained)
		o.cancel()
		o.wg.Wait()
	}

	o.mu.Lock()
	o.state = stateStopped
	o.timer.Stop()
	for key, b := range o.open { // to the spool whatever the backlog
		delete(o.open, key)
		o.ready = append(o.ready, b)
	}
	pending := coalesce(o.unspooledLocked(), o.cfg.MaxBatchEvents, o.cfg.MaxBatchBytes)
	acks := o.acks
	o.ready, o.spill, o.inflight, o.drained, o.held, o.acks = nil, nil, map[*batch]struct{}{}, nil, nil, nil
	o.memBytes, o.spillBytes = 0, 0
	sp := o.sp
	o.mu.Unlock()
	if sp != nil {
		if err := sp.markAcked(acks); err != nil {
			o.logger.Error("spool acknowledgements not written; those records will be published again at the next start", "err", err)
		}
	}
	err := o.spoolRest(sp, pending)
	o.mu.Lock()
	o.releaseSpooledLocked(pending, nil) // written and fsynced by spoolRest, or dropped
	o.mu.Unlock()
	return err
}

// flush waits for drained, the flush timeout or ctx, giving up at once when
// NATS is not connected (nothing can be acknowledged then).
func (o *Outbox) flush(ctx context.Context, drained chan struct{}) {
	if drained == nil || !o.nc.IsConnected() {
		return
	}
	timer := time.NewTimer(o.cfg.FlushTimeout)
	defer timer.Stop()
	select {
	case <-drained:
	case <-timer.C:
		o.logger.Warn("outbox flush timed out, spooling the rest", "timeout", o.cfg.FlushTimeout)
	case <-ctx.Done():
		o.logger.Warn("outbox flush cut short, spooling the rest", "err", ctx.Err())
	}
}

// unspooledLocked returns the unacknowledged batches not already in a spool
// segment (those stay where they are).
func (o *Outbox) unspooledLocked() []*batch {
	var out []*batch
	for _, list := range [][]*batch{o.spill, o.ready} {
		for _, b := range list {
			if b.seg == nil {
				out = append(out, b)
			}
		}
	}
	for b := range o.inflight {
		if b.seg == nil {
			out = append(out, b)
		}
	}
	return out
}

// spoolRest writes pending to the spool (opening it if Start never ran),
// removes finished segments and closes the files.
func (o *Outbox) spoolRest(sp *spool, pending []*batch) error {
	if sp == nil {
		if len(pending) == 0 {
			return nil
		}
		var err error
		if sp, err = openSpool(o.cfg.spoolDir(), o.cfg.SpoolSegmentBytes, o.reportCorrupt); err != nil {
			events := 0
			for _, b := range pending {
				events += b.events
			}
			o.drop(DropSpoolError, events, err)
			for _, b := range pending {
				b.dropped = true
			}
			return fmt.Errorf("stop outbox: %w", err)
		}
	}
	o.spoolBatches(sp, pending)
	events := 0
	for _, b := range pending {
		events += b.events
	}
	if events > 0 {
		o.logger.Info("outbox stopped, unacknowledged events spooled", "batches", len(pending), "events", events)
	}
	var errs []error
	for _, seg := range finishedSegments(sp) {
		errs = append(errs, sp.remove(seg))
	}
	errs = append(errs, sp.close())
	o.m.spoolBytes.Set(float64(sp.bytes))
	o.m.outboxEvents.Set(0)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("stop outbox: %w", err)
	}
	return nil
}
