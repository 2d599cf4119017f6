package policylog

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics of a Compactor or a RevisionWriter (each registers its own).
type metrics struct {
	compactions *prometheus.CounterVec // result; Compactor
	position    prometheus.Gauge       // Compactor
	revisions   *prometheus.CounterVec // applied: true|false; RevisionWriter
	errors      prometheus.Counter     // failures retried
	refused     prometheus.Counter     // compacted snapshots refused and deleted; Compactor
}

func register(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("register policylog metrics: %w", err)
		}
	}
	return nil
}

func newCompactorMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		compactions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "invitegate_policy_compactions_total",
			Help: "Writes of the compacted policy snapshots, by result (ok, error).",
		}, []string{"result"}),
		position: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "invitegate_policy_compacted_position",
			Help: "Stream sequence of INVITEGATE_POLICY that every app's compacted snapshot covers.",
		}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "invitegate_policy_compactor_errors_total",
			Help: "Times the policy compactor failed (NATS, Object Store) and started over.",
		}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "invitegate_policy_snapshots_refused_total",
			Help: "Compacted policy snapshots the compactor found refused (forged, signed under another trust, beyond the stream), deleted and wrote anew.",
		}),
	}
	return m, register(reg, m.compactions, m.position, m.errors, m.refused)
}

func newWriterMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		revisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "invitegate_policy_revisions_written_total",
			Help: "Rows written to policy_revisions, by whether the replicas apply the event (true, false).",
		}, []string{"applied"}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "invitegate_policy_revision_errors_total",
			Help: "Times the policy revision writer failed (NATS, PostgreSQL) and started over.",
		}),
	}
	return m, register(reg, m.revisions, m.errors)
}
