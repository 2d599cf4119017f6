package outbox

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/invitegate/invitegate/decider"
	"github.com/invitegate/invitegate/decider/startstop"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
	"github.com/prometheus/client_golang/prometheus"
)

// ErrStopped is returned by Start after Stop (it is startstop.ErrStopped).
var ErrStopped = startstop.ErrStopped

const (
	logEvery = 10 * time.Second // at most one line per kind of trouble
	// minSpillBacklog is the least the spool writer may be behind before
	// batches are dropped (reason "spool_backlog"): a burst faster than the
	// disk is absorbed, a stuck disk is not allowed to eat all memory.
	minSpillBacklog = 8 << 20
	// spillWriteBytes wakes the spool writer; smaller amounts wait for its
	// SpoolSyncInterval tick, so small batches are coalesced into large
	// records (and replayed as large batches) instead of written one by one.
	spillWriteBytes = 1 << 20
)

type state int

const (
	stateNew state = iota
	stateRunning
	stateStopped
)

// Outbox takes events from the callback path and gets them into JetStream.
// See the package documentation for the guarantees.
type Outbox struct {
	cfg    Config
	js     jetstream.JetStream
	nc     *nats.Conn
	logger *slog.Logger
	m      *metrics
	logs   *rateLog
	epoch  time.Time // batch ages are monotonic durations since epoch

	life startstop.State // serialises Start and Stop

	mu          sync.Mutex
	state       state
	open        map[batchKey]*batch
	ready       []*batch // sealed, in memory, waiting for a publisher
	inflight    map[*batch]struct{}
	spill       []*batch // sealed, waiting to be written to the spool
	memBytes    int64    // open + ready + inflight
	spillBytes  int64
	spoolUnread int // records in the spool not loaded yet
	sp          *spool
	timer       *time.Timer
	timerArmed  bool
	busy        map[string]*batch // per subject, the sync batch dispatched and not yet durable
	held        []*batch          // sync batches whose copy waits for the spool writer
	acks        []ackMark         // spool records acknowledged, for the ack files
	drained     chan struct{}     // set by Stop; closed when nothing is pending
	reconnected chan struct{}     // closed and replaced on every (re)connect

	readyCh     chan struct{} // cap 1: ready has batches
	spoolCh     chan struct{} // cap 1: work for the spool goroutine
	streamReady chan struct{}
	cancel      func()
	wg          sync.WaitGroup
}

var scratchPool = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// New returns an Outbox publishing through js (over nc) and registering its
// metrics on reg. Nothing is published before Start.
func New(cfg Config, js jetstream.JetStream, nc *nats.Conn, logger *slog.Logger, reg prometheus.Registerer) (*Outbox, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	o := &Outbox{
		cfg: cfg, js: js, nc: nc, logger: logger, m: m,
		logs:        newRateLog(logEvery, time.Now),
		epoch:       time.Now(),
		open:        map[batchKey]*batch{},
		inflight:    map[*batch]struct{}{},
		busy:        map[string]*batch{},
		reconnected: make(chan struct{}),
		readyCh:     make(chan struct{}, 1),
		spoolCh:     make(chan struct{}, 1),
		streamReady: make(chan struct{}),
	}
	o.timer = time.AfterFunc(time.Hour, o.sealExpired)
	o.timer.Stop()
	return o, nil
}

// Enqueue adds ev to the batch of its app and kind. With DurabilityAsync it
// never blocks on NATS or on disk: it encodes the event and appends it under
// a short lock. With DurabilitySync it then waits until the batch is
// durable (see commit.go), at most DurabilityTimeout.
func (o *Outbox) Enqueue(ev decider.Event) {
	start := time.Now()
	o.m.countEnqueued(ev.Kind)
	bufp := scratchPool.Get().(*[]byte)
	defer scratchPool.Put(bufp)
	line, err := decider.AppendEvent((*bufp)[:0], &ev)
	*bufp = line[:0]
	if err != nil {
		o.drop(DropEncode, 1, err)
		o.countSyncDrop()
		return
	}
	key := batchKey{ev.App, ev.Kind}

	o.mu.Lock()
	if o.state == stateStopped {
		o.mu.Unlock()
		o.drop(DropStopped, 1, ErrStopped)
		o.countSyncDrop()
		return
	}
	b := o.open[key]
	if b != nil && len(b.data)+len(line) > o.cfg.MaxBatchBytes {
		o.sealLocked(key, b)
		b = nil
	}
	if b == nil {
		b = o.openLocked(key)
	}
	b.data = append(b.data, line...)
	b.events++
	o.memBytes += int64(len(line))
	if b.events >= o.cfg.MaxBatchEvents {
		o.sealLocked(key, b)
	}
	o.m.outboxEvents.Inc()
	var c *commit
	if b.commits != nil {
		c = b.commits[0]
		if o.busy[b.subject] == nil && o.open[key] == b {
			o.dispatchLocked(key, b)
		}
	}
	o.mu.Unlock()
	if c != nil {
		o.await(c, start)
	}
}

