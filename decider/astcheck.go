package decider

import (
	"slices"
	"strings"

	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
)

// walkFree calls fn for every node of e, with a report of whether a given
// identifier at that node is free (a rule variable) or bound by an
// enclosing comprehension (e.g. `members.exists(member, ...)`).
func walkFree(e celast.Expr, bound []string, fn func(e celast.Expr, free func(string) bool)) {
	free := func(name string) bool { return !slices.Contains(bound, name) }
	fn(e, free)
	switch e.Kind() {
	case celast.CallKind:
		c := e.AsCall()
		if c.IsMemberFunction() {
			walkFree(c.Target(), bound, fn)
		}
		for _, a := range c.Args() {
			walkFree(a, bound, fn)
		}
	case celast.SelectKind:
		walkFree(e.AsSelect().Operand(), bound, fn)
	case celast.ListKind:
		for _, el := range e.AsList().Elements() {
			walkFree(el, bound, fn)
		}
	case celast.MapKind:
		for _, en := range e.AsMap().Entries() {
			walkFree(en.AsMapEntry().Key(), bound, fn)
			walkFree(en.AsMapEntry().Value(), bound, fn)
		}
	case celast.StructKind:
		for _, f := range e.AsStruct().Fields() {
			walkFree(f.AsStructField().Value(), bound, fn)
		}
	case celast.ComprehensionKind:
		walkComprehension(e.AsComprehension(), bound, fn)
	}
}

func walkComprehension(c celast.ComprehensionExpr, bound []string, fn func(e celast.Expr, free func(string) bool)) {
	walkFree(c.IterRange(), bound, fn)
	walkFree(c.AccuInit(), bound, fn)
	inner := append(slices.Clip(bound), c.AccuVar(), c.IterVar())
	if c.HasIterVar2() {
		inner = append(inner, c.IterVar2())
	}
	walkFree(c.LoopCondition(), inner, fn)
	walkFree(c.LoopStep(), inner, fn)
	walkFree(c.Result(), append(slices.Clip(bound), c.AccuVar()), fn)
}

// usesVar reports whether the rule variable name occurs free in e.
func usesVar(e celast.Expr, name string) bool {
	found := false
	walkFree(e, nil, func(n celast.Expr, free func(string) bool) {
		if n.Kind() == celast.IdentKind && n.AsIdent() == name && free(name) {
			found = true
		}
	})
	return found
}

// varKey recognises `v.key`, `v["key"]` (a constant key) on the rule
// variable v: it returns the key and whether e has that shape. has(v.key)
// (a presence test) does not count: it never fails.
func varKey(e celast.Expr, v string, free func(string) bool) (string, bool) {
	switch e.Kind() {
	case celast.SelectKind:
		s := e.AsSelect()
		if !s.IsTestOnly() && isFreeIdent(s.Operand(), v, free) {
			return s.FieldName(), true
		}
	case celast.CallKind:
		c := e.AsCall()
		if c.FunctionName() == operators.Index && len(c.Args()) == 2 && isFreeIdent(c.Args()[0], v, free) {
			if s, ok := stringLiteral(c.Args()[1]); ok {
				return s, true
			}
		}
	}
	return "", false
}

func isFreeIdent(e celast.Expr, name string, free func(string) bool) bool {
	return e.Kind() == celast.IdentKind && e.AsIdent() == name && (free == nil || free(name))
}

func stringLiteral(e celast.Expr) (string, bool) {
	if e.Kind() != celast.LiteralKind {
		return "", false
	}
	s, ok := e.AsLiteral().(types.String)
	return string(s), ok
}

// checkReferences reports, for a checked rule expression, a use of member
// in a reject rule, references to lists that are not defined, and fields of
// group that do not exist.
func checkReferences(e celast.Expr, kind string, lists []string, rp ruleProblems) {
	reported := map[string]bool{}
	once := func(key, format string, args ...any) {
		if !reported[key] {
			reported[key] = true
			rp.add(kind, format, args...)
		}
	}
	walkFree(e, nil, func(n celast.Expr, free func(string) bool) {
		if kind == KindReject && isFreeIdent(n, VarMember, free) {
			once("member", "member is only available in refuse_member rules (a reject rule decides the whole request; use members for the invited list)")
		}
		if name, ok := varKey(n, VarLists, free); ok && !slices.Contains(lists, name) {
			once("list "+name, "undefined list %q (%s)", name, definedLists(lists))
		}
		if field, ok := varKey(n, VarGroup, free); ok && !slices.Contains(groupFields, field) {
			once("group "+field, "group has no field %q (fields: %s)", field, strings.Join(groupFields, ", "))
		}
	})
	checkStats(e, kind, once)
}

func definedLists(lists []string) string {
	if len(lists) == 0 {
		return "no lists are defined"
	}
	return "defined: " + strings.Join(lists, ", ")
}

// hasComprehension reports whether e loops (all, exists, exists_one, map,
// filter): only such expressions can run long on bounded inputs.
func hasComprehension(e celast.Expr) bool {
	found := false
	walkFree(e, nil, func(n celast.Expr, _ func(string) bool) {
		found = found || n.Kind() == celast.ComprehensionKind
	})
	return found
}
