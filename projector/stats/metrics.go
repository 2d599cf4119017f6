package stats

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	events   prometheus.Counter
	badLines prometheus.Counter
	updates  prometheus.Counter
	messages *prometheus.CounterVec

	duplicates prometheus.Counter
	unchecked  prometheus.Counter

	evicted     *prometheus.CounterVec
	storeErrors *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, a *Aggregator) (*metrics, error) {
	m := &metrics{
		events: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "invitegate_stats_aggregated_events_total",
			Help: "Events counted into the stats windows (a rebuild counts them again).",
		}),
		badLines: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "invitegate_stats_bad_lines_total",
			Help: "Batch lines the stats aggregator could not decode (the projector dead-letters them).",
		}),
		updates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "invitegate_stats_updates_published_total",
			Help: "Statistic values published to the ingress replicas.",
		}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "invitegate_stats_publish_messages_total",
			Help: "Stats messages published, by result (ok, error).",
		}, []string{"result"}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "invitegate_stats_duplicate_events_total",
			Help: "Copies of events already counted (same event id, stored again past the stream's duplicate window), skipped.",
		}),
		unchecked: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "invitegate_stats_dedup_unchecked_events_total",
			Help: "Events older than the ids remembered (--stats-dedup-window, --stats-dedup-max-ids), counted without a duplicate check.",
		}),
		evicted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "invitegate_stats_evicted_keys_total",
			Help: "Keys forgotten before they went idle because the aggregator held more than --stats-max-keys, by subject (operator, member, group).",
		}, []string{"subject"}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "invitegate_stats_store_errors_total",
			Help: "Failed PostgreSQL writes and reads of the aggregator, by operation (load and save: group sizes, retried every flush; top: the top counters, retried every --stats-top-interval).",
		}, []string{"op"}),
	}
	collectors := []prometheus.Collector{m.events, m.badLines, m.updates, m.messages, m.evicted, m.storeErrors,
		m.duplicates, m.unchecked, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "invitegate_stats_dedup_ids",
			Help: "Event ids the aggregator remembers to skip copies.",
		}, func() float64 {
			a.mu.Lock()
			defer a.mu.Unlock()
			return float64(a.seen.ids())
		})}
	for subj, name := range subjectNames {
		collectors = append(collectors, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "invitegate_stats_aggregator_keys",
			Help:        "Keys (operators, members, groups) held in the aggregator's memory, by subject.",
			ConstLabels: prometheus.Labels{"subject": name},
		}, func() float64 {
			a.mu.Lock()
			defer a.mu.Unlock()
			return float64(len(a.counters.subj[subj]))
		}))
	}
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register stats aggregator metrics: %w", err)
		}
	}
	return m, nil
}
