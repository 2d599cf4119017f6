package decider

import (
	"sync/atomic"
	"time"
)

// FailMode says how an Engine answers while no policy snapshot is loaded.
type FailMode string

const (
	FailOpen   FailMode = "open"   // allow everyone (what IM itself does on a failed callback)
	FailClosed FailMode = "closed" // reject the whole request with ErrorCode 1
)

// FailModeRule is the RejectRule of a fail-closed decision.
const FailModeRule = "fail-mode"

// Engine holds the current Snapshot behind an atomic pointer. Decide never
// takes a lock; Load swaps the snapshot for every later decision at once.
// The zero Engine is not usable: use NewEngine.
type Engine struct {
	snap     atomic.Pointer[Snapshot]
	stats    atomic.Pointer[statsHolder]
	failMode FailMode
	now      func() time.Time
	timeout  time.Duration // per decision; see SetDecisionTimeout
	unready  atomic.Pointer[string]
}

// SetUnready records why the loaded policy must not be taken for the
// current one (a snapshot that could not be read, a log not followed
// while an older policy is served); "" clears it. The ingress's /readyz
// answers 503 with the reason meanwhile; decisions go on.
func (e *Engine) SetUnready(reason string) {
	if reason == "" {
		e.unready.Store(nil)
		return
	}
	e.unready.Store(&reason)
}

// Unready returns the reason SetUnready recorded, "" when none.
func (e *Engine) Unready() string {
	if p := e.unready.Load(); p != nil {
		return *p
	}
	return ""
}

// NewEngine returns an Engine with no snapshot loaded. now may be nil (time.Now).
func NewEngine(failMode FailMode, now func() time.Time) *Engine {
	if now == nil {
		now = time.Now
	}
	if failMode != FailClosed {
		failMode = FailOpen
	}
	return &Engine{failMode: failMode, now: now, timeout: DefaultDecisionTimeout}
}

// SetDecisionTimeout bounds every later decision (0: DefaultDecisionTimeout;
// negative: unbounded, for tools). A decision past it is answered by the
// fail mode with Limit LimitDecisionTimeout. The bound is real (monotonic)
// time, whatever clock the Engine was given. Call it before serving.
func (e *Engine) SetDecisionTimeout(d time.Duration) {
	if d == 0 {
		d = DefaultDecisionTimeout
	}
	e.timeout = d
}

// DecisionTimeout returns the bound of one decision (negative: none).
func (e *Engine) DecisionTimeout() time.Duration { return e.timeout }

// Load makes s the snapshot for every later decision.
func (e *Engine) Load(s *Snapshot) { e.snap.Store(s) }

// Snapshot returns the loaded snapshot, or nil when none is loaded.
func (e *Engine) Snapshot() *Snapshot { return e.snap.Load() }

type statsHolder struct{ src StatsSource }

// SetStats makes src the source of stats.NAME for every later decision
// (nil: every statistic reads 0).
func (e *Engine) SetStats(src StatsSource) {
	if src == nil {
		e.stats.Store(nil)
		return
	}
	e.stats.Store(&statsHolder{src: src})
}

// FailMode returns the engine's fail mode.
func (e *Engine) FailMode() FailMode { return e.failMode }

// Decide decides r with the loaded snapshot, or by the fail mode when none is
// loaded.
func (e *Engine) Decide(r *Request) Decision {
	s := e.snap.Load()
	if s == nil {
		return e.Limited("")
	}
	start := e.now()
	var src StatsSource
	if h := e.stats.Load(); h != nil {
		src = h.src
	}
	var deadline time.Time
	if e.timeout > 0 {
		deadline = time.Now().Add(e.timeout)
	}
	d := s.decide(r, src, deadline)
	if d.Limit != "" {
		ld := e.Limited(d.Limit)
		ld.Revision = d.Revision
		d = ld
	}
	d.EvalTime = e.now().Sub(start)
	return d
}

// Limited returns the fail mode's decision, marked with limit: the bound
// (LimitMaxMembers, LimitDecisionTimeout) that kept the policy
// from deciding, or "" when no policy is loaded.
func (e *Engine) Limited(limit string) Decision {
	if e.failMode == FailClosed {
		return Decision{Outcome: OutcomeReject, ErrorCode: DefaultRejectCode, RejectRule: FailModeRule, FailMode: true, Limit: limit}
	}
	return Decision{Outcome: OutcomeAllow, FailMode: true, Limit: limit}
}
