package ingress

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/invitegate/invitegate/decider"
)

// Outcomes label invitegate_callbacks_total besides the decision outcomes
// allow, partial and reject.
const (
	outcomeOK    = "ok"    // answered OK/0 without a decision (other commands, membership)
	outcomeError = "error" // answered with an error status
)

// Command labels: the handled commands by name, everything else folded so
// that no input can grow the metric's cardinality.
const (
	commandOther   = "other"
	commandMissing = "none"
)

// metrics are the ingress's Prometheus collectors. Series with fixed labels
// are resolved once, so that the hot path does no label lookup.
type metrics struct {
	callbacks     *prometheus.CounterVec
	callbackDur   prometheus.Histogram
	decisionDur   prometheus.Histogram
	errors        *prometheus.CounterVec
	ruleMatches   *prometheus.CounterVec
	ruleErrors    *prometheus.CounterVec
	failMode      *prometheus.CounterVec
	limits        *prometheus.CounterVec
	connsReached  prometheus.Counter
	connsOpen     prometheus.Gauge
	engine        *decider.Engine
	errorByReason map[string]prometheus.Counter
	callbackBy    [len(commandLabels)][len(outcomeLabels)]prometheus.Counter
	// seenRevision is the last policy revision whose rules have their
	// series created (so that dashboards and alerts see a rule at 0 before
	// its first match or error).
	seenRevision atomic.Uint64
	rulesMu      sync.Mutex
	ruleModes    map[string]string // the rules whose series exist, with their mode
}

var (
	commandLabels = [...]string{decider.CommandBeforeInviteJoinGroup, decider.CommandAfterNewMemberJoin,
		decider.CommandAfterMemberExit, commandOther, commandMissing}
	outcomeLabels = [...]string{string(decider.OutcomeAllow), string(decider.OutcomePartial),
		string(decider.OutcomeReject), outcomeOK, outcomeError}
)

func newMetrics(reg prometheus.Registerer, engine *decider.Engine) (*metrics, error) {
	m := &metrics{
		engine: engine,
		callbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "invitegate_callbacks_total",
			Help: "Callbacks answered, by command and outcome (allow, partial, reject, ok, error).",
		}, []string{"command", "outcome"}),
		callbackDur: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "invitegate_callback_duration_seconds",
			Help:    "Time to handle a callback, from its first byte read by the handler to the answer.",
			Buckets: []float64{10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1, 2},
		}),
		decisionDur: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "invitegate_decision_duration_seconds",
			Help:    "Time to evaluate the policy for one invite callback.",
			Buckets: []float64{1e-6, 2.5e-6, 5e-6, 10e-6, 20e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 10e-3, 100e-3},
		}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "invitegate_callback_errors_total",
			Help: "Callback errors by reason; membership_* reasons were still answered OK.",
		}, []string{"reason"}),
		ruleMatches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "invitegate_rule_matches_total",
			Help: "Rule matches by rule and mode (enforce, shadow): one per request for reject rules, one per matched member for refuse_member rules.",
		}, []string{"rule", "mode"}),
		ruleErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "invitegate_rule_errors_total",
			Help: "Rule evaluations that errored (the rule counted as not matched), by rule.",
		}, []string{"rule"}),
		failMode: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "invitegate_fail_mode_decisions_total",
			Help: "Invite callbacks decided by the fail mode (open, closed): no policy was loaded, or a bound was hit (see invitegate_limited_callbacks_total).",
		}, []string{"mode"}),
		connsReached: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "invitegate_connections_limit_reached_total",
			Help: "Times the callback listener had --max-connections open and made a new connection wait.",
		}),
		connsOpen: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "invitegate_connections_open",
			Help: "Open connections of the callback listener.",
		}),
		limits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "invitegate_limited_callbacks_total",
			Help: "Callbacks past a bound (max_members: more members than --max-members; decision_timeout: a decision past --decision-timeout), by limit. Invites are then decided by the fail mode; membership callbacks are recorded with the first --max-members members.",
		}, []string{"limit"}),
		errorByReason: map[string]prometheus.Counter{},
	}
	revision := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "invitegate_policy_revision",
		Help: "Revision of the loaded policy snapshot; 0 when none is loaded.",
	}, func() float64 {
		if s := engine.Snapshot(); s != nil {
			return float64(s.Revision())
		}
		return 0
	})
	loaded := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "invitegate_policy_loaded",
		Help: "1 when a policy snapshot is loaded, else 0.",
	}, func() float64 {
		if engine.Snapshot() != nil {
			return 1
		}
		return 0
	})
	for _, c := range []prometheus.Collector{m.callbacks, m.callbackDur, m.decisionDur, m.errors,
		m.ruleMatches, m.ruleErrors, m.failMode, m.limits, m.connsReached, m.connsOpen, revision, loaded} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, fmt.Errorf("register ingress metrics (one Handler per registry): %w", err)
			}
			return nil, fmt.Errorf("register ingress metrics: %w", err)
		}
	}
	for ci, c := range commandLabels {
		for oi, o := range outcomeLabels {
			m.callbackBy[ci][oi] = m.callbacks.WithLabelValues(c, o)
		}
	}
	for _, r := range answeredReasons {
		m.errorByReason[r] = m.errors.WithLabelValues(r)
	}
	for _, mode := range []decider.FailMode{decider.FailOpen, decider.FailClosed} {
		m.failMode.WithLabelValues(string(mode))
	}
	for _, l := range decider.Limits {
		m.limits.WithLabelValues(l)
	}
	if s := engine.Snapshot(); s != nil {
		m.rulesOf(s)
	}
	for _, r := range bodyReasons {
		m.errorByReason[membershipReasonPrefix+r] = m.errors.WithLabelValues(membershipReasonPrefix + r)
	}
	return m, nil
}

