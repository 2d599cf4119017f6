package decider

import (
	"cmp"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/google/cel-go/cel"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
)

// Error codes a reject rule may answer with (see the IM protocol): 1, IM's
// generic refusal, or a code in [MinCustomErrorCode, MaxCustomErrorCode]
// that IM passes with ErrorInfo to the inviter's client.
const (
	MinCustomErrorCode = 10100
	MaxCustomErrorCode = 10200
)

var (
	ruleNameRE = regexp.MustCompile(`^[a-z0-9-]+$`)
	listNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

	// celEnv is shared by every compile; a cel.Env is safe for concurrent use.
	celEnv = sync.OnceValues(newCELEnv)
)

// celReserved are words CEL does not accept after a dot (lists.in).
var celReserved = []string{"as", "break", "const", "continue", "else", "false", "for", "function", "if",
	"import", "in", "let", "loop", "package", "namespace", "null", "return", "true", "var", "void", "while"}

type compileOptions struct {
	noIndex    bool   // evaluate every rule with CEL alone (for equivalence tests and benchmarks)
	costBudget uint64 // a rule's cost budget; 0 means DefaultRuleCostBudget
}

// Compile validates doc and compiles it into an immutable Snapshot with the
// given revision. Validation is all-or-nothing: on any problem Compile
// returns a *ValidationError listing all of them and no snapshot. doc must
// not be modified afterwards: Snapshot.Document returns it.
func Compile(doc *Document, revision uint64) (*Snapshot, error) {
	return compile(doc, revision, compileOptions{})
}

func compile(doc *Document, revision uint64, opts compileOptions) (*Snapshot, error) {
	if doc == nil {
		return nil, invalid(Problem{Index: -1, Message: "no document"})
	}
	env, err := celEnv()
	if err != nil {
		return nil, err
	}
	var problems []Problem
	if !checkBounds(doc, &problems) {
		return nil, &ValidationError{Problems: problems}
	}
	checkHeader(doc, &problems)
	listNames := slices.Sorted(maps.Keys(doc.Lists))
	asts := make([]*celast.AST, len(doc.Rules))
	seen := map[string]int{}
	for i := range doc.Rules {
		asts[i] = checkRule(env, doc, i, seen, listNames, cmp.Or(opts.costBudget, DefaultRuleCostBudget), &problems)
	}
	if len(problems) == 0 {
		checkRoundTrip(doc, &problems)
	}
	if len(problems) > 0 {
		return nil, &ValidationError{Problems: problems}
	}
	return build(env, doc, revision, asts, opts)
}

func checkHeader(doc *Document, problems *[]Problem) {
	switch doc.APIVersion {
	case APIVersion:
	case "":
		*problems = append(*problems, Problem{Index: -1, Field: "apiVersion", Message: fmt.Sprintf("required (want %q)", APIVersion)})
	default:
		*problems = append(*problems, Problem{Index: -1, Field: "apiVersion", Message: fmt.Sprintf("must be %q, got %q", APIVersion, doc.APIVersion)})
	}
	for _, name := range slices.Sorted(maps.Keys(doc.Lists)) {
		if !listNameRE.MatchString(name) || slices.Contains(celReserved, name) {
			*problems = append(*problems, Problem{Index: -1, Field: "lists", Message: fmt.Sprintf(
				"list name %q: must be an identifier ([A-Za-z_][A-Za-z0-9_]*, not a CEL keyword) so rules can write lists.NAME", name)})
		}
	}
}

// checkRule validates rule i and returns its checked AST (nil when the
// expression does not compile).
func checkRule(env *cel.Env, doc *Document, i int, seen map[string]int, lists []string, budget uint64, problems *[]Problem) *celast.AST {
	r := &doc.Rules[i]
	rp := ruleProblems{index: i, name: shorten(r.Name), out: problems}
	switch {
	case r.Name == "":
		rp.add("name", "required")
	case len(r.Name) > MaxRuleNameBytes:
		rp.add("name", "%d bytes (at most %d)", len(r.Name), MaxRuleNameBytes)
	case !ruleNameRE.MatchString(r.Name):
		rp.add("name", "must match [a-z0-9-]+ (lower-case letters, digits and '-')")
	case seen[r.Name] > 0:
		rp.add("name", "duplicate: rules[%d] has the same name", seen[r.Name]-1)
	default:
		seen[r.Name] = i + 1
	}
	switch r.Mode {
	case "", ModeEnforce, ModeShadow:
	default:
		rp.add("mode", "must be %q (the default) or %q, got %q", ModeEnforce, ModeShadow, r.Mode)
	}
	if r.Reject != "" && r.RefuseMember != "" {
		rp.add("", "has both reject and refuse_member: a rule is exactly one of them")
		return nil
	}
	if r.Reject == "" && r.RefuseMember == "" {
		rp.add("", "needs a reject or a refuse_member expression")
		return nil
	}
	checkErrorFields(r, rp)
	return checkExpr(env, r.Kind(), r.Expr(), lists, budget, rp)
}

