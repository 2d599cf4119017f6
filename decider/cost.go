package decider

import (
	"fmt"
	"math"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/checker"
)

// Rule cost. Every compile (policy check, apply, the policy-log follower,
// --policy) estimates each rule's worst-case cost with cel-go's estimator,
// sizing the inputs by the bounds the ingress enforces: at most
// DefaultMaxMembers members, strings of at most their field's Max*Bytes.
// A refuse_member rule runs once per member, so its estimate is multiplied
// by the member cap. A rule over DefaultRuleCostBudget is refused, naming
// it: `members.filter(m, m == member).size() > 1` is quadratic in the
// members and costs millions of units at the cap.

// sizeEstimator sizes the rule variables for cel-go's cost estimator.
type sizeEstimator struct{}

func (sizeEstimator) EstimateSize(n checker.AstNode) *checker.SizeEstimate {
	path := n.Path()
	if len(path) == 0 {
		return nil
	}
	var max uint64
	switch path[0] {
	case VarMembers:
		max = DefaultMaxMembers
		if len(path) > 1 { // an element
			max = MaxAccountBytes
		}
	case VarOperator, VarMember:
		max = MaxAccountBytes
	case VarGroup:
		max = uint64(len(groupFields))
		if len(path) > 1 {
			max = MaxGroupIDBytes
		}
	case VarPlatform:
		max = MaxPlatformBytes
	case VarClientIP:
		max = MaxClientIPBytes
	case VarApp:
		max = MaxAppBytes
	default:
		return nil
	}
	return &checker.SizeEstimate{Min: 0, Max: max}
}

// EstimateCallCost prices the stringset operations: one hash lookup.
func (sizeEstimator) EstimateCallCost(_, overloadID string, _ *checker.AstNode, _ []checker.AstNode) *checker.CallEstimate {
	switch overloadID {
	case "in_string_stringset", "size_stringset", "stringset_size":
		return &checker.CallEstimate{CostEstimate: checker.CostEstimate{Min: 1, Max: 1}}
	}
	return nil
}

// ruleCost is the estimated worst-case cost of a checked rule expression on
// one request.
func ruleCost(env *cel.Env, a *cel.Ast, kind string) (uint64, error) {
	est, err := env.EstimateCost(a, sizeEstimator{})
	if err != nil {
		return 0, fmt.Errorf("estimate cost: %w", err)
	}
	cost := est.Max
	if kind == KindRefuseMember {
		if cost > math.MaxUint64/DefaultMaxMembers {
			return math.MaxUint64, nil
		}
		cost *= DefaultMaxMembers
	}
	return cost, nil
}

// checkCost adds a problem when the rule's estimated cost is over budget.
func checkCost(env *cel.Env, a *cel.Ast, kind string, budget uint64, rp ruleProblems) {
	cost, err := ruleCost(env, a, kind)
	switch {
	case err != nil:
		rp.add(kind, "%v", err)
	case cost > budget:
		per := ""
		if kind == KindRefuseMember {
			per = " (it runs once per member)"
		}
		rp.add(kind, "too costly: estimated %s cost units on a request of %d members%s, over the budget of %d; "+
			"avoid comprehensions over members inside refuse_member rules and nested comprehensions",
			costString(cost), DefaultMaxMembers, per, budget)
	}
}

func costString(c uint64) string {
	if c == math.MaxUint64 {
		return "unbounded"
	}
	return fmt.Sprint(c)
}
