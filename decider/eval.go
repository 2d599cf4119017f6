package decider

import (
	"github.com/google/cel-go/common/types"
)

// tri is the value of a node for one request: false, true, an evaluation
// error, or (request phase only) "depends on member".
type tri uint8

const (
	tFalse tri = iota
	tTrue
	tErr
	tDep
)

func triOf(b bool) tri {
	if b {
		return tTrue
	}
	return tFalse
}

func (t tri) not() tri {
	switch t {
	case tFalse:
		return tTrue
	case tTrue:
		return tFalse
	}
	return t
}

// combine folds kid values with CEL's commutative rules: for && a false
// kid wins over errors (for || a true one does), then an error, then the
// identity. In the request phase a member-dependent kid leaves the result
// open unless an absorbing value decides it.
func combine(absorb, acc, t tri) tri {
	switch {
	case acc == absorb || t == absorb:
		return absorb
	case acc == tDep || t == tDep:
		return tDep
	case acc == tErr || t == tErr:
		return tErr
	}
	return acc
}

// reqEval evaluates n for the request, storing every visited node's value
// in ev.state for memberEval.
func (ev *evaluation) reqEval(n *node) tri {
	var t tri
	switch n.op {
	case opConst:
		t = triOf(n.val)
	case opNot:
		t = ev.reqEval(n.kids[0]).not()
	case opAnd, opOr:
		absorb := tFalse
		if n.op == opOr {
			absorb = tTrue
		}
		t = absorb.not()
		for _, k := range n.kids {
			if t = combine(absorb, t, ev.reqEval(k)); t == absorb {
				break // the node is decided; memberEval never visits its kids
			}
		}
	case opCEL:
		t = tDep
		if !n.dep {
			t = ev.runCEL(n)
		}
	default:
		t = tDep
		if !n.dep {
			t = n.native(ev.req, "")
		}
	}
	ev.state[n.id] = t
	return t
}

// memberEval evaluates n for member i of the request after reqEval(root).
func (ev *evaluation) memberEval(n *node, i int) tri {
	if t := ev.state[n.id]; t != tDep {
		return t
	}
	switch n.op {
	case opNot:
		return ev.memberEval(n.kids[0], i).not()
	case opAnd, opOr:
		absorb := tFalse
		if n.op == opOr {
			absorb = tTrue
		}
		t := absorb.not()
		for _, k := range n.kids {
			if t = combine(absorb, t, ev.memberEval(k, i)); t == absorb {
				return t
			}
		}
		return t
	case opCEL:
		ev.act.setMember(ev.req.Members[i])
		return ev.runCEL(n)
	}
	if n.memo < 0 {
		return n.native(ev.req, ev.req.Members[i])
	}
	slot := &ev.memo[i*ev.memos+n.memo]
	if *slot == 0 {
		*slot = n.native(ev.req, ev.req.Members[i]) + 1
	}
	return *slot - 1
}

func (ev *evaluation) runCEL(n *node) tri {
	if !n.guarded {
		out, _, err := n.prog.Eval(&ev.act)
		return celTri(out, err)
	}
	if ev.expired() {
		return tErr
	}
	out, _, err := n.prog.ContextEval(ev.context(), &ev.act)
	if err != nil {
		ev.boundErr(err)
	}
	return celTri(out, err)
}

func celTri(out any, err error) tri {
	if err != nil {
		return tErr
	}
	b, ok := out.(types.Bool)
	if !ok {
		return tErr
	}
	return triOf(bool(b))
}