func (o *Outbox) openLocked(key batchKey) *batch {
	b := &batch{
		id:      nuid.Next(),
		subject: decider.EventSubject(key.app, key.kind),
		data:    newBatchData(min(o.cfg.MaxBatchBytes, 16<<10)),
		opened:  int64(time.Since(o.epoch)),
		pooled:  true,
		key:     key,
	}
	o.open[key] = b
	o.memBytes += batchOverhead
	if o.cfg.Durability == DurabilitySync {
		b.commits = []*commit{newCommit()} // sealed by dispatch, never by the timer
		return b
	}
	if !o.timerArmed {
		o.timerArmed = true
		o.timer.Reset(o.cfg.BatchDelay)
	}
	return b
}

// sealExpired seals the batches open for about BatchDelay and re-arms the
// timer for the others.
func (o *Outbox) sealExpired() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.timerArmed = false
	now := int64(time.Since(o.epoch))
	delay := int64(o.cfg.BatchDelay)
	next := int64(-1)
	for key, b := range o.open {
		if age := now - b.opened; age >= delay-delay/8 {
			o.sealLocked(key, b)
		} else if wait := delay - age; next < 0 || wait < next {
			next = wait
		}
	}
	if next >= 0 && o.state != stateStopped {
		o.timerArmed = true
		o.timer.Reset(time.Duration(next))
	}
}

// sealLocked closes b to new events and routes it: to memory while the
// spool is empty and memory has room, else to the spool writer.
func (o *Outbox) sealLocked(key batchKey, b *batch) {
	delete(o.open, key)
	spilling := len(o.spill) > 0 || o.spoolUnread > 0 ||
		(b.commits != nil && o.nc != nil && !o.nc.IsConnected()) // a sync batch is durable sooner in the spool
	if !spilling && o.memBytes <= o.cfg.MaxMemoryBytes {
		o.ready = append(o.ready, b)
		o.armFallbackLocked(b)
		signal(o.readyCh)
		return
	}
	o.memBytes -= b.size()
	b.pooled = false // the spool writer and replay hold it from here
	if o.spillBytes+b.size() > max(o.cfg.MaxMemoryBytes, minSpillBacklog) {
		o.m.outboxEvents.Sub(float64(b.events))
		o.drop(DropSpoolBacklog, b.events, fmt.Errorf("spool writer %d bytes behind", o.spillBytes))
		o.durableLocked(b, DurableDropped)
		return
	}
	o.spill = append(o.spill, b)
	o.spillBytes += b.size()
	if o.spillBytes >= spillWriteBytes || b.commits != nil {
		signal(o.spoolCh)
	}
}

func (o *Outbox) sealAllLocked() {
	for key, b := range o.open {
		o.sealLocked(key, b)
	}
}

// signal wakes the goroutine waiting on ch without ever blocking.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// drop counts events lost for reason and logs it, at most once per interval.
func (o *Outbox) drop(reason string, events int, err error) {
	o.m.dropped.WithLabelValues(reason).Add(float64(events))
	if ok, n := o.logs.allow("drop:"+reason, events); ok {
		o.logger.Error("events dropped", "reason", reason, "events", n, "err", err)
	}
}

// checkDrainedLocked closes drained (set by Stop) once nothing is pending.
func (o *Outbox) checkDrainedLocked() {
	if o.drained != nil && len(o.open) == 0 && len(o.ready) == 0 && len(o.inflight) == 0 &&
		len(o.spill) == 0 && o.spoolUnread == 0 {
		close(o.drained)
		o.drained = nil
	}
}
