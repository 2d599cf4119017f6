package policyfeed

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/invitegate/invitegate/decider"
)

// metrics of a Follower. invitegate_policy_revision and
// invitegate_policy_loaded are the ingress's (they read the engine).
type metrics struct {
	applied      *prometheus.CounterVec // kind
	rejected     *prometheus.CounterVec // reason
	saves        *prometheus.CounterVec // result
	followErrors prometheus.Counter
	snapErrors   *prometheus.CounterVec // source
	lag          prometheus.Histogram
	statusWrites *prometheus.CounterVec // result
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		applied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "invitegate_policy_events_applied_total",
			Help: "Policy log events applied to this replica's policy, by kind.",
		}, []string{"kind"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "invitegate_policy_events_rejected_total",
			Help: "Policy log events not applied, by reason (malformed, invalid_policy, unknown_list, no_policy; with --policy-trust unsigned, bad_signature, untrusted_key; republished); the last good policy stays.",
		}, []string{"reason"}),
		saves: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "invitegate_policy_snapshot_saves_total",
			Help: "Writes of the last good policy snapshot to local disk, by result (ok, error).",
		}, []string{"result"}),
		followErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "invitegate_policy_follow_errors_total",
			Help: "Times following the policy log failed (NATS unreachable, stream errors) and was retried.",
		}),
		snapErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "invitegate_policy_snapshot_load_errors_total",
			Help: "Policy snapshots that could not be read or were refused, by source (disk, compacted); the replica follows the log without them.",
		}, []string{"source"}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "invitegate_policy_apply_lag_seconds",
			Help:    "From the policy event being stored by JetStream to this replica deciding with it (live events).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}),
		statusWrites: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "invitegate_policy_status_writes_total",
			Help: "Writes of this replica's status (its policy revision) to the status bucket, by result (ok, error, superseded: the status changed before the write was answered and the newest was written instead).",
		}, []string{"result"}),
	}
	// Every series at zero, so that alerts and dashboards see them before
	// the first rejection or unreadable snapshot.
	for _, reason := range []string{decider.RejectMalformed, decider.RejectInvalidPolicy, decider.RejectUnknownList,
		decider.RejectNoPolicy, decider.RejectUnsigned, decider.RejectBadSignature, decider.RejectUntrustedKey, decider.RejectRepublished} {
		m.rejected.WithLabelValues(reason)
	}
	for _, source := range []string{"disk", "compacted"} {
		m.snapErrors.WithLabelValues(source)
	}
	for _, result := range []string{"ok", "error", "superseded"} {
		m.statusWrites.WithLabelValues(result)
	}
	for _, c := range []prometheus.Collector{m.applied, m.rejected, m.saves, m.followErrors, m.snapErrors, m.lag, m.statusWrites} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register policyfeed metrics: %w", err)
		}
	}
	return m, nil
}
