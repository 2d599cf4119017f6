package statsfeed

import (
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	messages *prometheus.CounterVec
	expired  prometheus.Counter
	updates  *prometheus.CounterVec // dropped updates by reason

	mu          sync.Mutex
	droppedSeen int
}

func newMetrics(reg prometheus.Registerer, table *Table) (*metrics, error) {
	m := &metrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "invitegate_stats_messages_total",
			Help: "Stats update messages received by the ingress, by result (applied, bad, oversized, dropped).",
		}, []string{"result"}),
		updates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "invitegate_stats_updates_dropped_total",
			Help: "Stats updates the ingress did not keep, by reason (other_app: for another SdkAppID; max_keys: a new key while the table held --stats-max-keys).",
		}, []string{"reason"}),
		expired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "invitegate_stats_expired_keys_total",
			Help: "Stats keys removed from the ingress table after their TTL without an update.",
		}),
	}
	keys := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "invitegate_stats_keys",
		Help: "Keys (operator, member, group) in the ingress stats table.",
	}, func() float64 { return float64(table.Keys()) })
	for _, r := range []string{"applied", "bad", "oversized", "dropped"} {
		m.messages.WithLabelValues(r)
	}
	for _, r := range []string{reasonOtherApp, reasonMaxKeys} {
		m.updates.WithLabelValues(r)
	}
	for _, c := range []prometheus.Collector{m.messages, m.expired, m.updates, keys} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register stats metrics: %w", err)
		}
	}
	return m, nil
}

// dropped records NATS's running count of messages dropped for the
// subscription.
// Reasons of invitegate_stats_updates_dropped_total.
const (
	reasonOtherApp = "other_app"
	reasonMaxKeys  = "max_keys"
)

func (m *metrics) dropped(total int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if total > m.droppedSeen {
		m.messages.WithLabelValues("dropped").Add(float64(total - m.droppedSeen))
		m.droppedSeen = total
	}
}