func checkErrorFields(r *RuleSpec, rp ruleProblems) {
	if r.Kind() == KindRefuseMember {
		if r.ErrorCode != 0 {
			rp.add("error_code", "only allowed on reject rules (a refused member is answered with ErrorCode 0)")
		}
		if r.ErrorInfo != "" {
			rp.add("error_info", "only allowed on reject rules (IM shows no message for a refused member)")
		}
		return
	}
	c := r.ErrorCode
	if c != 0 && c != DefaultRejectCode && (c < MinCustomErrorCode || c > MaxCustomErrorCode) {
		rp.add("error_code", "%d is out of range: use 1 (IM's generic error) or %d..%d", c, MinCustomErrorCode, MaxCustomErrorCode)
	}
}

// checkExpr compiles and type-checks one rule expression.
func checkExpr(env *cel.Env, kind, expr string, lists []string, budget uint64, rp ruleProblems) *celast.AST {
	a, iss := env.Compile(expr)
	if iss.Err() != nil {
		for _, e := range iss.Errors() {
			msg := strings.ReplaceAll(e.Message, " (in container '')", "")
			rp.add(kind, "%d:%d: %s", e.Location.Line(), e.Location.Column()+1, msg)
		}
		return nil
	}
	if t := a.OutputType(); !t.IsExactType(types.BoolType) {
		rp.add(kind, "must be a bool expression, got %s", cel.FormatCELType(t))
	}
	checkCost(env, a, kind, budget, rp)
	native := a.NativeRep()
	checkReferences(native.Expr(), kind, lists, rp)
	if _, err := env.Program(a, progOpts...); err != nil {
		rp.add(kind, "%v", err) // an invalid constant regular expression
	}
	return native
}

// build makes the snapshot of a valid document.
func build(env *cel.Env, doc *Document, revision uint64, asts []*celast.AST, opts compileOptions) (*Snapshot, error) {
	s := &Snapshot{revision: revision, doc: doc, sets: make(map[string]*stringSet, len(doc.Lists))}
	listVals := make(map[ref.Val]ref.Val, len(doc.Lists))
	for name, entries := range doc.Lists {
		set := newStringSet(entries)
		s.sets[name] = set
		listVals[types.String(name)] = set
	}
	s.listsVal = types.NewRefValMap(types.DefaultTypeAdapter, listVals)
	b := &builder{env: env, sets: s.sets, memos: map[*stringSet]int{}, noIndex: opts.noIndex}
	for i := range doc.Rules {
		r := &doc.Rules[i]
		root, err := b.rule(asts[i])
		if err != nil {
			return nil, fmt.Errorf("compile rule %q: %w", r.Name, err)
		}
		for _, st := range usedStats(asts[i].Expr()) {
			if !slices.Contains(s.stats, st) {
				s.stats = append(s.stats, st)
			}
		}
		s.rules = append(s.rules, compiledRule{
			info:      RuleInfo{Name: r.Name, Kind: r.Kind(), Mode: r.EffectiveMode()},
			shadow:    r.Mode == ModeShadow,
			errorCode: max(r.ErrorCode, DefaultRejectCode),
			errorInfo: r.ErrorInfo,
			root:      root,
		})
	}
	slices.Sort(s.stats)
	for _, st := range s.stats {
		s.statNames = append(s.statNames, st.String())
	}
	s.nodes, s.memos = b.nodes, len(b.memos)
	s.pool.New = func() any { return s.newEvaluation() }
	return s, nil
}