// callback counts one answered callback.
func (m *metrics) callback(command, outcome string) {
	ci, oi := slices.Index(commandLabels[:], commandLabel(command)), slices.Index(outcomeLabels[:], outcome)
	if ci < 0 || oi < 0 {
		m.callbacks.WithLabelValues(commandLabel(command), outcome).Inc()
		return
	}
	m.callbackBy[ci][oi].Inc()
}

// refusals counts enforce matches of refuse_member rules: one label lookup
// per distinct rule, not per refused member.
func (m *metrics) refusals(refused []decider.Refusal) {
	type count struct {
		rule string
		n    int
	}
	var buf [8]count
	counts := buf[:0]
next:
	for i := range refused {
		for j := range counts {
			if counts[j].rule == refused[i].Rule {
				counts[j].n++
				continue next
			}
		}
		counts = append(counts, count{refused[i].Rule, 1})
	}
	for _, c := range counts {
		m.ruleMatches.WithLabelValues(c.rule, "enforce").Add(float64(c.n))
	}
}

// limited counts a callback past a bound.
func (m *metrics) limited(limit string) { m.limits.WithLabelValues(limit).Inc() }

// error counts an error by reason.
func (m *metrics) error(reason string) {
	if c, ok := m.errorByReason[reason]; ok {
		c.Inc()
		return
	}
	m.errors.WithLabelValues(reason).Inc()
}

// rulesOf creates the per-rule series of snapshot s at zero and deletes
// those of rules s no longer has (a renamed rule leaves /metrics).
func (m *metrics) rulesOf(s *decider.Snapshot) {
	m.rulesMu.Lock()
	defer m.rulesMu.Unlock()
	modes := make(map[string]string, len(s.Rules()))
	for _, r := range s.Rules() {
		modes[r.Name] = r.Mode
		m.ruleMatches.WithLabelValues(r.Name, r.Mode)
		m.ruleErrors.WithLabelValues(r.Name)
	}
	for name, mode := range m.ruleModes {
		switch now, ok := modes[name]; {
		case !ok:
			m.ruleMatches.DeletePartialMatch(prometheus.Labels{"rule": name})
			m.ruleErrors.DeleteLabelValues(name)
		case now != mode:
			m.ruleMatches.DeleteLabelValues(name, mode)
		}
	}
	m.ruleModes = modes
	m.seenRevision.Store(s.Revision())
}

// syncRules brings the per-rule series to the engine's snapshot (before
// each scrape, so that removed rules leave /metrics without traffic).
func (m *metrics) syncRules() {
	if s := m.engine.Snapshot(); s != nil && s.Revision() != m.seenRevision.Load() {
		m.rulesOf(s)
	}
}

// decision records what a decision did: its latency, rule matches by mode,
// rule errors and fail-mode use.
func (m *metrics) decision(d *decider.Decision) {
	if d.Limit != "" {
		m.limited(d.Limit)
	}
	if d.FailMode {
		m.failMode.WithLabelValues(failModeLabel(d)).Inc()
		return
	}
	m.decisionDur.Observe(d.EvalTime.Seconds())
	if d.Revision != m.seenRevision.Load() {
		if s := m.engine.Snapshot(); s != nil && s.Revision() == d.Revision {
			m.rulesOf(s)
		}
	}
	if d.RejectRule != "" {
		m.ruleMatches.WithLabelValues(d.RejectRule, "enforce").Inc()
	}
	if len(d.Refused) > 0 {
		m.refusals(d.Refused)
	}
	for _, s := range d.Shadow {
		n := len(s.Members)
		if s.Kind == decider.KindReject {
			n = 1
		}
		m.ruleMatches.WithLabelValues(s.Rule, "shadow").Add(float64(n))
	}
	for _, r := range d.RuleErrors {
		m.ruleErrors.WithLabelValues(r).Inc()
	}
}

func failModeLabel(d *decider.Decision) string {
	if d.Outcome == decider.OutcomeReject {
		return string(decider.FailClosed)
	}
	return string(decider.FailOpen)
}

func commandLabel(command string) string {
	switch command {
	case decider.CommandBeforeInviteJoinGroup, decider.CommandAfterNewMemberJoin, decider.CommandAfterMemberExit:
		return command
	case "":
		return commandMissing
	}
	return commandOther
}
