package decider

import (
	"fmt"
	"slices"

	"github.com/google/cel-go/cel"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/interpreter"
)

// Rule indexing. A rule's checked CEL AST is compiled into a tree of nodes:
// the common shapes become native Go predicates (string equality, O(1) set
// membership, !, &&, ||); any other sub-expression stays a CEL program (a
// leaf). Nodes that do not depend on member are evaluated once per request,
// the rest once per member. Native predicates never fail, so the tree keeps
// CEL's semantics exactly, including its error absorption in && and ||.
//
// Recognised shapes, where S is a string operand (operator, member,
// platform, client_ip, app, group.id, group.type or a string literal):
//
//	S in lists.NAME   S in lists["NAME"]   S in ["a", "b"]
//	S == S   S != S   S.startsWith(S)   S.endsWith(S)   S.contains(S)
//	!X   X && Y   X || Y   true   false
//
// Equality is CEL's: exact, case-sensitive (write platform == "iOS").

// builder turns checked rule ASTs into node trees for one snapshot.
type builder struct {
	env     *cel.Env
	sets    map[string]*stringSet
	noIndex bool               // every rule is one CEL leaf (tests compare both paths)
	nodes   int                // nodes allocated so far
	memos   map[*stringSet]int // memo slot of `member in set`, shared by every rule
	rootAST *celast.AST
}

// progOpts are the options of every rule program: regular expressions with
// a constant pattern are compiled once, when the program is planned.
var progOpts = []cel.ProgramOption{cel.OptimizeRegex(interpreter.MatchesRegexOptimization)}

func (b *builder) rule(a *celast.AST) (*node, error) {
	b.rootAST = a
	if b.noIndex {
		return b.leaf(a.Expr())
	}
	return b.build(a.Expr())
}

func (b *builder) newNode(op nodeOp, dep bool) *node {
	n := &node{op: op, id: b.nodes, dep: dep, memo: -1}
	b.nodes++
	return n
}

func (b *builder) build(e celast.Expr) (*node, error) {
	if e.Kind() == celast.LiteralKind {
		if v, ok := e.AsLiteral().Value().(bool); ok {
			n := b.newNode(opConst, false)
			n.val = v
			return n, nil
		}
	}
	if e.Kind() != celast.CallKind {
		return b.leaf(e)
	}
	c := e.AsCall()
	args := c.Args()
	if c.IsMemberFunction() {
		if n := b.stringTest(c); n != nil {
			return n, nil
		}
		return b.leaf(e)
	}
	switch c.FunctionName() {
	case operators.LogicalNot:
		return b.logical(opNot, args)
	case operators.LogicalAnd:
		return b.logical(opAnd, flatten(e, operators.LogicalAnd, nil))
	case operators.LogicalOr:
		return b.logical(opOr, flatten(e, operators.LogicalOr, nil))
	case operators.Equals, operators.NotEquals:
		if n := b.equality(c.FunctionName(), args); n != nil {
			return n, nil
		}
	case operators.In:
		if n := b.membership(args); n != nil {
			return n, nil
		}
	}
	return b.leaf(e)
}

// flatten collects the operands of nested applications of one logical
// operator: a && (b && c) becomes [a, b, c].
func flatten(e celast.Expr, fn string, out []celast.Expr) []celast.Expr {
	if e.Kind() == celast.CallKind && e.AsCall().FunctionName() == fn {
		for _, a := range e.AsCall().Args() {
			out = flatten(a, fn, out)
		}
		return out
	}
	return append(out, e)
}

func (b *builder) logical(op nodeOp, args []celast.Expr) (*node, error) {
	kids := make([]*node, len(args))
	dep := false
	for i, a := range args {
		k, err := b.build(a)
		if err != nil {
			return nil, err
		}
		kids[i], dep = k, dep || k.dep
	}
	n := b.newNode(op, dep)
	n.kids = kids
	return n, nil
}

func (b *builder) equality(fn string, args []celast.Expr) *node {
	l, lok := stringOperand(args[0])
	r, rok := stringOperand(args[1])
	if !lok || !rok {
		return nil
	}
	op := opEq
	if fn == operators.NotEquals {
		op = opNe
	}
	n := b.newNode(op, l.kind == operandMember || r.kind == operandMember)
	n.lhs, n.rhs = l, r
	return n
}

var stringTests = map[string]nodeOp{"startsWith": opPrefix, "endsWith": opSuffix, "contains": opContains}

// stringTest recognises S.startsWith(S), S.endsWith(S) and S.contains(S).
func (b *builder) stringTest(c celast.CallExpr) *node {
	op, ok := stringTests[c.FunctionName()]
	if !ok || len(c.Args()) != 1 {
		return nil
	}
	l, lok := stringOperand(c.Target())
	r, rok := stringOperand(c.Args()[0])
	if !lok || !rok {
		return nil
	}
	n := b.newNode(op, l.kind == operandMember || r.kind == operandMember)
	n.lhs, n.rhs = l, r
	return n
}

func (b *builder) membership(args []celast.Expr) *node {
	l, ok := stringOperand(args[0])
	if !ok {
		return nil
	}
	var set *stringSet
	name, named := varKey(args[1], VarLists, nil)
	if named {
		set = b.sets[name]
	} else if args[1].Kind() == celast.ListKind {
		set = literalSet(args[1].AsList())
	}
	if set == nil {
		return nil
	}
	n := b.newNode(opIn, l.kind == operandMember)
	n.lhs, n.set = l, set
	if n.dep && (set.m != nil || named) {
		// The same lookup in several rules (an enforced rule and its shadow
		// trial) is done once per member. A named list may grow through
		// policy events after compilation (fold.go), so it always has a slot.
		slot, ok := b.memos[set]
		if !ok {
			slot = len(b.memos)
			b.memos[set] = slot
		}
		n.memo = slot
	}
	return n
}

// literalSet returns the set of a list literal of string constants, or nil.
func literalSet(l celast.ListExpr) *stringSet {
	if len(l.OptionalIndices()) > 0 {
		return nil
	}
	entries := make([]string, 0, l.Size())
	for _, el := range l.Elements() {
		s, ok := stringLiteral(el)
		if !ok {
			return nil
		}
		entries = append(entries, s)
	}
	return newStringSet(entries)
}

// leaf compiles the sub-expression e of the current rule into a CEL program.
func (b *builder) leaf(e celast.Expr) (*node, error) {
	sub := celast.NewCheckedAST(celast.NewAST(e, b.rootAST.SourceInfo()), b.rootAST.TypeMap(), b.rootAST.ReferenceMap())
	opts, guarded := progOpts, hasComprehension(e)
	if guarded {
		opts = append(slices.Clip(opts), cel.InterruptCheckFrequency(interruptCheckEvery))
	}
	prog, err := b.env.PlanProgram(sub, opts...)
	if err != nil {
		return nil, fmt.Errorf("plan cel program: %w", err)
	}
	n := b.newNode(opCEL, usesVar(e, VarMember) || slices.Contains(usedStats(e), StatMemberInvited1h))
	n.prog, n.guarded = prog, guarded
	return n, nil
}
