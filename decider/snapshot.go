package decider

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/google/cel-go/common/types/ref"
)

// RuleInfo describes one rule of a snapshot (for metrics and displays).
type RuleInfo struct {
	Name string
	Kind string // KindReject or KindRefuseMember
	Mode string // ModeEnforce or ModeShadow
}

type compiledRule struct {
	info      RuleInfo
	shadow    bool
	errorCode int
	errorInfo string
	root      *node
}

// Snapshot is a compiled policy: immutable and safe for concurrent use.
// Build one with Compile.
type Snapshot struct {
	revision uint64
	doc      *Document
	rules    []compiledRule
	sets     map[string]*stringSet
	listsVal ref.Val
	stats    []Stat    // the statistics the rules read, sorted
	nodes    int       // nodes of all rule trees
	memos    int       // memo slots per member
	pool     sync.Pool // *evaluation

	statNames []string // the names of stats (Decision.StatsKnown, shared)
}

// Revision returns the revision given to Compile.
func (s *Snapshot) Revision() uint64 { return s.revision }

// Document returns the compiled document. It is shared: do not modify it.
func (s *Snapshot) Document() *Document { return s.doc }

// Rules returns the rules in document order.
func (s *Snapshot) Rules() []RuleInfo {
	out := make([]RuleInfo, len(s.rules))
	for i := range s.rules {
		out[i] = s.rules[i].info
	}
	return out
}

// Stats returns the statistics the policy's rules read, sorted: only these
// need to be published to and kept by the ingress.
func (s *Snapshot) Stats() []Stat { return slices.Clone(s.stats) }

// ListSize returns the number of distinct entries of the named list, or -1
// when the snapshot has no such list.
func (s *Snapshot) ListSize(name string) int {
	set, ok := s.sets[name]
	if !ok {
		return -1
	}
	return set.len()
}

// evaluation is the scratch space of one Decide, pooled per snapshot.
type evaluation struct {
	req      *Request
	act      activation
	state    []tri  // per node, written by reqEval
	memo     []tri  // per member and memo slot: 0 unknown, else the value + 1
	memos    int    // memo slots per member
	ruleErrs []bool // per rule
	anyErr   bool
	active   []int    // enforcing refuse_member rules to consult per member
	refused  []string // members refused so far
	dedup    dedup
	src      StatsSource // nil: every statistic reads 0
	reads    []StatRead  // statistics read so far
	statsVal ref.Val     // statsVal{ev}, boxed once
	deadline time.Time   // zero: none (bound.go)
	limit    string      // the Limit hit, if any
	ctx      context.Context
	cancel   context.CancelFunc
}

func (s *Snapshot) newEvaluation() *evaluation {
	ev := &evaluation{state: make([]tri, s.nodes), ruleErrs: make([]bool, len(s.rules)), active: make([]int, 0, len(s.rules))}
	ev.statsVal = statsVal{ev}
	return ev
}

// Decide decides r: the first enforcing reject rule (document order) that
// matches rejects the whole request; otherwise every member matched by an
// enforcing refuse_member rule is refused, naming the first such rule.
// Shadow rules are evaluated on every request and recorded in
// Decision.Shadow (document order), never applied. A rule whose evaluation fails counts as
// not matched and is named in Decision.RuleErrors. Decide sets neither
// EvalTime nor FailMode (Engine.Decide does).
func (s *Snapshot) Decide(r *Request) Decision { return s.DecideWith(r, nil) }

// DecideWith is Decide reading stats.NAME from src (nil: every statistic
// reads 0). The statistics read are recorded in Decision.Stats.
func (s *Snapshot) DecideWith(r *Request, src StatsSource) Decision {
	return s.decide(r, src, time.Time{})
}

// decide is DecideWith bounded by deadline (zero: none). A decision that
// hits a bound returns only Revision and Limit, with OutcomeAllow: the
// Engine answers it by the fail mode.
func (s *Snapshot) decide(r *Request, src StatsSource, deadline time.Time) Decision {
	if r == nil {
		r = &Request{}
	}
	if len(r.Members) > DefaultMaxMembers {
		// Rules are costed at DefaultMaxMembers: beyond it their cost is
		// not bounded, so the policy is not consulted (the ingress's
		// --max-members stops such requests before they get here).
		return Decision{Outcome: OutcomeAllow, Revision: s.revision, Limit: LimitMaxMembers}
	}
	ev := s.pool.Get().(*evaluation)
	ev.begin(s, r)
	ev.src = src
	ev.setDeadline(deadline)
	d := Decision{Revision: s.revision}
	s.decideRequest(ev, &d)
	s.decideMembers(ev, &d)
	if ev.limit != "" {
		d = Decision{Revision: s.revision, Limit: ev.limit}
	}
	switch {
	case d.RejectRule != "":
		d.Outcome = OutcomeReject
	case len(d.Refused) > 0:
		d.Outcome = OutcomePartial
	default:
		d.Outcome = OutcomeAllow
	}
	if ev.anyErr {
		for i, failed := range ev.ruleErrs {
			if failed {
				d.RuleErrors = append(d.RuleErrors, s.rules[i].info.Name)
				ev.ruleErrs[i] = false
			}
		}
		ev.anyErr = false
	}
	if len(s.stats) > 0 {
		s.recordUnread(ev, &d)
	}
	if len(ev.reads) > 0 {
		d.Stats = slices.Clone(ev.reads)
		clear(ev.reads)
		ev.reads = ev.reads[:0]
	}
	ev.endBounds()
	ev.req, ev.act, ev.src, ev.limit = nil, activation{}, nil, ""
	s.pool.Put(ev)
	return d
}

func (ev *evaluation) begin(s *Snapshot, r *Request) {
	ev.req = r
	ev.act.reset(r, s.listsVal, ev.statsVal)
	ev.memos = s.memos
	if s.memos > 0 {
		n := s.memos * len(r.Members)
		if cap(ev.memo) < n {
			ev.memo = make([]tri, n)
		}
		ev.memo = ev.memo[:n]
		clear(ev.memo)
	}
}

func (ev *evaluation) failed(i int) {
	ev.ruleErrs[i], ev.anyErr = true, true
}

// decideRequest evaluates the reject rules and the shadow refuse_member
// rules, in document order (so Decision.Shadow is in document order too).
// An enforcing reject rule is skipped once another has rejected.
func (s *Snapshot) decideRequest(ev *evaluation, d *Decision) {
	for i := range s.rules {
		if ev.expired() {
			return
		}
		r := &s.rules[i]
		if r.info.Kind == KindRefuseMember {
			if r.shadow {
				s.shadowRefusals(ev, i, d)
			}
			continue
		}
		if !r.shadow && d.RejectRule != "" {
			continue
		}
		switch ev.reqEval(r.root) {
		case tErr:
			ev.failed(i)
		case tTrue:
			if r.shadow {
				d.Shadow = append(d.Shadow, ShadowEffect{Rule: r.info.Name, Kind: KindReject})
			} else {
				d.RejectRule, d.ErrorCode, d.ErrorInfo = r.info.Name, r.errorCode, r.errorInfo
			}
		}
	}
}
