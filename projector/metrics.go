package projector

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Batch results: the result label of invitegate_projector_batches_total.
const (
	resultOK        = "ok"         // committed
	resultRetry     = "retry"      // a transient database error; the batch is retried in-process
	resultDataError = "data_error" // PostgreSQL refused the data; the batch is bisected
)

type metrics struct {
	events      *prometheus.CounterVec
	batches     *prometheus.CounterVec
	duration    prometheus.Histogram
	lag         prometheus.Gauge
	pending     prometheus.Gauge
	deadLetters *prometheus.CounterVec
	duplicates  prometheus.Counter

	partitionsDropped prometheus.Counter
	partitionErrors   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "invitegate_projector_events_total",
			Help: "Events newly stored in PostgreSQL, by kind (duplicates excluded).",
		}, []string{"kind"}),
		batches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "invitegate_projector_batches_total",
			Help: "Batch write attempts by result: ok, retry (transient database error), data_error (bisected).",
		}, []string{"result"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "invitegate_projector_batch_duration_seconds",
			Help:    "Time to store one batch, retries included, until commit.",
			Buckets: prometheus.ExponentialBuckets(0.002, 2, 14),
		}),
		lag: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "invitegate_projector_lag_seconds",
			Help: "Age (from received_at) of the newest event of the last committed batch; 0 when caught up.",
		}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "invitegate_projector_pending_messages",
			Help: "Messages of the stream not yet acknowledged by the consumer (undelivered plus in flight).",
		}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "invitegate_projector_dead_letters_total",
			Help: "Lines or messages moved to dead_letters for good, by reason (decode, store).",
		}, []string{"reason"}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "invitegate_projector_duplicates_total",
			Help: "Events skipped because their id was already stored.",
		}),
		partitionsDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "invitegate_projector_partitions_dropped_total",
			Help: "Partitions of the event tables dropped past --retention.",
		}),
		partitionErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "invitegate_projector_partition_errors_total",
			Help: "Failed partition maintenance passes, by op: create (partitions ahead), drop (retention).",
		}, []string{"op"}),
	}
	for _, c := range []prometheus.Collector{m.events, m.batches, m.duration, m.lag, m.pending, m.deadLetters, m.duplicates,
		m.partitionsDropped, m.partitionErrors} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register projector metrics: %w", err)
		}
	}
	for _, op := range []string{"create", "drop"} {
		m.partitionErrors.WithLabelValues(op)
	}
	for _, r := range []string{ReasonDecode, ReasonStore} {
		m.deadLetters.WithLabelValues(r) // at zero, so that alerts see the first increase
	}
	return m, nil
}
