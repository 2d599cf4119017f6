package outbox

import (
	"bytes"
	"strconv"
	"sync"
	"time"

	"github.com/invitegate/invitegate/decider"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// batchOverhead is what a batch costs in memory beyond its body.
const batchOverhead = 256

// batchKey groups events: one open batch per app and kind, hence per subject.
type batchKey struct{ app, kind string }

// batch is one NATS message: NDJSON events of one subject under one id.
// Once sealed its id, subject and data never change, so every re-publish
// sends the same bytes under the same Nats-Msg-Id.
type batch struct {
	id      string
	subject string
	data    []byte
	events  int
	opened  int64    // unix nanos of the first event, for BatchDelay
	seg     *segment // the spool segment holding this batch, or nil
	off     int64    // offset of its record in seg
	sent    bool     // published at least once: id and bytes are final
	pooled  bool     // data came from batchBufs and nothing else holds it
	header  nats.Header

	// Sync durability (commit.go).
	key      batchKey    // app and kind, of a batch made by Enqueue
	commits  []*commit   // callers waiting until the batch is durable
	fallback *time.Timer // fires SpoolAfter after dispatch: spool a copy
	holding  bool        // a copy is being written to the spool
	acked    bool        // JetStream acknowledged it
	dropped  bool        // lost (spool full or failing): counted in dropped
}

// batchBufs recycles the bodies of acknowledged batches, so that a steady
// stream of batches allocates none (growing a body by appends used to be
// most of the ingress's allocation).
var batchBufs sync.Pool // of *[]byte

// newBatchData returns an empty body, recycled when one is free.
func newBatchData(capacity int) []byte {
	if p, ok := batchBufs.Get().(*[]byte); ok {
		return (*p)[:0]
	}
	return make([]byte, 0, capacity)
}

// release recycles b's body once nothing reads it any more (b acknowledged).
func (b *batch) release() {
	if !b.pooled {
		return
	}
	data := b.data[:0]
	b.data, b.pooled = nil, false
	batchBufs.Put(&data)
}

// mergeable reports whether b may still take other batches' events: never
// sent, not a spool record (whose id is on disk), and without callers
// waiting for it (a sync batch is already the group commit of its callers).
func (b *batch) mergeable() bool { return !b.sent && b.seg == nil && b.commits == nil && !b.holding }

// absorb appends c's events to b when both are mergeable, of one subject,
// and the result stays within the limits; c is then spent, and its body
// recycled.
func (b *batch) absorb(c *batch, maxEvents, maxBytes int) bool {
	if !b.mergeable() || !c.mergeable() || b.subject != c.subject ||
		b.events+c.events > maxEvents || len(b.data)+len(c.data) > maxBytes {
		return false
	}
	b.data = append(b.data, c.data...)
	b.events += c.events
	c.release()
	return true
}

// coalesce merges the mergeable batches of each subject, in order, within
// the limits; batches already sent or spooled pass unchanged. Small batches
// that queued up (publishers busy, NATS down) so travel, and are spooled,
// as few large ones.
func coalesce(batches []*batch, maxEvents, maxBytes int) []*batch {
	out := make([]*batch, 0, len(batches))
	into := map[string]*batch{}
	for _, b := range batches {
		if t := into[b.subject]; t != nil && t.absorb(b, maxEvents, maxBytes) {
			continue
		}
		if b.mergeable() {
			into[b.subject] = b
		}
		out = append(out, b)
	}
	return out
}

func (b *batch) size() int64 { return int64(len(b.data)) + batchOverhead }

// msg builds the NATS message; the header is made once per batch.
func (b *batch) msg() *nats.Msg {
	if b.header == nil {
		b.header = nats.Header{
			jetstream.MsgIDHeader:          {b.id},
			jetstream.ExpectedStreamHeader: {decider.EventStream},
			decider.HeaderSchema:           {strconv.Itoa(decider.SchemaVersion)},
			decider.HeaderCount:            {strconv.Itoa(b.events)},
			decider.HeaderContent:          {decider.ContentType},
		}
	}
	return &nats.Msg{Subject: b.subject, Data: b.data, Header: b.header}
}

// split cuts b in two at the line boundary after half its events. The
// halves get ids derived from b's (b.id+".1", b.id+".2"), so a batch split
// again after a restart gets the same ids and stays deduplicated.
func (b *batch) split() (*batch, *batch) {
	half := b.events / 2
	cut := 0
	for range half {
		cut += bytes.IndexByte(b.data[cut:], '\n') + 1
	}
	first := &batch{id: b.id + ".1", subject: b.subject, data: b.data[:cut:cut], events: half}
	second := &batch{id: b.id + ".2", subject: b.subject, data: b.data[cut:], events: b.events - half}
	return first, second
}
