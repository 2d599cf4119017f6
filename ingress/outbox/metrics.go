package outbox

import (
	"fmt"

	"github.com/invitegate/invitegate/decider"
	"github.com/prometheus/client_golang/prometheus"
)

// Reasons for invitegate_events_dropped_total.
const (
	DropSpoolFull    = "spool_full"    // the spool reached SpoolMaxBytes
	DropSpoolError   = "spool_error"   // writing the spool failed (disk error)
	DropSpoolBacklog = "spool_backlog" // the spool writer fell MaxMemoryBytes behind
	DropTooLarge     = "too_large"     // one event larger than the server's max_payload
	DropEncode       = "encode"        // the event could not be encoded as JSON
	DropStopped      = "stopped"       // enqueued after Stop
)

// Results for invitegate_publish_batches_total.
const (
	resultOK        = "ok"
	resultDuplicate = "duplicate" // PubAck said the batch id was already stored
	resultError     = "error"     // error or ack timeout; the batch is retried
)

type metrics struct {
	enqueued      *prometheus.CounterVec
	enqueuedKind  map[string]prometheus.Counter // the known kinds, resolved once
	published     prometheus.Counter
	dropped       *prometheus.CounterVec
	outboxEvents  prometheus.Gauge
	spoolBytes    prometheus.Gauge
	spoolEvents   prometheus.Gauge
	spoolCorrupt  prometheus.Counter
	batches       *prometheus.CounterVec
	batchDuration prometheus.Histogram
	durabilityVec *prometheus.CounterVec
	durability    map[string]prometheus.Counter // by result, resolved once
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		enqueued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "invitegate_events_enqueued_total", Help: "Events handed to the outbox, by kind.",
		}, []string{"kind"}),
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "invitegate_events_published_total", Help: "Events acknowledged by JetStream.",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "invitegate_events_dropped_total", Help: "Events dropped by the outbox, by reason.",
		}, []string{"reason"}),
		outboxEvents: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "invitegate_outbox_events", Help: "Unacknowledged events held in memory.",
		}),
		spoolBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "invitegate_spool_bytes", Help: "Bytes of spool segment files on disk.",
		}),
		spoolEvents: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "invitegate_spool_events", Help: "Events in the spool not yet loaded for replay.",
		}),
		spoolCorrupt: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "invitegate_spool_corrupt_records_total",
			Help: "Damaged spool records (bad checksum, bad framing, truncated tail) skipped.",
		}),
		batches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "invitegate_publish_batches_total", Help: "Batch publish attempts, by result (ok, duplicate, error).",
		}, []string{"result"}),
		batchDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "invitegate_publish_batch_duration_seconds",
			Help:    "Time from sending a batch to its PubAck, successful attempts.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		durabilityVec: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "invitegate_event_durability_total",
			Help: "Sync enqueues (callbacks waiting for their event), by how the wait ended: acked, spooled, durability_timeout, dropped.",
		}, []string{"result"}),
	}
	for _, c := range []prometheus.Collector{m.enqueued, m.published, m.dropped, m.outboxEvents,
		m.spoolBytes, m.spoolEvents, m.spoolCorrupt, m.batches, m.batchDuration, m.durabilityVec} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register outbox metrics: %w", err)
		}
	}
	m.enqueuedKind = map[string]prometheus.Counter{}
	for _, k := range []string{decider.KindInvite, decider.KindMemberJoined, decider.KindMemberExited} {
		m.enqueuedKind[k] = m.enqueued.WithLabelValues(k)
	}
	m.durability = map[string]prometheus.Counter{}
	for _, r := range []string{DurableAcked, DurableSpooled, DurableTimeout, DurableDropped} {
		m.durability[r] = m.durabilityVec.WithLabelValues(r)
	}
	for _, r := range []string{resultOK, resultDuplicate, resultError} {
		m.batches.WithLabelValues(r)
	}
	for _, r := range []string{DropSpoolFull, DropSpoolError, DropSpoolBacklog, DropTooLarge, DropEncode, DropStopped} {
		m.dropped.WithLabelValues(r)
	}
	return m, nil
}

func (m *metrics) countEnqueued(kind string) {
	if c, ok := m.enqueuedKind[kind]; ok {
		c.Inc()
		return
	}
	m.enqueued.WithLabelValues(kind).Inc()
}
