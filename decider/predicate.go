package decider

import (
	"strings"

	"github.com/google/cel-go/cel"
	celast "github.com/google/cel-go/common/ast"
)

// The predicates of an indexed rule (see index.go for how they are built).

type nodeOp uint8

const (
	opConst nodeOp = iota
	opNot
	opAnd
	opOr
	opEq
	opNe
	opIn
	opPrefix   // lhs.startsWith(rhs)
	opSuffix   // lhs.endsWith(rhs)
	opContains // lhs.contains(rhs)
	opCEL
)

type operandKind uint8

const (
	operandConst operandKind = iota
	operandOperator
	operandMember
	operandPlatform
	operandClientIP
	operandApp
	operandGroupID
	operandGroupType
)

// operand is a string-valued rule input or a string constant.
type operand struct {
	kind operandKind
	c    string
}

func (o operand) value(r *Request, member string) string {
	switch o.kind {
	case operandOperator:
		return r.Operator
	case operandMember:
		return member
	case operandPlatform:
		return r.Platform
	case operandClientIP:
		return r.ClientIP
	case operandApp:
		return r.App
	case operandGroupID:
		return r.GroupID
	case operandGroupType:
		return r.GroupType
	}
	return o.c
}

// node is one predicate of a compiled rule.
type node struct {
	op       nodeOp
	id       int  // slot in evaluation.state
	dep      bool // depends on member
	val      bool // opConst
	kids     []*node
	lhs, rhs operand    // opEq, opNe; lhs of opIn
	set      *stringSet // opIn
	memo     int        // opIn on member and a hashed set: slot in evaluation.memo, else -1
	prog     cel.Program
	guarded  bool // prog loops (a comprehension): interrupted at the deadline
}

// native evaluates an equality, string or membership predicate; it never
// fails.
func (n *node) native(r *Request, member string) tri {
	switch n.op {
	case opEq:
		return triOf(n.lhs.value(r, member) == n.rhs.value(r, member))
	case opNe:
		return triOf(n.lhs.value(r, member) != n.rhs.value(r, member))
	case opPrefix:
		return triOf(strings.HasPrefix(n.lhs.value(r, member), n.rhs.value(r, member)))
	case opSuffix:
		return triOf(strings.HasSuffix(n.lhs.value(r, member), n.rhs.value(r, member)))
	case opContains:
		return triOf(strings.Contains(n.lhs.value(r, member), n.rhs.value(r, member)))
	}
	return triOf(n.set.has(n.lhs.value(r, member)))
}

// stringOperand recognises the string inputs a native predicate can read.
// Identifiers reached from a rule's root through !, &&, ||, == and in are
// never bound by a comprehension, so they are rule variables.
func stringOperand(e celast.Expr) (operand, bool) {
	if s, ok := stringLiteral(e); ok {
		return operand{kind: operandConst, c: s}, true
	}
	if e.Kind() == celast.IdentKind {
		switch e.AsIdent() {
		case VarOperator:
			return operand{kind: operandOperator}, true
		case VarMember:
			return operand{kind: operandMember}, true
		case VarPlatform:
			return operand{kind: operandPlatform}, true
		case VarClientIP:
			return operand{kind: operandClientIP}, true
		case VarApp:
			return operand{kind: operandApp}, true
		}
	}
	switch field, _ := varKey(e, VarGroup, nil); field {
	case "id":
		return operand{kind: operandGroupID}, true
	case "type":
		return operand{kind: operandGroupType}, true
	}
	return operand{}, false
}
