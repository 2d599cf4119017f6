package outbox

import (
	"fmt"
	"time"
)

// Sync durability: group commit.
//
// With DurabilitySync every callback's Enqueue waits on the commit of the
// open batch of its subject. A subject has at most one sync batch
// dispatched and not yet durable (busy): when none is, Enqueue seals its
// batch at once and hands it to a publisher, so a lone callback waits for
// one PubAck and no timer; while one is, the next batch collects every
// callback that arrives, and is dispatched the moment the first becomes
// durable. One publish, one PubAck and one server fsync so cover all the
// callbacks that arrived during the previous one.
//
// A dispatched batch becomes durable when JetStream acknowledges it
// (result "acked"), or when SpoolAfter passes without a PubAck and a copy
// of it is written and fsynced to the spool (result "spooled"; the publish
// goes on, and the copy is marked acknowledged once its PubAck comes, so a
// restart does not publish it again). While NATS is disconnected a sync
// batch goes straight to the spool. Callers wait at most DurabilityTimeout.

// Results for invitegate_event_durability_total.
const (
	DurableAcked   = "acked"              // JetStream acknowledged the batch
	DurableSpooled = "spooled"            // fsynced to the spool
	DurableTimeout = "durability_timeout" // answered before durable: the bound passed
	DurableDropped = "dropped"            // lost; counted in events_dropped_total
)

// commit is what the callers of one sync batch wait on.
type commit struct {
	done   chan struct{} // closed once result is set
	result string
}

// newCommit is the commit of a batch opened by a sync Enqueue.
func newCommit() *commit { return &commit{done: make(chan struct{})} }

// await waits until c is done or DurabilityTimeout passes, and counts the
// result.
func (o *Outbox) await(c *commit, start time.Time) {
	wait := o.cfg.DurabilityTimeout - time.Since(start)
	if wait > 0 {
		select {
		case <-c.done:
			o.m.durability[c.result].Inc()
			return
		default:
		}
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-c.done:
			o.m.durability[c.result].Inc()
			return
		case <-t.C:
		}
	}
	o.m.durability[DurableTimeout].Inc()
	if ok, n := o.logs.allow("durability", 1); ok {
		o.logger.Error("callbacks answered before their event was durable", "callbacks", n,
			"timeout", o.cfg.DurabilityTimeout)
	}
}

// countSyncDrop counts a sync Enqueue that returns because its event was
// dropped before reaching a batch (encoding failed, or after Stop).
func (o *Outbox) countSyncDrop() {
	if o.cfg.Durability == DurabilitySync {
		o.m.durability[DurableDropped].Inc()
	}
}

// dispatchLocked seals the sync batch b of key and makes it its subject's
// busy batch.
func (o *Outbox) dispatchLocked(key batchKey, b *batch) {
	o.busy[b.subject] = b
	o.sealLocked(key, b)
}

// durableLocked releases b's callers with result; if b was its subject's
// busy batch, the batch that collected meanwhile is dispatched.
func (o *Outbox) durableLocked(b *batch, result string) {
	if b.fallback != nil {
		b.fallback.Stop()
		b.fallback = nil
	}
	for _, c := range b.commits {
		c.result = result
		close(c.done)
	}
	b.commits = nil
	if o.busy[b.subject] != b {
		return
	}
	delete(o.busy, b.subject)
	if next := o.open[b.key]; next != nil && next.commits != nil && o.state != stateStopped {
		o.dispatchLocked(b.key, next)
	}
}

// armFallbackLocked makes b's copy go to the spool if no PubAck releases
// its callers within SpoolAfter.
func (o *Outbox) armFallbackLocked(b *batch) {
	if b.commits != nil && b.fallback == nil {
		b.fallback = time.AfterFunc(o.cfg.SpoolAfter, func() { o.hold(b) })
	}
}

// hold queues a copy of b, still waiting for its PubAck, for the spool.
func (o *Outbox) hold(b *batch) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if b.commits == nil || b.holding || b.seg != nil || o.state != stateRunning {
		return
	}
	b.holding = true
	b.pooled = false // the spool goroutine reads the body while a publisher may ack it
	o.held = append(o.held, b)
	signal(o.spoolCh)
}

// writeHeld writes the copies of the batches held back for want of a
// PubAck to the spool as records already in memory (replay skips them in
// this run), fsyncs them and releases their callers.
func (o *Outbox) writeHeld() {
	o.mu.Lock()
	batches := o.held
	o.held = nil
	o.mu.Unlock()
	if len(batches) == 0 {
		return
	}
	var (
		buf  []byte
		refs []recordRef
	)
	for _, b := range batches {
		start := len(buf)
		buf = appendRecord(buf, b)
		refs = append(refs, recordRef{off: int64(start), size: len(buf) - start, events: b.events, held: true})
	}
	err := o.spoolFits(int64(len(buf)))
	var seg *segment
	var base int64
	if err == nil {
		seg, base, err = o.sp.write(buf, refs)
	}
	if err == nil {
		err = o.sp.sync()
	}
	o.m.spoolBytes.Set(float64(o.sp.bytes))
	o.mu.Lock()
	defer o.mu.Unlock()
	for i, b := range batches {
		b.holding = false
		if err != nil {
			continue // still published; its callers wait for the PubAck or the bound
		}
		off := base + refs[i].off
		if b.acked { // acknowledged while written: the copy is done already
			o.acks = append(o.acks, ackMark{seg: seg, off: off})
			continue
		}
		b.seg, b.off = seg, off
		seg.pending++
		o.durableLocked(b, DurableSpooled)
	}
	if err != nil {
		if ok, n := o.logs.allow("hold", len(batches)); ok {
			o.logger.Error("sync batches not spooled; their callers wait for the PubAck", "batches", n, "err", err)
		}
	}
}

// spoolFits reports whether n more bytes fit in SpoolMaxBytes.
func (o *Outbox) spoolFits(n int64) error {
	if o.sp.bytes+n > o.cfg.SpoolMaxBytes {
		return fmt.Errorf("spool %d of %d bytes used", o.sp.bytes, o.cfg.SpoolMaxBytes)
	}
	return nil
}
