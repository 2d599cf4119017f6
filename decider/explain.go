package decider

import (
	"fmt"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
)

// Results of a rule in a Trace.
const (
	ResultTrue  = "true"
	ResultFalse = "false"
	ResultError = "error"
)

// Trace is what every rule of a policy evaluated to for one request: the
// answer Decide gives, then each rule in document order, shadow rules
// included, and for a refuse_member rule each member.
type Trace struct {
	Decision Decision
	Rules    []RuleTrace
}

// RuleTrace is one rule of a Trace.
type RuleTrace struct {
	Name string
	Kind string // KindReject or KindRefuseMember
	Mode string // ModeEnforce or ModeShadow
	// Result is the rule's value for the request (ResultTrue, ResultFalse
	// or ResultError); for a refuse_member rule, ResultTrue when it matched
	// a member, ResultError when it failed on one and matched none.
	Result string
	Error  string // the evaluation error of a reject rule
	// Consulted is false for an enforcing rule the decision did not apply
	// because an earlier reject rule had rejected the request.
	Consulted bool
	// Effect is what the rule did to the answer: "rejected the request",
	// "refused N members", "would reject (shadow)", or "".
	Effect  string
	Members []MemberTrace // refuse_member rules: every member, request order
}

// MemberTrace is a refuse_member rule's value for one member.
type MemberTrace struct {
	Member string
	Result string // ResultTrue, ResultFalse or ResultError
	Error  string
	// RefusedBy is the rule that refused this member in the decision ("" if
	// none): when it names an earlier rule, this rule's value did not count.
	RefusedBy string
}

// Explain evaluates every rule of s on r with CEL alone, reading
// statistics from src (nil: every statistic reads 0), and returns the
// trace beside the decision Decide gives. It is slow (each rule is planned
// again) and meant for people: the decision path never calls it. The
// per-rule values agree with Decide's, which tests hold to.
func Explain(s *Snapshot, r *Request, src StatsSource) (Trace, error) {
	if r == nil {
		r = &Request{}
	}
	t := Trace{Decision: s.DecideWith(r, src)}
	env, err := celEnv()
	if err != nil {
		return t, err
	}
	refusedBy := map[string]string{}
	for _, rf := range t.Decision.Refused {
		refusedBy[rf.Member] = rf.Rule
	}
	ev := s.newEvaluation()
	ev.req, ev.src = r, src
	ev.act.reset(r, s.listsVal, ev.statsVal)
	for i := range s.rules {
		spec := &s.doc.Rules[i]
		prog, err := planRule(env, spec)
		if err != nil {
			return t, fmt.Errorf("explain rule %q: %w", spec.Name, err)
		}
		t.Rules = append(t.Rules, s.traceRule(ev, i, prog, &t.Decision, refusedBy))
	}
	return t, nil
}

func planRule(env *cel.Env, spec *RuleSpec) (cel.Program, error) {
	a, iss := env.Compile(spec.Expr())
	if iss.Err() != nil {
		return nil, iss.Err()
	}
	return env.Program(a, progOpts...)
}

func (s *Snapshot) traceRule(ev *evaluation, i int, prog cel.Program, d *Decision, refusedBy map[string]string) RuleTrace {
	r := &s.rules[i]
	rt := RuleTrace{Name: r.info.Name, Kind: r.info.Kind, Mode: r.info.Mode, Consulted: true}
	if r.info.Kind == KindReject {
		ev.act.hasMember = false
		rt.Result, rt.Error = evalTrace(prog, ev)
		switch {
		case r.shadow && rt.Result == ResultTrue:
			rt.Effect = "would reject (shadow)"
		case r.shadow:
		case d.RejectRule == r.info.Name:
			rt.Effect = "rejected the request"
		case d.RejectRule != "" && s.ruleIndex(d.RejectRule) < i:
			rt.Consulted = false
		}
		return rt
	}
	if !r.shadow && d.RejectRule != "" {
		rt.Consulted = false
	}
	rt.Result = ResultFalse
	refused, failed := 0, false
	for _, m := range distinctMembers(ev.req.Members) {
		ev.act.setMember(m)
		res, msg := evalTrace(prog, ev)
		mt := MemberTrace{Member: m, Result: res, Error: msg, RefusedBy: refusedBy[m]}
		rt.Members = append(rt.Members, mt)
		switch res {
		case ResultTrue:
			rt.Result = ResultTrue
			if mt.RefusedBy == r.info.Name {
				refused++
			}
		case ResultError:
			failed = true
		}
	}
	if failed && rt.Result == ResultFalse {
		rt.Result = ResultError
	}
	switch {
	case r.shadow && rt.Result == ResultTrue:
		rt.Effect = "would refuse (shadow)"
	case refused > 0:
		rt.Effect = fmt.Sprintf("refused %d member(s)", refused)
	}
	return rt
}

// distinctMembers returns members once each, in request order.
func distinctMembers(members []string) []string {
	out := make([]string, 0, len(members))
	seen := make(map[string]bool, len(members))
	for _, m := range members {
		if !seen[m] {
			seen[m] = true
			out = append(out, m)
		}
	}
	return out
}

func (s *Snapshot) ruleIndex(name string) int {
	for i := range s.rules {
		if s.rules[i].info.Name == name {
			return i
		}
	}
	return -1
}

// evalTrace runs a whole-rule program and returns its result and error.
func evalTrace(prog cel.Program, ev *evaluation) (string, string) {
	out, _, err := prog.Eval(&ev.act)
	if err != nil {
		return ResultError, err.Error()
	}
	b, ok := out.(types.Bool)
	if !ok {
		return ResultError, fmt.Sprintf("the rule evaluated to %v, not a bool", out)
	}
	if b {
		return ResultTrue, ""
	}
	return ResultFalse, ""
}
