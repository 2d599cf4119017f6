package outbox

import (
	"context"
	"fmt"
	"time"
)

// runSpool owns the spool files while the outbox runs: it writes the
// batches that did not fit in memory (once 1 MiB is queued, or on its tick), loads spooled batches back into
// memory as room frees (replay, oldest first: new batches keep going to the
// spool until it is drained, so the order of batches is kept), deletes
// finished segments, and fsyncs on SpoolSyncInterval.
func (o *Outbox) runSpool(ctx context.Context) {
	defer o.wg.Done()
	tick := time.NewTicker(o.cfg.SpoolSyncInterval)
	defer tick.Stop()
	for {
		o.writeSpill()
		o.writeHeld()
		o.writeAcks()
		o.replay()
		o.removeFinished()
		select {
		case <-o.spoolCh:
		case <-tick.C:
			if err := o.sp.sync(); err != nil {
				o.logger.Error("spool fsync failed", "err", err)
			}
		case <-ctx.Done():
			return
		}
	}
}

// writeSpill writes the queued spill batches, in order, then unqueues them.
func (o *Outbox) writeSpill() {
	o.mu.Lock()
	batches := o.spill[:len(o.spill):len(o.spill)]
	o.mu.Unlock()
	if len(batches) == 0 {
		return
	}
	var size int64
	for _, b := range batches {
		size += b.size()
	}
	o.spoolBatches(o.sp, coalesce(batches, o.cfg.MaxBatchEvents, o.cfg.MaxBatchBytes))
	waited := false
	for _, b := range batches {
		waited = waited || b.commits != nil
	}
	var err error
	if waited { // callers wait for these: fsync now, once for all of them
		if err = o.sp.sync(); err != nil {
			o.logger.Error("spool fsync failed", "err", err)
		}
	}
	o.mu.Lock()
	o.spill = o.spill[len(batches):]
	o.spillBytes -= size
	if waited {
		o.releaseSpooledLocked(batches, err)
	}
	o.checkDrainedLocked() // everything may have been dropped
	o.mu.Unlock()
}

// releaseSpooledLocked releases the callers of batches written to the
// spool (or dropped); after a failed fsync they wait for the bound.
func (o *Outbox) releaseSpooledLocked(batches []*batch, syncErr error) {
	for _, b := range batches {
		switch {
		case b.dropped:
			o.durableLocked(b, DurableDropped)
		case syncErr == nil:
			o.durableLocked(b, DurableSpooled)
		}
	}
}

// writeAcks appends the acknowledgement marks queued by the publishers to
// the segments' ack files.
func (o *Outbox) writeAcks() {
	o.mu.Lock()
	marks := o.acks
	o.acks = nil
	o.mu.Unlock()
	if len(marks) == 0 {
		return
	}
	if err := o.sp.markAcked(marks); err != nil {
		o.logger.Error("spool acknowledgements not written; those records will be published again at the next start", "err", err)
	}
}

// spoolBatches writes batches as records of sp, coalescing them into few
// writes. A batch that would take the spool past SpoolMaxBytes is dropped,
// and so are the batches of a failed write; every batch leaves the outbox's
// memory gauge.
func (o *Outbox) spoolBatches(sp *spool, batches []*batch) {
	var (
		buf     []byte
		refs    []recordRef
		written []*batch
		events  int
	)
	flush := func() {
		if len(refs) == 0 {
			return
		}
		_, _, err := sp.write(buf, refs)
		o.m.spoolBytes.Set(float64(sp.bytes))
		if err != nil {
			o.drop(DropSpoolError, events, err)
			for _, b := range written {
				b.dropped = true
			}
		} else {
			o.mu.Lock()
			o.spoolUnread += len(refs)
			o.mu.Unlock()
			o.m.spoolEvents.Add(float64(events))
		}
		buf, refs, written, events = buf[:0], refs[:0], written[:0], 0
	}
	for _, b := range batches {
		o.m.outboxEvents.Sub(float64(b.events))
		start := len(buf)
		buf = appendRecord(buf, b)
		if sp.bytes+int64(len(buf)) > o.cfg.SpoolMaxBytes {
			buf = buf[:start]
			b.dropped = true
			o.drop(DropSpoolFull, b.events, fmt.Errorf("spool %d of %d bytes used", sp.bytes+int64(start), o.cfg.SpoolMaxBytes))
			continue
		}
		written = append(written, b)
		refs = append(refs, recordRef{off: int64(start), size: len(buf) - start, events: b.events})
		events += b.events
		if int64(len(buf)) >= sp.room() {
			flush()
		}
	}
	flush()
}

// replay loads spooled batches into memory while there is room.
func (o *Outbox) replay() {
	for {
		o.mu.Lock()
		room := o.spoolUnread > 0 && o.memBytes < o.cfg.MaxMemoryBytes
		o.mu.Unlock()
		if !room {
			return
		}
		seg := o.sp.nextUnread()
		if seg == nil { // counters and segments disagree: resynchronise
			o.mu.Lock()
			o.spoolUnread = 0
			o.mu.Unlock()
			return
		}
		ref := seg.refs[seg.next]
		b, err := o.sp.read(seg, ref)
		o.mu.Lock()
		seg.next++
		o.spoolUnread--
		if err == nil {
			b.off = ref.off
			seg.pending++
			o.memBytes += b.size()
			o.ready = append(o.ready, b)
			signal(o.readyCh)
		}
		o.checkDrainedLocked()
		o.mu.Unlock()
		o.m.spoolEvents.Sub(float64(ref.events))
		if err != nil {
			o.reportCorrupt(seg.path, corruption{off: ref.off, err: err})
		} else {
			o.m.outboxEvents.Add(float64(b.events))
		}
		o.sp.doneReading(seg)
	}
}

// nextUnread returns the oldest segment with a record not loaded yet,
// passing over the records written from batches in memory.
func (sp *spool) nextUnread() *segment {
	for _, seg := range sp.segs {
		for seg.next < len(seg.refs) && seg.refs[seg.next].held {
			seg.next++
		}
		if seg.next < len(seg.refs) {
			return seg
		}
	}
	return nil
}

// removeFinished deletes the segments whose records are all acknowledged.
func (o *Outbox) removeFinished() {
	o.mu.Lock()
	done := finishedSegments(o.sp)
	o.mu.Unlock()
	for _, seg := range done {
		if err := o.sp.remove(seg); err != nil {
			o.logger.Error("spool segment not removed", "path", seg.path, "err", err)
		}
	}
	if len(done) > 0 {
		o.m.spoolBytes.Set(float64(o.sp.bytes))
	}
}

func finishedSegments(sp *spool) []*segment {
	var done []*segment
	for _, seg := range sp.segs {
		if seg.finished() {
			done = append(done, seg)
		}
	}
	return done
}

// reportCorrupt counts and logs a damaged stretch of the spool; the records
// around it are kept.
func (o *Outbox) reportCorrupt(path string, c corruption) {
	o.m.spoolCorrupt.Inc()
	o.logger.Error("corrupt spool record skipped", "path", path, "offset", c.off, "err", c.err)
}
